"""Peer circles in Slack: the notices' renderers (registered on ``peerbot.slack.render.render``),
the join, action and feedback dialogs, and the ids of their buttons.

Every builder escapes what people typed and fits Slack's limits by the escaped length.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from peerbot.domain.circle_notices import (
    UNPLACED_TEXT,
    CircleActionAdded,
    CircleActionView,
    CircleClosed,
    CircleNotPlaced,
    CircleOpening,
    CirclePromptDue,
    CirclePulse,
    CirclePulseAnswered,
    CircleSmaller,
    CircleView,
    FeedbackKind,
)
from peerbot.domain.ports import NoticeFacts
from peerbot.domain.schedule import zone
from peerbot.domain.wording import counted
from peerbot.slack.render import render
from peerbot.slack.text import escape_mrkdwn, one_line, truncate_escaped

Message = dict[str, Any]
Block = dict[str, Any]

# --------------------------------------------------------------------------- ids

#: Buttons: open the join dialog; leave the pool; record an action; answer the pulse or
#: close-out; leave a circle.
JOIN_OPEN = "circle_join_open"
POOL_LEAVE = "circle_pool_leave"
ACTION_OPEN = "circle_action_open"
FEEDBACK_OPEN = "circle_feedback_open"
LEAVE = "circle_leave"
#: Dialog callback ids and their inputs (block id, action id).
JOIN_VIEW = "circle_join"
JOIN_TEXT = ("circle_text", "value")
JOIN_FUNCTION = ("circle_function", "value")
ACTION_VIEW = "circle_action"
ACTION_TEXT = ("circle_action_text", "value")
FEEDBACK_VIEW = "circle_feedback"
FEEDBACK_RATING = ("circle_rating", "value")
FEEDBACK_NOTE = ("circle_note", "value")

TEXT_LIMIT = 4000
SECTION = 3000

HOW_IT_RUNS = (
    "*How a session runs (about 45 minutes):*\n"
    "1. This week's presenter brings one real issue (5 minutes, no slides).\n"
    "2. The others ask open questions first: no advice until the presenter has thought "
    "aloud (15 minutes).\n"
    "3. Then ideas and experience, offered, not prescribed (15 minutes).\n"
    "4. Everyone names one action for the week and records it with the button on the weekly "
    "prompt; next week starts with how those went.\n"
    "What is said in the circle stays in the circle."
)


def _section(text: str) -> Block:
    assert len(text) <= SECTION, "a section was built past Slack's limit"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    b: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }
    if style:
        b["style"] = style
    return b


def leave_button(circle_id: int) -> Block:
    """Leave this circle, with Slack's confirmation dialog first."""
    button = _button("Leave this circle", LEAVE, str(circle_id))
    button["confirm"] = {
        "title": {"type": "plain_text", "text": "Leave this circle?"},
        "text": {
            "type": "mrkdwn",
            "text": "The others are told only that the circle is now smaller.",
        },
        "confirm": {"type": "plain_text", "text": "Leave"},
        "deny": {"type": "plain_text", "text": "Stay"},
    }
    return button


def _message(text: str, blocks: list[Block]) -> Message:
    return {"text": text[:TEXT_LIMIT], "blocks": blocks}


def _when(when: datetime | None, tz: str | None) -> str:
    if when is None:
        return "soon"
    return when.astimezone(zone(tz)).strftime("%a %d %b, %H:%M")


def _theme(circle: CircleView) -> str:
    return truncate_escaped(circle.theme, 200)


