"""The intake modal's submission and the offer buttons."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from peerbot.domain.asks import clean_text, validate_ask
from peerbot.domain.wording import counted
from peerbot.services.asks import AcceptOutcome, TooManyOpen
from peerbot.services.errors import StoreUnavailable, is_outage
from peerbot.slack import blocks, codec, ids
from peerbot.slack.deps import Deps
from peerbot.slack.listeners.common import actor, decoded, tell
from peerbot.slack.parse import ASK_FIELD_BLOCKS, parse_intake, state_value
from peerbot.slack.text import escape_mrkdwn, truncate

log = logging.getLogger(__name__)

#: The intake's answer when the ask could not be saved: the dialog stays open with the text.
NOT_SAVED_TEXT = (
    "We could not save this just now — nothing is lost, press Submit again in a moment."
)

ACCEPT_REPLIES = {
    AcceptOutcome.TAKEN: "Thank you! Another peer accepted just before you, so this one is "
    "taken; there is nothing more for you to do.",
    AcceptOutcome.CLOSED: "This offer is no longer open (it closed without an answer in time, "
    "or you passed), so there is nothing to accept and nothing more for you to do.",
    AcceptOutcome.NOT_YOURS: "This request was offered to someone else, so only they can "
    "answer it.",
    AcceptOutcome.NOT_FOUND: "We could not find this request any more (it may have been "
    "deleted), so there is nothing to do.",
}
#: Accept on a request the asker withdrew: refused politely.
WITHDRAWN_REPLY = (
    "Thank you for being willing to help! The asker withdrew this request, so there is "
    "nothing to accept and nothing more for you to do."
)


def intake_submitted(ack: Ack, view: dict[str, Any], context: BoltContext, deps: Deps) -> None:
    """The intake modal: field errors at the field, else the ask is submitted."""
    inp = parse_intake(view)
    errors = validate_ask(inp)
    if errors:
        ack(
            response_action="errors",
            errors={ASK_FIELD_BLOCKS[f]: msg for f, msg in errors.items()},
        )
        return
    who = actor(context)
    challenge_block = ASK_FIELD_BLOCKS["challenge"]
    try:
        # Saved before the answer (a few short statements, no model: well within Slack's 3
        # seconds, also while the matching index is still being built): the dialog closes
        # only once the ask is safe.
        result = deps.asks.record(who.team_id, who.user_id, inp, client_key=view["id"])
    except StoreUnavailable as e:
        log.warning("intake from %s not saved, the dialog stays open: %s", who.user_id, e)
        ack(response_action="errors", errors={challenge_block: NOT_SAVED_TEXT})
        return
    if isinstance(result, TooManyOpen):
        ack(response_action="errors", errors={challenge_block: too_many_text(result)})
        return
    ack()
    # Offering happens after the answer. The ask is saved: if the database goes away now, the
    # tick takes it on later, and nobody is told "nothing was saved".
    try:
        deps.asks.match(result.ask_id)
    except Exception as e:
        if not is_outage(e):
            raise
        log.warning("ask %s saved; matching it waits for the database (the tick)", result.ask_id)


def too_many_text(full: TooManyOpen, *, mrkdwn: bool = False) -> str:
    """Why a new ask is refused, naming the asks that are waiting (plain text for a field
    error; ``mrkdwn`` escapes the asker's own words for a message)."""
    shown = []
    for a in full.open_asks[:5]:
        words = truncate(" ".join(a.challenge.split()), 50)
        shown.append(f"“{escape_mrkdwn(words) if mrkdwn else words}”")
    n = len(full.open_asks)
    return (
        f"You already have {counted(n, 'request')} waiting for a peer "
        f"(at most {full.limit} at a time): {', '.join(shown)}. "
        "You can ask again as soon as one of them is answered."
    )


def accept(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """Accept on an offer: pair (once); anyone who cannot is told why, privately."""
    ack()
    offer_id = decoded(codec.OFFER, action.get("value"), respond, client, context)
    if offer_id is None:
        return
    who = actor(context)
    outcome = deps.asks.accept(who.team_id, offer_id, who.user_id)
    reply = ACCEPT_REPLIES.get(outcome)
    if (
        outcome == AcceptOutcome.CLOSED
        and deps.journey is not None
        and deps.journey.offer_withdrawn(who.team_id, offer_id)
    ):
        reply = WITHDRAWN_REPLY
    if reply:
        tell(respond, client, context, reply)


def pass_clicked(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
) -> None:
    """Pass on an offer: open the dialog that asks (optionally) why."""
    ack()
    offer_id = decoded(codec.OFFER, action.get("value"), respond, client, context)
    if offer_id is None:
        return
    client.views_open(trigger_id=body["trigger_id"], view=blocks.build_pass_modal(offer_id))


def pass_submitted(
    ack: Ack, view: dict[str, Any], context: BoltContext, client: WebClient, deps: Deps
) -> None:
    """The pass dialog: record the reason and ask the next candidate."""
    ack()
    offer_id = decoded(
        codec.OFFER, view.get("private_metadata"), None, client, context, reply=False
    )
    if offer_id is None:
        return
    reason = clean_text(state_value(view, ids.PASS_REASON))
    who = actor(context)
    deps.asks.decline(who.team_id, offer_id, who.user_id, reason)


def register(app: App) -> None:
    """Register the intake submission, Accept, Pass and the pass-reason dialog."""
    app.view(ids.INTAKE_CALLBACK)(intake_submitted)
    app.action(ids.OFFER_ACCEPT)(accept)
    app.action(ids.OFFER_PASS)(pass_clicked)
    app.view(ids.PASS_CALLBACK)(pass_submitted)
