"""The helpers' facts of one workspace: full load, reload after one accept, the offer ledger.

Against an existing, migrated database file (e.g. a copy of a 100,000-helper SQLite seed; the
file is WRITTEN to: one pair is added, as an accepted offer adds one), prints:

* ``ledger_build_s``: :class:`~peerbot.services.offer_ledger.OfferLedger` built from nothing;
* ``base_load_s``: every helper's facts but the offer counts, loaded from nothing;
* ``full_load_s``: the first :meth:`~peerbot.services.matching.HelperFactsCache.helpers`
  call of a new cache (every helper's facts, the ledger included);
* ``accept_reload_s``: the next call after one new active pair (what the next ask waits for
  after an accept), with the statements and rows it read;
* ``uptime``: the load average beside the figures (the machine may be shared).

    PYTHONPATH=. python benchmarks/facts_reload.py --db-file /tmp/h100k.sqlite [--json]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procstats import print_result

from peerbot.services.matching import FAIRNESS_WINDOW, HelperFactsCache, _load_base
from peerbot.services.offer_ledger import OfferLedger
from peerbot.store.db import create_engine_for
from peerbot.store.models import HelperProfile


def _accept_one(engine: Any, team: str) -> None:
    """One new active pair, as accepting an offer makes (an ask with no running pair)."""
    with engine.begin() as conn:
        ask_id, asker_id = conn.execute(
            text(
                "SELECT a.id, a.asker_id FROM asks a WHERE a.team_id = :t AND NOT EXISTS "
                "(SELECT 1 FROM pairs p WHERE p.ask_id = a.id AND p.status IN "
                "('active', 'paused')) ORDER BY a.id DESC LIMIT 1"
            ),
            {"t": team},
        ).one()
        helper = conn.execute(
            text(
                "SELECT person_id FROM helper_profiles WHERE team_id = :t AND person_id <> :a "
                "ORDER BY person_id LIMIT 1"
            ),
            {"t": team, "a": asker_id},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO pairs (team_id, ask_id, helper_id, asker_id, status, cadence, "
                "missed_checkins, created_at) VALUES (:t, :ask, :h, :a, 'active', 'weekly', 0, "
                ":now)"
            ),
            {"t": team, "ask": ask_id, "h": helper, "a": asker_id, "now": datetime.now(UTC)},
        )


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-file", help="SQLite file (written to: one pair)")
    parser.add_argument("--db-url", help="a database URL instead of --db-file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not (args.db_file or args.db_url):
        parser.error("give --db-file or --db-url")
    engine = create_engine_for(args.db_url or f"sqlite:///{args.db_file}")
    now = datetime.now(UTC)
    with Session(engine) as s:
        team = s.scalars(select(HelperProfile.team_id).limit(1)).one()
    result: dict[str, Any] = {}
    with Session(engine) as s:
        t0 = time.perf_counter()
        OfferLedger(team, FAIRNESS_WINDOW).read(s, now)
        result["ledger_build_s"] = round(time.perf_counter() - t0, 2)
    with Session(engine) as s:
        t0 = time.perf_counter()
        _load_base(s, team, (0, now), now)  # the helpers' facts but the offers
        result["base_load_s"] = round(time.perf_counter() - t0, 2)
    cache = HelperFactsCache()
    with Session(engine) as s:
        t0 = time.perf_counter()
        helpers, _managers, _elig = cache.helpers(s, team, now, None)
        result["full_load_s"] = round(time.perf_counter() - t0, 2)
        result["helpers"] = len(helpers)
    _accept_one(engine, team)
    counts = {"statements": 0, "rows": 0}

    def _stmt(*_a: Any, **_k: Any) -> None:
        counts["statements"] += 1

    event.listen(engine, "before_cursor_execute", _stmt)
    with Session(engine) as s:
        t0 = time.perf_counter()
        cache.helpers(s, team, now, None)
        result["accept_reload_s"] = round(time.perf_counter() - t0, 3)
    event.remove(engine, "before_cursor_execute", _stmt)
    result["accept_reload_statements"] = counts["statements"]
    result["uptime"] = os.getloadavg()
    print_result(result, args.json)


if __name__ == "__main__":
    main()
