"""Peer circles: `/peerhelp circle`, App Home's Peer circles button, the join dialog, leaving the
pool or a circle, recording an action, and the pulse and close-out dialogs.

Listeners only translate: the rules (who may, what is valid) are
:class:`~peerbot.services.circles.CircleService`'s; its :class:`CircleError` is shown at the
dialog field, or privately where the click happened.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from peerbot.domain.circle_notices import UNPLACED_TEXT, FeedbackKind
from peerbot.services.circles import CircleError, CircleService, LeaveOutcome
from peerbot.slack import circle_render as ui
from peerbot.slack.codec import IdCodec
from peerbot.slack.deps import Deps
from peerbot.slack.listeners.common import BAD_VALUE_TEXT, actor, answer_click, tell
from peerbot.slack.parse import state_value
from peerbot.slack.text import truncate_escaped

log = logging.getLogger(__name__)

UNAVAILABLE = "Peer circles are not switched on here."
LEFT_POOL = "You have left the pool for peer circles. You can join again any time."
NOT_IN_POOL = "You are not in the pool for peer circles."
_NEXT_ROUND = "You can join a future round with `/peerhelp circle`."
LEFT_CIRCLE = (
    f"You have left the circle. The others are told only that it is now smaller. {_NEXT_ROUND}"
)
#: What **Leave this circle** did → its answer.
LEAVE_REPLIES = {
    LeaveOutcome.LEFT: LEFT_CIRCLE,
    LeaveOutcome.CLOSED_IT: "You have left the circle. Too few were left to meet well, so "
    "the circle has closed; the others are told that and offered a place in the next round. "
    + _NEXT_ROUND,
    LeaveOutcome.ALREADY_LEFT: "You have already left this circle; nothing more to do. "
    + _NEXT_ROUND,
    LeaveOutcome.CIRCLE_CLOSED: "This circle has already closed, so there is nothing to leave. "
    + _NEXT_ROUND,
    LeaveOutcome.NOT_MEMBER: "You are not in that circle.",
}
#: A circle's id on its buttons.
CIRCLE = IdCodec("circle")


def _service(deps: Deps) -> CircleService | None:
    return getattr(deps, "circles", None)


def _int(value: object) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _status_blocks(
    service: CircleService, team_id: str, user_id: str
) -> tuple[str, list[Any]] | None:
    """The person's circle or pool place, with the buttons that apply; None when neither."""
    mine = service.my_circle(team_id, user_id)
    if mine is not None:
        text = (
            f"You are in a peer circle of {mine.members}, all working on: "
            f"*{truncate_escaped(mine.theme, 200)}*, until {mine.ends_at:%d %b}."
        )
        return text, [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "actions",
                "elements": [ui.leave_button(mine.circle_id)],
            },
        ]
    place = service.pool_place(team_id, user_id)
    if place is None:
        return None
    text = ui.pool_status_text(
        place.position,
        place.waiting,
        place.next_round_at,
        UNPLACED_TEXT[place.last_reason] if place.last_reason else None,
    )
    return text, [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "elements": [
                ui._button("Change what I wrote", ui.JOIN_OPEN, "edit"),
                ui._button("Leave the pool", ui.POOL_LEAVE, "leave"),
            ],
        },
    ]


def circle_command(
    ack: Ack, command: dict[str, Any], context: BoltContext, client: WebClient, deps: Deps
) -> None:
    """`/peerhelp circle`: one's circle or place in the pool (with Leave), else the join
    dialog."""
    service = _service(deps)
    if service is None:
        ack(response_type="ephemeral", text=UNAVAILABLE)
        return
    who = actor(context)
    status = _status_blocks(service, who.team_id, who.user_id)
    if status is not None:
        text, blocks = status
        ack(response_type="ephemeral", text=text, blocks=blocks)
        return
    ack()
    rules = service.policy_of(who.team_id).rules()
    view = ui.build_join_modal(min_size=rules.min_size, max_size=rules.max_size)
    client.views_open(trigger_id=command["trigger_id"], view=view)


def join_open(
    ack: Ack,
    body: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """App Home's Peer circles, "Change what I wrote", "Join the next round": the join dialog
    (filled in with what they wrote before), or their circle when they are in one."""
    ack()
    service = _service(deps)
    if service is None:
        tell(respond, client, context, UNAVAILABLE)
        return
    who = actor(context)
    mine = service.my_circle(who.team_id, who.user_id)
    if mine is not None:
        view = {
            "type": "modal",
            "title": {"type": "plain_text", "text": "Peer circles"},
            "close": {"type": "plain_text", "text": "Close"},
            "blocks": _status_blocks(service, who.team_id, who.user_id)[1],  # type: ignore[index]
        }
        client.views_open(trigger_id=body["trigger_id"], view=view)
        return
    place = service.pool_place(who.team_id, who.user_id)
    rules = service.policy_of(who.team_id).rules()
    if place is None:
        view = ui.build_join_modal(min_size=rules.min_size, max_size=rules.max_size)
    else:
        reason = UNPLACED_TEXT[place.last_reason] if place.last_reason else None
        view = ui.build_join_modal(
            min_size=rules.min_size,
            max_size=rules.max_size,
            text=place.text,
            function=place.function or "",
            status=ui.pool_status_text(place.position, place.waiting, place.next_round_at, reason),
        )
    client.views_open(trigger_id=body["trigger_id"], view=view)


def join_submitted(ack: Ack, view: dict[str, Any], context: BoltContext, deps: Deps) -> None:
    """The join dialog: field errors at the field, else the dialog shows their place."""
    service = _service(deps)
    if service is None:
        ack(response_action="errors", errors={ui.JOIN_TEXT[0]: UNAVAILABLE})
        return
    who = actor(context)
    text = state_value(view, ui.JOIN_TEXT) or ""
    function = state_value(view, ui.JOIN_FUNCTION)
    try:
        place = service.join(who.team_id, who.user_id, str(text), function)
    except CircleError as err:
        block = ui.JOIN_FUNCTION[0] if err.field == "function" else ui.JOIN_TEXT[0]
        ack(response_action="errors", errors={block: str(err)})
        return
    status = ui.pool_status_text(place.position, place.waiting, place.next_round_at, None)
    ack(
        response_action="update",
        view={
            "type": "modal",
            "title": {"type": "plain_text", "text": "Peer circles"},
            "close": {"type": "plain_text", "text": "Done"},
            "blocks": [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": ":white_check_mark: " + status},
                },
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": "`/peerhelp circle` shows your place or lets you leave "
                            "the pool.",
                        }
                    ],
                },
            ],
        },
    )


