"""Acknowledgement latency of `/peerhelp`, a button click and the modal submission, measured
through the real HTTP stack (waitress + Bolt + signature check) against the Slack emulator.

Run: .venv/bin/python benchmarks/ack_latency.py [--n 200]
Prints median and p99 in milliseconds next to Slack's 3-second limit.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from peerbot.app import build_container, create_bolt_app
from peerbot.clock import FrozenClock
from peerbot.concurrency import CountingExecutor
from peerbot.config import Settings
from peerbot.demo_data import demo_helpers
from peerbot.domain.profiles import ProfileInput
from peerbot.sandbox import SlackDriver, SlackEmulator
from peerbot.store.db import unit_of_work
from peerbot.store.migrate import upgrade
from peerbot.web.server import HttpServer, PeerbotWSGI

SLACK_LIMIT_MS = 3000.0


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    r = fn()
    ms = (time.perf_counter() - t0) * 1000
    status = getattr(r, "status", 200)
    if status != 200:
        raise RuntimeError(f"app answered {status}: {r}")
    return ms


def _p99(xs: list[float]) -> float:
    return sorted(xs)[max(0, round(0.99 * len(xs)) - 1)]


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="requests of each kind (default 200)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="peerbot-bench-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    emu = SlackEmulator(trigger_ttl=None).start()
    settings = Settings(
        slack_bot_token=emu.bot_token,
        slack_signing_secret="bench",
        slack_api_url=emu.api_url,
        database_url=url,
    )
    container = build_container(settings, clock=FrozenClock(datetime(2026, 11, 23, 17, tzinfo=UTC)))
    container.worker.start()
    executor = CountingExecutor()
    bolt = create_bolt_app(container, http_mode=True, listener_executor=executor)
    server = HttpServer(PeerbotWSGI(bolt, container.engine, signing_secret="bench")).start()
    driver = SlackDriver(server.url + "/slack/events", "bench", emu)
    helper_ids = []
    for h in demo_helpers():
        uid = emu.add_user(h.name, tz=h.tz)
        helper_ids.append(uid)
        with unit_of_work(container.sessions) as s:
            container.helpers.save_in(
                s,
                emu.team_id,
                uid,
                ProfileInput(opted_in=True, expertise=h.expertise, capacity=10),
                container.clock.now(),
                container.gateway.user(emu.team_id, uid),
            )
    askers = [emu.add_user(f"asker{i}") for i in range(args.n)]
    command, click, submit = [], [], []
    challenge = "How do I give hard feedback to a senior engineer whose reviews hurt the team?"
    for i, asker in enumerate(askers):
        command.append(_time(lambda a=asker: driver.slash_command("/peerhelp", a, challenge)))
        while executor.in_flight:
            time.sleep(0.001)
        modal = emu.top_modal(asker)
        assert modal is not None
        submit.append(
            _time(
                lambda a=asker, m=modal, n=i: driver.view_submission(
                    a, m["id"], {("challenge", "challenge_input"): f"{challenge} ({n})"}
                )
            )
        )
        home = emu.home_view(asker)
        if home is None:
            driver.app_home_opened(asker)
            while executor.in_flight or emu.home_view(asker) is None:
                time.sleep(0.001)
            home = emu.home_view(asker)
        assert home is not None
        click.append(
            _time(
                lambda a=asker, v=home: driver.block_action(a, "home_ask_for_help", view_id=v["id"])
            )
        )
    while executor.in_flight:
        time.sleep(0.01)
    server.stop()
    executor.shutdown()
    container.close()
    emu.stop()
    print(f"ack latency over {args.n} requests each, real HTTP (waitress + Bolt), SQLite")
    print(f"{'request':<22}{'median ms':>12}{'p99 ms':>10}{'Slack limit ms':>16}")
    for name, xs in (
        ("/peerhelp command", command),
        ("button click", click),
        ("modal submission", submit),
    ):
        print(f"{name:<22}{statistics.median(xs):>12.1f}{_p99(xs):>10.1f}{SLACK_LIMIT_MS:>16.0f}")


if __name__ == "__main__":
    main()