def _member_lines(circle: CircleView, limit: int = 2600) -> str:
    """One line per member: who and what they want to work on, within ``limit``."""
    each = max(60, limit // max(1, len(circle.members)) - 40)
    lines = []
    for m in circle.members:
        fn = f" ({truncate_escaped(m.function, 40)})" if m.function else ""
        role = " · facilitator" if circle.facilitator == m.user_id else ""
        lines.append(f"• <@{m.user_id}>{fn}{role}: {one_line(m.text, each)}")
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _action_line(a: CircleActionView, limit: int = 250) -> str:
    return f"• <@{a.user_id}>: {one_line(a.text, limit)}"


# --------------------------------------------------------------------------- renderers


@render.register
def _not_placed(notice: CircleNotPlaced, facts: NoticeFacts) -> Message:
    facts.circle_person(notice.person_id)
    why = UNPLACED_TEXT[notice.reason]
    text = (
        "This round of peer circles could not place you: "
        f"{why}. You stay in the pool for the next round, in your place; nothing for you to do. "
        "`/peerhelp circle` shows your place or lets you leave the pool."
    )
    return _message(text, [_section(text)])


@render.register
def _opening(notice: CircleOpening, facts: NoticeFacts) -> Message:
    circle = facts.circle(notice.circle_id)
    if circle.closed:
        raise_gone(notice.circle_id)
    head = (
        f":wave: Welcome to your peer circle: {counted(len(circle.members), 'manager')}, "
        "all working on: "
        f"*{_theme(circle)}*. You were brought together because what you want to work on is "
        "close, and you share working hours on weekdays."
    )
    tz = circle.members[0].tz if circle.members else None
    schedule = (
        f"*Schedule:* a prompt here every week until {circle.ends_at:%d %b}, each inside "
        "everyone's working hours where possible (first one: "
        f"{_when(circle.next_prompt_at, tz)} in <@{circle.members[0].user_id}>'s time zone), "
        "naming who presents. Halfway through, each of you gets a short private pulse; at the "
        "end, a close-out."
        if circle.members
        else ""
    )
    facilitator = (
        f"<@{circle.facilitator}> is an experienced helper and has offered to facilitate."
        if circle.facilitator
        else "Take turns keeping time; the presenter's neighbour in the list below starts."
    )
    blocks = [
        _section(head),
        _section("*Who is here and what they want to work on:*\n" + _member_lines(circle)),
        _section(HOW_IT_RUNS),
        _section(f"{schedule}\n{facilitator}".strip()),
        {
            "type": "actions",
            "elements": [
                leave_button(circle.circle_id),
            ],
        },
        _context(
            "Leaving is fine at any time; the others are told only that the circle is now smaller."
        ),
    ]
    return _message(f"Welcome to your peer circle: {circle.theme}", blocks)


def raise_gone(circle_id: int) -> None:
    """A closed circle's pending messages are not sent."""
    from peerbot.domain.notices import NoticeGone

    raise NoticeGone(f"circle {circle_id} is closed")


@render.register
def _prompt(notice: CirclePromptDue, facts: NoticeFacts) -> Message:
    view = facts.circle_prompt(notice.prompt_id)
    circle = view.circle
    if circle.closed:
        raise_gone(circle.circle_id)
    presenter = (
        f"*This week <@{view.presenter}> presents:* bring one real issue; the others ask open "
        "questions first."
        if view.presenter
        else "*This week:* anyone may bring an issue."
    )
    blocks = [
        _section(f"*Week {view.week}* · all working on: *{_theme(circle)}*\n{presenter}"),
    ]
    if view.last_week:
        lines = "\n".join(_action_line(a) for a in view.last_week)
        blocks.append(_section(f"*Last week's actions: how did they go?*\n{lines}"[:SECTION]))
    elif view.week > 1:
        blocks.append(_context("No actions were recorded last week."))
    blocks.append(
        _section("*Everyone:* after the session, record the one action you will take this week.")
    )
    blocks.append(
        {
            "type": "actions",
            "block_id": f"circle_prompt_{view.prompt_id}",
            "elements": [
                _button("Record my action", ACTION_OPEN, str(view.prompt_id), "primary"),
            ],
        }
    )
    return _message(f"Week {view.week} of your peer circle", blocks)


@render.register
def _action_added(notice: CircleActionAdded, facts: NoticeFacts) -> Message:
    action, _circle = facts.circle_action(notice.action_id)
    text = f"<@{action.user_id}> commits to: {one_line(action.text, 600)}"
    return _message(text, [_section(text)])


@render.register
def _pulse(notice: CirclePulse, facts: NoticeFacts) -> Message:
    circle = facts.circle(notice.circle_id)
    facts.circle_person(notice.person_id)
    value = f"{notice.circle_id}:{notice.stage.value}"
    if notice.stage == FeedbackKind.PULSE:
        if circle.closed:
            raise_gone(circle.circle_id)
        text = (
            f"Halfway through your peer circle (*{_theme(circle)}*): how is the group going? "
            "Your answer is private: the circle does not see it."
        )
        buttons = [
            _button("Answer (1–5, and what gets in the way)", FEEDBACK_OPEN, value, "primary")
        ]
    else:
        text = (
            f"Your peer circle (*{_theme(circle)}*) has reached its end. Thank you for "
            "taking part! How was it? A rating and, if you like, a note; both private."
        )
        buttons = [
            _button("Rate the circle", FEEDBACK_OPEN, value, "primary"),
            _button("Join the next round", JOIN_OPEN, "next"),
        ]
    return _message(text, [_section(text), {"type": "actions", "elements": buttons}])


@render.register
def _pulse_answered(notice: CirclePulseAnswered, facts: NoticeFacts) -> Message:
    circle = facts.circle(notice.circle_id)
    if notice.stage == FeedbackKind.PULSE:
        text = f"Thank you: your answer about your circle (*{_theme(circle)}*) is saved."
        return _message(text, [_section(text)])
    text = f"Thank you for your close-out of *{_theme(circle)}*."
    return _message(
        text,
        [
            _section(text),
            {"type": "actions", "elements": [_button("Join the next round", JOIN_OPEN, "next")]},
        ],
    )


@render.register
def _smaller(notice: CircleSmaller, facts: NoticeFacts) -> Message:
    circle = facts.circle(notice.circle_id)
    text = (
        f"A member has left the circle; you are now {notice.members}. The circle goes on as "
        "planned: the presenter rotation continues with those here."
    )
    if circle.closed:
        raise_gone(circle.circle_id)
    return _message(text, [_section(text)])


@render.register
def _closed(notice: CircleClosed, facts: NoticeFacts) -> Message:
    circle = facts.circle(notice.circle_id)
    facts.circle_person(notice.person_id)
    text = (
        f"Your peer circle (*{_theme(circle)}*) has become too small to meet well, so we have "
        "closed it. Thank you for the weeks you put in. Would you like a place in the next "
        "round?"
    )
    return _message(
        text,
        [
            _section(text),
            {"type": "actions", "elements": [_button("Join the next round", JOIN_OPEN, "next")]},
        ],
    )


# --------------------------------------------------------------------------- dialogs


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def build_join_modal(
    *,
    text: str = "",
    function: str = "",
    status: str | None = None,
    min_size: int = 4,
    max_size: int = 8,
) -> dict[str, Any]:
    """The join dialog: what to work on over the coming weeks, and one's function. Circles
    are ``min_size``–``max_size`` people (the workspace's circle rules)."""
    blocks: list[Block] = []
    if status:
        blocks.append(_section(status))
    blocks += [
        _section(
            f"Peer circles are small groups ({min_size}–{max_size}) of managers working on "
            "similar things. Each "
            "week one member brings a real issue, the others ask open questions, and everyone "
            "commits to one action. Your circle sees what you write here."
        ),
        {
            "type": "input",
            "block_id": JOIN_TEXT[0],
            "label": _plain("What do you want to work on over the coming weeks?"),
            "element": {
                "type": "plain_text_input",
                "action_id": JOIN_TEXT[1],
                "multiline": True,
                "min_length": 10,
                "max_length": 600,
                **({"initial_value": text[:600]} if text else {}),
                "placeholder": _plain("e.g. delegating to senior reports without losing track"),
            },
        },
        {
            "type": "input",
            "block_id": JOIN_FUNCTION[0],
            "optional": True,
            "label": _plain("Your function"),
            "element": {
                "type": "plain_text_input",
                "action_id": JOIN_FUNCTION[1],
                "max_length": 120,
                **({"initial_value": function[:120]} if function else {}),
                "placeholder": _plain("e.g. Engineering, Sales, Finance"),
            },
            "hint": _plain("Circles mix functions where they can."),
        },
    ]
    return {
        "type": "modal",
        "callback_id": JOIN_VIEW,
        "title": _plain("Peer circles"),
        "submit": _plain("Join the next round"),
        "close": _plain("Cancel"),
        "blocks": blocks,
    }


def build_action_modal(prompt_id: int) -> dict[str, Any]:
    """The dialog to record one's action for the week."""
    return {
        "type": "modal",
        "callback_id": ACTION_VIEW,
        "private_metadata": str(prompt_id),
        "title": _plain("My action this week"),
        "submit": _plain("Record"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": ACTION_TEXT[0],
                "label": _plain("The one thing I will do this week"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ACTION_TEXT[1],
                    "max_length": 500,
                },
                "hint": _plain("Your circle sees it, and next week's prompt lists it."),
            }
        ],
    }


