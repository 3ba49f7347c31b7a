"""Your data: `/peerhelp privacy` and App Home's Download my data / Delete my data."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from peerbot.slack import ids
from peerbot.slack.deps import Deps
from peerbot.slack.listeners.common import actor
from peerbot.slack.privacy_blocks import build_delete_modal, build_deleted_modal

SENT_TEXT = "Your data is on its way to your DM with peerbot."
NOTHING_TEXT = "peerbot holds nothing about you."


def download(
    ack: Ack, context: BoltContext, respond: Respond | None, client: WebClient, deps: Deps
) -> None:
    """Download my data: the export goes to the person's DM (built when it is sent)."""
    ack()
    who = actor(context)
    sent = deps.privacy is not None and deps.privacy.send_export(who.team_id, who.user_id)
    text = SENT_TEXT if sent else NOTHING_TEXT
    if respond is not None:
        respond(text=text, response_type="ephemeral", replace_original=False)
    else:
        client.chat_postEphemeral(channel=who.user_id, user=who.user_id, text=text)


def delete_open(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    """Delete my data: the confirmation dialog first."""
    ack()
    client.views_open(trigger_id=body["trigger_id"], view=build_delete_modal())


def delete_confirmed(ack: Ack, context: BoltContext, deps: Deps) -> None:
    """Delete confirmed: forget the person, then say it is done in the same dialog."""
    who = actor(context)
    if deps.privacy is None:
        ack()
        return
    report = deps.privacy.forget(who.team_id, who.user_id)
    kept = ", ".join(f"{v} {k}" for k, v in report.kept.items() if v)
    summary = f"Kept without your name, as counts only: {kept}." if kept else ""
    ack(response_action="update", view=build_deleted_modal(summary))


def invite_yes(ack: Ack, context: BoltContext, deps: Deps) -> None:
    """Yes, I'll help: opted in, the invitation updated."""
    ack()
    who = actor(context)
    deps.helpers.answer_invite(who.team_id, who.user_id, yes=True)


def invite_no(ack: Ack, context: BoltContext, deps: Deps) -> None:
    """Not now: not a helper, never asked; the invitation updated."""
    ack()
    who = actor(context)
    deps.helpers.answer_invite(who.team_id, who.user_id, yes=False)


def register_invites(app: App) -> None:
    """Register the answers to a helper invitation."""
    app.action(ids.HELPER_INVITE_YES)(invite_yes)
    app.action(ids.HELPER_INVITE_NO)(invite_no)


def register(app: App) -> None:
    """Register the privacy buttons, the deletion dialog and helper invitations."""
    app.action(ids.PRIVACY_DOWNLOAD)(download)
    app.action(ids.PRIVACY_DELETE)(delete_open)
    app.view(ids.PRIVACY_DELETE_CALLBACK)(delete_confirmed)
    register_invites(app)
