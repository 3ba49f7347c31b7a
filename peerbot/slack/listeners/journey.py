"""A person's own undo buttons: withdraw a request (receipt DM, App Home), resume check-ins
(after "Stop check-ins", a snooze or a pause), and end a helper pause (**Resume now**).

Each refreshes the person's App Home afterwards, so that the screen they clicked on is true.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from peerbot.services.journey import Change
from peerbot.slack import codec, ids
from peerbot.slack.deps import Deps
from peerbot.slack.listeners.common import actor, answer_click, tell
from peerbot.slack.listeners.events import publish_home

log = logging.getLogger(__name__)

WITHDRAWN_TEXT = (
    "Withdrawn: nobody else will be asked, and any peer who had it waiting has been told. "
    "You can ask again any time with `/peerhelp`."
)
WITHDRAW_REPLIES = {
    Change.ALREADY: "This request is already withdrawn; there is nothing more to do.",
    Change.NOT_YOURS: "Only the person who asked can withdraw a request.",
    Change.NOT_OPEN: "This request is no longer waiting for a peer (a peer accepted it, or it "
    "ended), so it cannot be withdrawn. To end a pairing, use Close this pairing.",
    Change.NOT_FOUND: "We could not find this request any more; your current requests are in "
    "peerbot's Home tab.",
}
RESUMED_TEXT = "Check-ins are back on: the next one comes at your usual time."
RESUME_REPLIES = {
    Change.ALREADY: "Check-ins are already running for this pairing; nothing to do.",
    Change.NOT_YOURS: "Only the person who asked for help can change this pairing's check-ins.",
    Change.NOT_OPEN: "This pairing is closed, so it has no check-ins. To ask for help again, "
    "type `/peerhelp`.",
    Change.NOT_FOUND: "We could not find this pairing any more; your pairs are in peerbot's "
    "Home tab.",
}
HELPING_AGAIN_TEXT = "Your pause is over: you may be asked to help again from now on."
NOT_PAUSED_TEXT = "You are not paused, so there is nothing to resume."


def _say(respond: Respond | None, client: WebClient, context: BoltContext, text: str) -> None:
    """A private reply: where the click happened (a message), or, for a click in App Home
    (no ``response_url``, no channel), in the person's DM with peerbot, seen only by them."""
    if (respond is not None and getattr(respond, "response_url", None)) or context.channel_id:
        tell(respond, client, context, text)
        return
    user = str(context.user_id)
    try:
        dm = client.conversations_open(users=user)["channel"]["id"]
        client.chat_postEphemeral(channel=dm, user=user, text=text)
    except (SlackApiError, SlackRequestError, OSError) as exc:
        log.warning("could not reply privately to %s: %s", user, str(exc)[:200])


def _refresh_home(client: WebClient, deps: Deps, team_id: str, user_id: str) -> None:
    """Publish the person's App Home again (best effort: the change is saved either way)."""
    try:
        publish_home(client, deps, team_id, user_id)
    except Exception as exc:  # a failed refresh must not hide that the change was made
        log.warning("App Home of %s not refreshed: %s", user_id, str(exc)[:200])


def withdraw(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """Withdraw request (the receipt DM, App Home; Slack asked for confirmation first)."""
    ack()
    service = deps.journey.withdraw if deps.journey else None
    replies = {Change.OK: WITHDRAWN_TEXT, **WITHDRAW_REPLIES}
    result = answer_click(codec.ASK, action, context, respond, client, service, replies, say=_say)
    if result is not None:
        who = actor(context)
        _refresh_home(client, deps, who.team_id, who.user_id)


def resume_checkins(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """Resume check-ins: undoes "Stop check-ins", a snooze, or a pause after no answers."""
    ack()
    service = deps.journey.resume_checkins if deps.journey else None
    replies = {Change.OK: RESUMED_TEXT, **RESUME_REPLIES}
    result = answer_click(codec.PAIR, action, context, respond, client, service, replies, say=_say)
    if result is not None:
        who = actor(context)
        _refresh_home(client, deps, who.team_id, who.user_id)


def resume_helping(
    ack: Ack, context: BoltContext, respond: Respond | None, client: WebClient, deps: Deps
) -> None:
    """Resume now: the helper's pause ends at once, whether they chose it or it followed three
    unanswered offers (the pause DM is then updated)."""
    ack()
    who = actor(context)
    resumed = deps.asks.resume(who.team_id, who.user_id)
    _say(respond, client, context, HELPING_AGAIN_TEXT if resumed else NOT_PAUSED_TEXT)
    _refresh_home(client, deps, who.team_id, who.user_id)


def register(app: App) -> None:
    """Register withdraw, resume check-ins and resume helping."""
    app.action(ids.ASK_WITHDRAW)(withdraw)
    app.action(ids.PAIR_RESUME_CHECKINS)(resume_checkins)
    app.action(ids.HELPER_RESUME_NOW)(resume_helping)