def pool_leave(
    ack: Ack, context: BoltContext, respond: Respond | None, client: WebClient, deps: Deps
) -> None:
    """Leave the waiting pool."""
    ack()
    service = _service(deps)
    if service is None:
        tell(respond, client, context, UNAVAILABLE)
        return
    who = actor(context)
    left = service.leave_pool(who.team_id, who.user_id)
    tell(respond, client, context, LEFT_POOL if left else NOT_IN_POOL)


def leave_clicked(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """Leave this circle (a confirmation comes first, from Slack's confirm dialog)."""
    ack()
    service = _service(deps)
    if service is None:
        tell(respond, client, context, UNAVAILABLE)
        return
    answer_click(
        CIRCLE,
        action,
        context,
        respond,
        client,
        lambda team_id, circle_id, user_id: service.leave(team_id, user_id, circle_id),
        LEAVE_REPLIES,
    )


def action_open(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """Record my action: the dialog (the submission checks membership)."""
    ack()
    prompt_id = _int(action.get("value"))
    if prompt_id is None:
        tell(respond, client, context, BAD_VALUE_TEXT)
        return
    client.views_open(trigger_id=body["trigger_id"], view=ui.build_action_modal(prompt_id))


def action_submitted(ack: Ack, view: dict[str, Any], context: BoltContext, deps: Deps) -> None:
    """The action dialog: saved and shown to the circle, or the reason at the field."""
    service = _service(deps)
    prompt_id = _int(view.get("private_metadata"))
    if service is None or prompt_id is None:
        ack(response_action="errors", errors={ui.ACTION_TEXT[0]: BAD_VALUE_TEXT})
        return
    who = actor(context)
    try:
        service.record_action(
            who.team_id, who.user_id, prompt_id, str(state_value(view, ui.ACTION_TEXT) or "")
        )
    except CircleError as err:
        ack(response_action="errors", errors={ui.ACTION_TEXT[0]: str(err)})
        return
    ack()


def feedback_open(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
) -> None:
    """Answer the pulse or the close-out: the dialog."""
    ack()
    raw = str(action.get("value") or "")
    circle_id, _, stage = raw.partition(":")
    cid = _int(circle_id)
    if cid is None or stage not in {k.value for k in FeedbackKind}:
        tell(respond, client, context, BAD_VALUE_TEXT)
        return
    client.views_open(
        trigger_id=body["trigger_id"], view=ui.build_feedback_modal(cid, FeedbackKind(stage))
    )


def feedback_submitted(ack: Ack, view: dict[str, Any], context: BoltContext, deps: Deps) -> None:
    """The pulse or close-out dialog: saved (privately), or the reason at the field."""
    service = _service(deps)
    raw = str(view.get("private_metadata") or "")
    circle_id, _, stage = raw.partition(":")
    cid = _int(circle_id)
    if service is None or cid is None or stage not in {k.value for k in FeedbackKind}:
        ack(response_action="errors", errors={ui.FEEDBACK_RATING[0]: BAD_VALUE_TEXT})
        return
    rating = _int(state_value(view, ui.FEEDBACK_RATING))
    note = state_value(view, ui.FEEDBACK_NOTE)
    who = actor(context)
    try:
        service.answer(who.team_id, who.user_id, cid, FeedbackKind(stage), rating, note)
    except CircleError as err:
        block = ui.FEEDBACK_NOTE[0] if err.field == "note" else ui.FEEDBACK_RATING[0]
        ack(response_action="errors", errors={block: str(err)})
        return
    ack()


def register(app: App) -> None:
    """Attach the circle listeners (the command's `circle` word is routed by ``commands``)."""
    app.action(ui.JOIN_OPEN)(join_open)
    app.action(ui.POOL_LEAVE)(pool_leave)
    app.action(ui.LEAVE)(leave_clicked)
    app.action(ui.ACTION_OPEN)(action_open)
    app.action(ui.FEEDBACK_OPEN)(feedback_open)
    app.view(ui.JOIN_VIEW)(join_submitted)
    app.view(ui.ACTION_VIEW)(action_submitted)
    app.view(ui.FEEDBACK_VIEW)(feedback_submitted)
