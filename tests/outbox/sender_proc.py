"""A sending process for the crash test.

``python -m tests.outbox.sender_proc DB_URL API_URL TOKEN [options]``

It builds the production :class:`~peerbot.services.outbox.OutboxSender` (``build_sender``) on
the production :class:`~peerbot.slack.gateway.SlackGateway` and drains the outbox until nothing is
pending, then prints a JSON summary and exits 0. Test-only hooks, read here and never in
``peerbot/``:

``--offset-seconds S``
    the process's clock runs S seconds ahead of real time (a restart "after" the claims of a
    killed process expired, without waiting for them);
``--claim-seconds C``
    how long a claim holds;
``--window-ms M``
    sleep M ms between Slack's answer to a chat.postMessage and the commit that records it,
    so that a kill is likely to land inside that window;
``--hold-after N --hold-file PATH``
    after the N-th successful chat.postMessage, create PATH and block forever, inside the
    window (the test kills the process there: a post Slack has, that the database does not).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk import WebClient

from peerbot.app import build_sender
from peerbot.slack.gateway import SlackGateway
from peerbot.store.db import create_engine_for, session_factory


class OffsetClock:
    """Real time plus a fixed offset."""

    def __init__(self, offset: timedelta) -> None:
        self._offset = offset

    def now(self) -> datetime:
        """Now, shifted."""
        return datetime.now(UTC) + self._offset


class WindowedGateway:
    """The real gateway, with a pause (or a hold) after each successful post."""

    def __init__(
        self, inner: SlackGateway, window_s: float, hold_after: int, hold_file: Path | None
    ) -> None:
        self._inner = inner
        self._window = window_s
        self._hold_after = hold_after
        self._hold_file = hold_file
        self.posts = 0

    def call(self, team_id: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """Call Slack; after a post, wait in the window between its answer and the commit."""
        answer = self._inner.call(team_id, method, args)
        if method == "chat.postMessage":
            self.posts += 1
            if self._hold_after and self.posts == self._hold_after and self._hold_file:
                self._hold_file.write_text(json.dumps({"text": args.get("text")}))
                threading.Event().wait()  # held here until SIGKILL
            if self._window:
                time.sleep(self._window)
        return answer


def main(argv: list[str] | None = None) -> int:
    """Drain the outbox; print ``{"sent", "recovered", "dead", "posts"}``."""
    p = argparse.ArgumentParser()
    p.add_argument("db_url")
    p.add_argument("api_url")
    p.add_argument("token")
    p.add_argument("--offset-seconds", type=float, default=0.0)
    p.add_argument("--claim-seconds", type=float, default=60.0)
    p.add_argument("--window-ms", type=float, default=0.0)
    p.add_argument("--hold-after", type=int, default=0)
    p.add_argument("--hold-file", type=Path)
    args = p.parse_args(argv)

    engine = create_engine_for(args.db_url)
    client = WebClient(token=args.token, base_url=args.api_url, timeout=15)
    gateway = WindowedGateway(
        SlackGateway(lambda _team: client), args.window_ms / 1000, args.hold_after, args.hold_file
    )
    sender = build_sender(
        session_factory(engine),
        gateway,
        OffsetClock(timedelta(seconds=args.offset_seconds)),
        claim_for=timedelta(seconds=args.claim_seconds),
    )
    sent = recovered = dead = 0
    while True:
        report = sender.drain()
        sent, recovered, dead = sent + report.sent, recovered + report.recovered, dead + report.dead
        if report.handled == 0:
            break
    print(json.dumps({"sent": sent, "recovered": recovered, "dead": dead, "posts": gateway.posts}))
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
