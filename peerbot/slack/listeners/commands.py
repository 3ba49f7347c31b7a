"""Slash command listeners: `/peerhelp [text]` and `/peerhelp helper`."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from peerbot.services.helpers import HelperService
from peerbot.slack import blocks, ids
from peerbot.slack.deps import Deps
from peerbot.slack.parse import team_of, user_of
from peerbot.slack.profile_blocks import build_profile_modal

COMMANDS: tuple[str, ...] = (ids.COMMAND,)

HELP_TEXT = (
    "*/peerhelp* — ask an experienced peer manager for help (you can type your challenge "
    "right after the command).\n*/peerhelp helper* — sign up or edit your helper profile."
)


def register(app: App, deps: Deps) -> None:
    """Register `/peerhelp` and the App Home buttons that open the same dialogs."""
    helpers: HelperService = deps.services["helpers"]

    @app.command(ids.COMMAND)
    def peerhelp(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        text = (command.get("text") or "").strip()
        word = text.lower()
        if word in ("help", "?"):
            ack(response_type="ephemeral", text=HELP_TEXT)
            return
        ack()
        if word in ("helper", "profile", "help others"):
            profile = helpers.profile(team_of(command), user_of(command))
            client.views_open(trigger_id=command["trigger_id"], view=build_profile_modal(profile))
            return
        client.views_open(
            trigger_id=command["trigger_id"],
            view=blocks.build_intake_modal(initial_challenge=text),
        )

    @app.action(ids.HOME_ASK)
    def home_ask(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=blocks.build_intake_modal())

    @app.action(ids.HOME_EDIT_PROFILE)
    def home_profile(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        profile = helpers.profile(team_of(body), user_of(body))
        client.views_open(trigger_id=body["trigger_id"], view=build_profile_modal(profile))
