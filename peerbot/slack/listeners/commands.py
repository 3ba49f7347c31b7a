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
from peerbot.slack.text import escape_mrkdwn, truncate

COMMANDS: tuple[str, ...] = (ids.COMMAND,)

HELP_TEXT = (
    "*/peerhelp* — ask an experienced peer manager for help; you can describe your challenge "
    "right after the command (`/peerhelp my new lead and I disagree on …`).\n"
    "*/peerhelp helper* — become a helper, or edit your helper profile (expertise, how many "
    "at once, a pause).\n"
    "*/peerhelp privacy* — what peerbot keeps about you; download or delete it.\n"
    "*/peerhelp circle* — join a peer circle (a small group working on similar things), see "
    "your place in the pool, or leave.\n"
    "*/peerhelp help* — this list.\n"
    "Your requests, pairs and helper profile are in peerbot's *Home* tab: withdraw a request, "
    "resume check-ins, or end a pause there."
)

#: The words after `/peerhelp` that are sub-commands (anything else of one word is unknown).
SUBCOMMANDS = (
    "help",
    "?",
    "privacy",
    "data",
    "my data",
    "helper",
    "profile",
    "help others",
    "circle",
    "circles",
)


def unknown_text(word: str) -> str:
    """The answer to `/peerhelp WORD` when WORD is no sub-command: what peerbot understood,
    what to do instead, and the usage."""
    shown = escape_mrkdwn(truncate(word, 40))
    return (
        f"`{shown}` is not a `/peerhelp` command. To ask for help about it, describe the "
        "situation in a few words after `/peerhelp`, or type `/peerhelp` alone.\n\n" + HELP_TEXT
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
    if text and len(text.split()) == 1 and word not in SUBCOMMANDS:
        # One unknown word is a mistyped command far more often than a whole question.
        ack(response_type="ephemeral", text=unknown_text(text))
        return
    if word in ("privacy", "data", "my data"):
        days = deps.settings.retention_days
        if deps.privacy is not None:  # the workspace's own period (programme settings)
            days = deps.privacy.retention_days_for(actor(context).team_id)
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
        trigger_id=command["trigger_id"], view=intake(deps, actor(context).team_id, text)
    )


def intake(deps: Deps, team_id: str, initial: str = "") -> dict[str, Any]:
    """The intake dialog, saying truly who will see the request under this workspace's offer
    policy (its programme settings over the environment's)."""
    policy = deps.asks.offer_policy(team_id)
    return blocks.build_intake_modal(
        initial_challenge=initial,
        max_offers=policy.max_offers,
        at_once=policy.parallel,
        urgent_at_once=max(policy.parallel, policy.urgent_parallel),
    )


def home_ask(
    ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient, deps: Deps
) -> None:
    """App Home's "Ask for help": the intake modal."""
    ack()
    client.views_open(trigger_id=body["trigger_id"], view=intake(deps, actor(context).team_id))


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
