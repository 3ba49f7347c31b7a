"""Pair actions: commitments, check-in answers, snooze, close-out and feedback.

Who may do what is decided by :class:`~peerbot.services.pairs.PairService`; these listeners only
decode the click, call the service and turn its :class:`~peerbot.services.pairs.Result` into a
private reply.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from peerbot.domain.asks import clean_text
from peerbot.domain.checkins import validate_commitment
from peerbot.domain.wording import counted
from peerbot.services.pairs import CloseInput, Result, Role
from peerbot.slack import blocks, codec, ids
from peerbot.slack.codec import SnoozeChoice
from peerbot.slack.deps import Deps
from peerbot.slack.listeners.common import actor, answer_click, decoded, tell
from peerbot.slack.parse import state_value

log = logging.getLogger(__name__)

REPLIES = {
    Result.NOT_YOURS: "Only the person this is for can do that; your own requests and pairs "
    "are in peerbot's Home tab.",
    Result.CLOSED: "This pairing is already closed, so there is nothing to do here. To ask for "
    "help again, type `/peerhelp`.",
    Result.NOT_FOUND: "We could not find this pairing any more (it may have been deleted); "
    "your current pairs are in peerbot's Home tab.",
    Result.INVALID: "That did not work: please try again from the latest message.",
}

DONE_TEXT = ":white_check_mark: Marked done. Nice work!"
DONE_REPLIES = {**REPLIES, Result.OK: DONE_TEXT}

#: An answer button's action id → the answer.
CHECKIN_ACTION_RE = re.compile(rf"^{ids.CHECKIN_ACTION}_(done|in_progress|stuck)$")

_WEEKS = {SnoozeChoice.SNOOZE_1: 1, SnoozeChoice.SNOOZE_2: 2, SnoozeChoice.STOP: 0}


def _reply(
    respond: Respond | None, client: WebClient, context: BoltContext, result: Result
) -> None:
    """Say privately why a pair action did nothing (nothing for OK and ALREADY)."""
    text = REPLIES.get(result)
    if text:
        tell(respond, client, context, text)


def add_commitment_clicked(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """ "Add a commitment": the form, for the asker of an open pair."""
    ack()
    pair_id = decoded(codec.PAIR, action.get("value"), respond, client, context)
    if pair_id is None:
        return
    who = actor(context)
    result = deps.pairs.may_add_commitment(who.team_id, pair_id, who.user_id)
    if result != Result.OK:
        _reply(respond, client, context, result)
        return
    client.views_open(trigger_id=body["trigger_id"], view=blocks.build_commitment_modal(pair_id))


def commitment_submitted(
    ack: Ack, view: dict[str, Any], context: BoltContext, client: WebClient, deps: Deps
) -> None:
    """The commitment form: field errors at the field, else the commitment is added."""
    text = clean_text(state_value(view, ids.COMMITMENT_TEXT))
    due_raw = state_value(view, ids.COMMITMENT_DUE)
    try:
        due = date.fromisoformat(due_raw) if due_raw else None
    except ValueError:  # a date picker sends ISO dates; anything else is refused at the field
        ack(response_action="errors", errors={ids.COMMITMENT_DUE[0]: "Pick a date."})
        return
    errors = validate_commitment(text, due, today=deps.clock.now().date())
    if errors:
        fields = {"text": ids.COMMITMENT_TEXT[0], "due": ids.COMMITMENT_DUE[0]}
        ack(
            response_action="errors",
            errors={fields[f]: message for f, message in errors.items()},
        )
        return
    ack()
    pair_id = decoded(codec.PAIR, view.get("private_metadata"), None, client, context, reply=False)
    if pair_id is None:
        return
    who = actor(context)
    deps.pairs.add_commitment(who.team_id, pair_id, who.user_id, text, due, view["id"])


def checkin_answer(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """Done / In progress / Stuck on a check-in (and the helper's "Going well")."""
    ack()
    answer = action["action_id"].removeprefix(ids.CHECKIN_ACTION + "_")
    service = partial(deps.pairs.answer_checkin, answer=answer)
    answer_click(codec.CHECKIN, action, context, respond, client, service, REPLIES)


#: A helper-check button's action id → the answer.
HELPER_CHECK_RE = re.compile(rf"^{ids.HELPER_CHECK_ACTION}_({'|'.join(ids.HELPER_CHECK_ANSWERS)})$")


def helper_check_answer(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """The helper's monthly check: going well / haven't met yet / asker has gone quiet / not a
    fit. "Not a fit" also opens the close-out form, so the helper can end it there and then."""
    ack()
    checkin_id = decoded(codec.CHECKIN, action.get("value"), respond, client, context)
    if checkin_id is None:
        return
    answer = action["action_id"].removeprefix(ids.HELPER_CHECK_ACTION + "_")
    who = actor(context)
    result = deps.pairs.answer_checkin(who.team_id, checkin_id, who.user_id, answer)
    if result != Result.OK:
        _reply(respond, client, context, result)
        return
    if answer == "not_fit":
        pair_id = deps.pairs.pair_of_checkin(who.team_id, checkin_id)
        if pair_id is not None:
            form = deps.pairs.close_form(who.team_id, pair_id, who.user_id)
            if form.result == Result.OK and not form.closed:
                client.views_open(
                    trigger_id=body["trigger_id"],
                    view=blocks.build_close_modal(pair_id, asker=False),
                )


def commitment_done(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """A commitment's Done button."""
    ack()
    answer_click(
        codec.COMMITMENT, action, context, respond, client, deps.pairs.commitment_done, DONE_REPLIES
    )


def snooze(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """The check-in's overflow: snooze one or two weeks, stop, or change the cadence."""
    ack()
    picked = decoded(
        codec.SNOOZE, (action.get("selected_option") or {}).get("value"), respond, client, context
    )
    if picked is None:
        return
    who = actor(context)
    choice = picked.choice
    if choice in (SnoozeChoice.WEEKLY, SnoozeChoice.BIWEEKLY):
        result = deps.pairs.set_cadence(who.team_id, picked.pair_id, who.user_id, choice.value)
        done = (
            f"Check-ins are now {'weekly' if choice == SnoozeChoice.WEEKLY else 'every two weeks'}."
        )
    else:
        weeks = _WEEKS[choice]
        result = deps.pairs.snooze(who.team_id, picked.pair_id, who.user_id, weeks)
        done = (
            "Check-ins are stopped. You can still add commitments and close the pairing, and "
            "resume them any time (here or in peerbot's Home tab)."
            if weeks == 0
            else f"Check-ins are snoozed for {counted(weeks, 'week')}; "
            "resume them any time (here or in peerbot's Home tab)."
        )
    if result == Result.OK:
        if choice in (SnoozeChoice.WEEKLY, SnoozeChoice.BIWEEKLY):
            tell(respond, client, context, done)
        else:
            _undoable(respond, client, context, done, picked.pair_id)
    else:
        _reply(respond, client, context, result)


def _undoable(
    respond: Respond | None, client: WebClient, context: BoltContext, text: str, pair_id: int
) -> None:
    """A private reply with **Resume check-ins**, so that a stop or a snooze can be undone where
    it was made (and from App Home)."""
    blocks_: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": ids.PAIR_RESUME_CHECKINS,
                    "text": {"type": "plain_text", "text": "Undo: resume check-ins"},
                    "value": codec.PAIR.encode(pair_id),
                }
            ],
        },
    ]
    try:
        if respond is not None and getattr(respond, "response_url", True):
            respond(text=text, blocks=blocks_, response_type="ephemeral", replace_original=False)
            return
    except (SlackApiError, SlackRequestError, OSError) as exc:  # best effort, as ``tell``
        log.warning("could not reply privately to %s: %s", context.user_id, str(exc)[:200])
        return
    tell(respond, client, context, text)


