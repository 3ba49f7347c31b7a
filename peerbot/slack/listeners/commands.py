"""Slash command listeners: `/peerhelp [text]` and `/peerhelp helper`."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from peerbot.slack import blocks, ids
from peerbot.slack.deps import Deps
from peerbot.slack.listeners import circles
from peerbot.slack.listeners.asks import too_many_text
from peerbot.slack.listeners.common import actor
from peerbot.slack.privacy_blocks import privacy_blocks, privacy_text
from peerbot.slack.profile_blocks import build_profile_modal

COMMANDS: tuple[str, ...] = (ids.COMMAND,)

HELP_TEXT = (
    "*/peerhelp* — ask an experienced peer manager for help (you can type your challenge "
    "right after the command).\n*/peerhelp helper* — sign up or edit your helper profile.\n"
    "*/peerhelp privacy* — what peerbot stores about you; download or delete it.\n"
    "*/peerhelp circle* — join a peer circle (a small group working on similar things), see "
    "your place in the pool, or leave."
)


def peerhelp(
    ack: Ack, command: dict[str, Any], context: BoltContext, client: WebClient, deps: Deps
) -> None:
    """`/peerhelp` opens the intake (pre-filled with any text), or says at once that the
    person already has as many asks waiting as allowed; `helper` opens the profile."""
    text = (command.get("text") or "").strip()
    word = text.lower()
    if word in ("help", "?"):
        ack(response_type="ephemeral", text=HELP_TEXT)
        return
    if word in ("circle", "circles"):
        circles.circle_command(ack, command, context, client, deps)
        return
    if word in ("privacy", "data", "my data"):
        days = deps.settings.retention_days
        ack(response_type="ephemeral", text=privacy_text(days), blocks=privacy_blocks(days))
        return
    if word not in ("helper", "profile", "help others"):
        who = actor(context)
        full = deps.asks.cap_reached(who.team_id, who.user_id)
        if full is not None:  # say so now, before they type it all
            ack(response_type="ephemeral", text=too_many_text(full, mrkdwn=True))
            return
    ack()
    if word in ("helper", "profile", "help others"):
        who = actor(context)
        profile = deps.helpers.profile(who.team_id, who.user_id)
        client.views_open(trigger_id=command["trigger_id"], view=build_profile_modal(profile))
        return
    client.views_open(
        trigger_id=command["trigger_id"],
        view=blocks.build_intake_modal(initial_challenge=text),
    )


def home_ask(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    """App Home's "Ask for help": the intake modal."""
    ack()
    client.views_open(trigger_id=body["trigger_id"], view=blocks.build_intake_modal())


def home_profile(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient, deps: Deps
) -> None:
    """App Home's profile button: the helper profile modal."""
    ack()
    who = actor(context)
    profile = deps.helpers.profile(who.team_id, who.user_id)
    client.views_open(trigger_id=body["trigger_id"], view=build_profile_modal(profile))


def register(app: App) -> None:
    """Register `/peerhelp` and the App Home buttons that open the same dialogs."""
    app.command(ids.COMMAND)(peerhelp)
    app.action(ids.HOME_ASK)(home_ask)
    app.action(ids.HOME_EDIT_PROFILE)(home_profile)