def build_feedback_modal(circle_id: int, stage: FeedbackKind) -> dict[str, Any]:
    """The pulse (midpoint) or close-out dialog: 1–5 and an optional note."""
    pulse = stage == FeedbackKind.PULSE
    options = [
        {"text": _plain(f"{n} – {label}"), "value": str(n)}
        for n, label in (
            (5, "very well"),
            (4, "well"),
            (3, "so-so"),
            (2, "not well"),
            (1, "badly"),
        )
    ]
    return {
        "type": "modal",
        "callback_id": FEEDBACK_VIEW,
        "private_metadata": f"{circle_id}:{stage.value}",
        "title": _plain("How is the group going?" if pulse else "Close-out"),
        "submit": _plain("Send"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": FEEDBACK_RATING[0],
                "label": _plain("How is the group going?" if pulse else "How was the circle?"),
                "element": {
                    "type": "static_select",
                    "action_id": FEEDBACK_RATING[1],
                    "options": options,
                },
            },
            {
                "type": "input",
                "block_id": FEEDBACK_NOTE[0],
                "optional": True,
                "label": _plain("What gets in the way?" if pulse else "Anything to add?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": FEEDBACK_NOTE[1],
                    "multiline": True,
                    "max_length": 1000,
                },
                "hint": _plain("Private: the circle does not see it."),
            },
        ],
    }


def pool_status_text(
    position: int, waiting: int, next_round: datetime | None, reason: str | None
) -> str:
    """A person's place in the pool, in words."""
    when = f" The next round forms around {next_round:%d %b}" if next_round else ""
    why = f"\nLast round could not place you: {reason}." if reason else ""
    need = "" if waiting >= 4 else f" (a round needs at least 4; {waiting} waiting now)"
    return (
        f"You are in the pool for the next round of peer circles: number {position} of "
        f"{waiting} waiting{need}.{when}{'.' if when else ''}{why}"
    )


def escape(text: str) -> str:
    """User text, escaped for mrkdwn."""
    return escape_mrkdwn(text)
