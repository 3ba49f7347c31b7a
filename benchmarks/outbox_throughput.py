"""Outbox throughput under Slack-like rate limits: 10,000 due check-in DMs through the emulator.

Run: .venv/bin/python benchmarks/outbox_throughput.py [--n 10000] [--scale 100] [--db URL]

Each check-in is a ``chat.postMessage`` to one person (``{"user": U}``), posted with the user id
as channel, so the sender makes one call per message (``conversations.open`` is needed only for
group DMs and for the history check after a crash). Slack's limits per workspace, per method:

* ``conversations.open``: Tier 3, 50+ calls a minute;
* ``chat.postMessage``: "special": about 1 message a second per channel, and "several hundred"
  a minute per workspace (taken here as 300).

The emulator enforces per-method limits in a sliding 60-second window (a call beyond the limit
gets HTTP 429 with ``Retry-After``); it has no per-channel limit, and each person here gets one
message, so Slack's 1-a-second-per-channel rule would not bind anyway. At Slack's real numbers
10,000 posts take over half an hour, so every limit is multiplied by ``--scale`` (default 20:
1,000 opens and 6,000 posts a minute), and the output says so.

The lower bound: with at most L calls in any 60 s window, call k can come no sooner than 60 s
after call k-L, so N calls need at least floor((N-1)/L) minutes; the bound is the largest over
the methods. The sender runs as in production: one :class:`OutboxWorker` thread on the real
clock, pausing the workspace for ``Retry-After`` after a 429 instead of polling. The emulator
runs in a separate process (its own core), the database is SQLite in a temp directory unless
``--db`` names another (migrated to head here). At the end every message is checked to have
been posted exactly once.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from peerbot.app import build_sender
from peerbot.clock import SystemClock
from peerbot.demo_data import seed_due_checkins
from peerbot.sandbox import SlackEmulator
from peerbot.scheduling.worker import OutboxWorker
from peerbot.slack.gateway import SlackGateway
from peerbot.store.db import create_engine_for, session_factory
from peerbot.store.migrate import upgrade
from peerbot.store.models import OutboxMessage, OutboxStatus

#: Slack's per-workspace limits (calls a minute) for the methods a check-in DM makes.
SLACK_LIMITS = {"conversations.open": 50, "chat.postMessage": 300}


def _emulator_process(conn: Connection, limits: dict[str, int], users: int) -> None:
    """Serve the emulator; answer "stats" with what Slack received, "stop" to end."""
    emu = SlackEmulator().start()
    ids = [emu.add_user(f"manager{i}") for i in range(users)]
    for method, per_minute in limits.items():
        emu.set_rate_limit(method, per_minute)
    conn.send({"api_url": emu.api_url, "token": emu.bot_token, "team": emu.team_id, "ids": ids})
    while True:
        cmd = conn.recv()
        if cmd == "stats":
            calls = emu.calls
            conn.send(
                {
                    "by_method": Counter(c.method for c in calls if c.ok),
                    "refused": Counter(c.method for c in calls if c.status == 429),
                    "texts": Counter(
                        str(c.args.get("text"))
                        for c in calls
                        if c.method == "chat.postMessage" and c.ok
                    ),
                }
            )
        elif cmd == "stop":
            emu.stop()
            conn.send("stopped")
            return


def lower_bound_seconds(calls: dict[str, int], limits: dict[str, int]) -> tuple[float, str]:
    """The least time ``calls`` can take under sliding-minute ``limits``, and the binding method."""
    best, which = 0.0, ""
    for method, n in calls.items():
        bound = 60.0 * math.floor((n - 1) / limits[method]) if n > 0 else 0.0
        if bound >= best:
            best, which = bound, method
    return best, which


def main() -> None:
    """Seed, start the emulator, send everything, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="due check-ins (default 10000)")
    parser.add_argument("--scale", type=float, default=20.0, help="limit multiplier (20)")
    parser.add_argument("--db", help="database URL (default: SQLite in a temp directory)")
    args = parser.parse_args()

    limits = {m: max(1, round(v * args.scale)) for m, v in SLACK_LIMITS.items()}
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='peerbot-bench-')) / 'bench.db'}"
    upgrade(url)
    engine = create_engine_for(url)
    sessions = session_factory(engine)

    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(
        target=_emulator_process, args=(child, limits, args.n), daemon=True
    )
    proc.start()
    info: dict[str, Any] = parent.recv()

    seed_due_checkins(
        sessions,
        info["team"],
        info["ids"][: args.n],
        args.n,
        datetime.now(UTC),
        challenge=lambda n: f"Check-in {n}: how is it going?",
        key=lambda n: f"bench:checkin:{n}",
    )

    client = WebClient(token=info["token"], base_url=info["api_url"], timeout=15)
    sender = build_sender(sessions, SlackGateway(lambda _team: client), SystemClock())
    worker = OutboxWorker(sender, idle_seconds=1.0)

    def left() -> int:
        with Session(engine) as s:
            return int(
                s.scalar(select(func.count()).where(OutboxMessage.status != OutboxStatus.SENT)) or 0
            )

    t0 = time.perf_counter()
    worker.start()
    worker.kick()
    while left():
        time.sleep(0.25)  # the benchmark's own progress check; the sender never sleeps to poll
    elapsed = time.perf_counter() - t0
    worker.stop()

    parent.send("stats")
    stats: dict[str, Any] = parent.recv()
    parent.send("stop")
    parent.recv()
    proc.join(timeout=10)
    engine.dispose()

    calls = {m: int(stats["by_method"].get(m, 0)) for m in limits}
    bound, binding = lower_bound_seconds(calls, limits)
    once = all(v == 1 for v in stats["texts"].values()) and len(stats["texts"]) == args.n

    backend = engine.url.get_backend_name()
    print(f"outbox throughput: {args.n:,} due check-in DMs, database {backend}")
    print(f"limits: Slack's per-workspace limits x{args.scale:g} (sliding 60 s window):")
    for m in limits:
        print(
            f"  {m:<20} {SLACK_LIMITS[m]:>4}/min x{args.scale:g} = {limits[m]:>6,}/min; "
            f"{calls[m]:,} calls made, {int(stats['refused'].get(m, 0))} answered 429"
        )
    print(f"elapsed:      {elapsed:7.1f} s  ({args.n / elapsed:,.0f} messages/s)")
    print(f"lower bound:  {bound:7.1f} s  (set by {binding}; floor((N-1)/L) minutes)")
    print(f"ratio:        {elapsed / bound if bound else float('inf'):7.2f} x the bound")
    unscaled, _ = lower_bound_seconds(calls, SLACK_LIMITS)
    print(f"at Slack's real limits the bound would be {unscaled / 3600:.1f} h")
    print(f"every message posted exactly once: {'yes' if once else 'NO'}")
    if not once:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