def close_clicked(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """Close / feedback buttons: the close-out form, the asker's or the helper's."""
    ack()
    pair_id = decoded(codec.PAIR, action.get("value"), respond, client, context)
    if pair_id is None:
        return
    who = actor(context)
    form = deps.pairs.close_form(who.team_id, pair_id, who.user_id)
    if form.result != Result.OK:
        _reply(respond, client, context, form.result)
        return
    client.views_open(
        trigger_id=body["trigger_id"],
        view=blocks.build_close_modal(pair_id, asker=form.role == Role.ASKER, feedback=form.closed),
    )


def close_submitted(
    ack: Ack, view: dict[str, Any], context: BoltContext, client: WebClient, deps: Deps
) -> None:
    """The close-out form: close the pair (once) and record this side's feedback."""
    ack()
    pair_id = decoded(codec.PAIR, view.get("private_metadata"), None, client, context, reply=False)
    if pair_id is None:
        return
    rating = state_value(view, ids.CLOSE_RATING)
    answers = CloseInput(
        outcome=state_value(view, ids.CLOSE_OUTCOME),
        rating=int(rating) if rating else None,
        thanks=clean_text(state_value(view, ids.CLOSE_THANKS)),
        reflection=clean_text(state_value(view, ids.CLOSE_REFLECTION)),
    )
    who = actor(context)
    deps.pairs.close(who.team_id, pair_id, who.user_id, answers)


def register(app: App) -> None:
    """Register every pair action and dialog."""
    app.action(ids.PAIR_ADD_COMMITMENT)(add_commitment_clicked)
    app.view(ids.COMMITMENT_CALLBACK)(commitment_submitted)
    app.action(CHECKIN_ACTION_RE)(checkin_answer)
    app.action(HELPER_CHECK_RE)(helper_check_answer)
    app.action(ids.COMMITMENT_DONE)(commitment_done)
    app.action(ids.PAIR_SNOOZE)(snooze)
    for action_id in (ids.PAIR_CLOSE, ids.CHECKIN_CLOSE, ids.FEEDBACK_OPEN):
        app.action(action_id)(close_clicked)
    app.view(ids.CLOSE_CALLBACK)(close_submitted)
