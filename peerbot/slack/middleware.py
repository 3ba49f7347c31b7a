"""Cross-cutting Bolt middleware."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, BoltResponse

from peerbot.services.dedupe import Deduper
from peerbot.services.errors import is_outage
from peerbot.slack.deps import DEPS_KEY, Deps

log = logging.getLogger(__name__)


def skip_redelivered_events(deduper: Deduper) -> Callable[..., Any]:
    """Middleware: an Events API callback whose ``event_id`` was handled before is acknowledged
    and dropped (Slack redelivers with ``X-Slack-Retry-Num`` when an answer was slow or lost)."""

    def middleware(body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse | None:
        if body.get("type") == "event_callback" and body.get("event_id"):
            team = str(body.get("team_id") or "")
            try:
                first = deduper.first_time(team, "event", str(body["event_id"]))
            except Exception as e:
                if not is_outage(e):
                    raise
                # Cannot tell; let the listener run (and ride the outage out itself).
                log.warning(
                    "event %s not checked for redelivery: database unavailable", body["event_id"]
                )
                first = True
            if not first:
                log.info("dropping redelivered event %s", body["event_id"])
                return BoltResponse(status=200, body="")
        return next()

    return middleware


def provide_deps(deps: Deps) -> Callable[..., Any]:
    """Middleware: put the listeners' typed dependencies into Bolt's ``context``, so a listener
    declares ``deps: Deps`` as it declares ``ack`` or ``respond`` (Bolt injects context keys by
    argument name)."""

    def middleware(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:
        context[DEPS_KEY] = deps
        return next()

    return middleware
