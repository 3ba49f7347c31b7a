"""The start-up build path of one workspace, step by step, without the server or the model.

Runs what a worker's background warm-up runs when it has no index snapshot (the read of the
columns, the index build, the topics, the semantic_profile centroids, the helpers' facts and
the offer ledger, one warm-up ranking) against a database seeded by ``benchmarks/scale.py``,
and prints the wall and CPU seconds of each step and the peak RSS::

    PYTHONPATH=. python benchmarks/cold_steps.py --db-file /path/to/seeded.sqlite
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select

from peerbot.matching import Ask as MatchAsk
from peerbot.matching import RulesThenHybrid, Snapshot, profiles
from peerbot.services import ranking
from peerbot.services.matching import HelperFactsCache
from peerbot.services.ranking import HelperIndexes
from peerbot.store.db import create_engine_for, read_only, session_factory
from peerbot.store.models import HelperProfile


def main(argv: list[str] | None = None) -> int:
    """Time each step of the start-up build (see the module)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db-file", help="the SQLite file (or --url)")
    p.add_argument("--url", help="a database URL")
    p.add_argument("--model", default=None, help="the model name the vectors were stored with")
    p.add_argument(
        "--provisional",
        action="store_true",
        help="time the provisional index (profiles alone) and the facts only: what the first "
        "ask of a worker that must build waits for",
    )
    args = p.parse_args(argv)
    from peerbot.embeddings.sentence import resolve_model_path

    model = args.model or resolve_model_path(os.environ.get("EMBEDDING_MODEL_PATH"))[1]
    url = args.url or f"sqlite:///{args.db_file}"
    engine = create_engine_for(url)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    steps: list[tuple[str, float, float]] = []
    with read_only(sessions) as session:
        team = session.scalars(select(HelperProfile.team_id).distinct()).first()
        assert team is not None
        indexes = HelperIndexes(model, 384, None)
        facts = HelperFactsCache()

        def step(name: str, fn: object) -> object:
            t, c = time.monotonic(), time.process_time()
            out = fn()  # type: ignore[operator]
            steps.append((name, time.monotonic() - t, time.process_time() - c))
            print(f"{name:<12} {steps[-1][1]:6.1f} s wall {steps[-1][2]:6.1f} s CPU", flush=True)
            return out

        if args.provisional:
            ranking.PROVISIONAL_ABOVE = 0
            step("provisional", lambda: indexes.start(session, team, now))
        index = step("index", lambda: indexes.refresh(session, team, now))
        step("centroids", lambda: profiles.warm(index))  # type: ignore[arg-type]
        helpers, managers, elig = step(  # type: ignore[misc]
            "facts", lambda: facts.helpers(session, team, now, None)
        )
        query = MatchAsk(text="", vector=np.zeros(384, np.float32), now=now)
        step(
            "ranking",
            lambda: RulesThenHybrid().rank(index, Snapshot(query, helpers, managers, elig))[0],  # type: ignore[arg-type]
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, cpu = sum(s[1] for s in steps), sum(s[2] for s in steps)
    print(f"total        {wall:6.1f} s wall {cpu:6.1f} s CPU; peak RSS {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
