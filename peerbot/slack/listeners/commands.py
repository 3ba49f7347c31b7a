"""Slash command listeners: `/peerhelp`."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from peerbot.slack import blocks, ids
from peerbot.slack.deps import Deps

COMMANDS: tuple[str, ...] = (ids.COMMAND,)

log = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    """Register `/peerhelp`."""

    @app.command(ids.COMMAND)
    def peerhelp(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        ack()
        text = (command.get("text") or "").strip()
        client.views_open(
            trigger_id=command["trigger_id"],
            view=blocks.build_intake_modal(initial_challenge=text),
        )
