"""Peer circles' messages as typed notices, and what their renderers read.

Registered with :class:`~peerbot.domain.notices.Notice` by being imported (``notices`` imports
this module at its end, so every reader of the outbox knows these kinds). Like every notice they
name rows by id; the text people typed (what they want to work on, their actions, their notes)
stays in the circle tables and is read when the message is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Protocol

from peerbot.domain.notices import Notice


class UnplacedReason(StrEnum):
    """Why a person waiting was not placed in a circle this round (they stay in the pool)."""

    TOO_FEW = "too_few"
    NO_SHARED_HOURS = "no_shared_hours"
    CONFLICTS = "conflicts"
    NO_ROOM = "no_room"


#: What each reason means, in the words the person is told.
UNPLACED_TEXT: dict[UnplacedReason, str] = {
    UnplacedReason.TOO_FEW: "fewer than 4 people could form a circle with you this round",
    UnplacedReason.NO_SHARED_HOURS: (
        "too few people waiting share two weekday working hours with you (by your Slack time zone)"
    ),
    UnplacedReason.CONFLICTS: (
        "too few people were left once your reporting line, never-match list and recent "
        "circle-mates were set aside"
    ),
    UnplacedReason.NO_ROOM: "no circle had room for you within everyone's rules",
}


class FeedbackKind(StrEnum):
    """The midpoint pulse or the close-out."""

    PULSE = "pulse"
    CLOSEOUT = "closeout"


# --------------------------------------------------------------------------- notices


@dataclass(frozen=True)
class CircleNotPlaced(Notice):
    """To a person waiting: this round could not place them, why, and that they stay in the
    pool for the next one."""

    kind: ClassVar[str] = "circle_not_placed"
    person_id: int
    round_id: int
    reason: UnplacedReason


@dataclass(frozen=True)
class CircleOpening(Notice):
    """The circle's first message: who is in it and why, the theme, how a session runs and the
    schedule."""

    kind: ClassVar[str] = "circle_opening"
    circle_id: int


@dataclass(frozen=True)
class CirclePromptDue(Notice):
    """The weekly prompt: this week's presenter, last week's actions, Record my action."""

    kind: ClassVar[str] = "circle_prompt"
    prompt_id: int


@dataclass(frozen=True)
class CircleActionAdded(Notice):
    """In the circle: a member's action for the week."""

    kind: ClassVar[str] = "circle_action_added"
    action_id: int


@dataclass(frozen=True)
class CirclePulse(Notice):
    """To one member, privately, at the midpoint: how is the group going (1–5), what gets in
    the way; or at the end, the close-out (rating, note, join the next round)."""

    kind: ClassVar[str] = "circle_pulse"
    circle_id: int
    person_id: int
    stage: FeedbackKind


@dataclass(frozen=True)
class CirclePulseAnswered(Notice):
    """The pulse or close-out message, updated once answered (no buttons left)."""

    kind: ClassVar[str] = "circle_pulse_answered"
    circle_id: int
    person_id: int
    stage: FeedbackKind


@dataclass(frozen=True)
class CircleSmaller(Notice):
    """In the circle: it is now smaller (``members`` left); it names nobody and no reason."""

    kind: ClassVar[str] = "circle_smaller"
    circle_id: int
    members: int


@dataclass(frozen=True)
class CircleClosed(Notice):
    """To one member: the circle closed (its weeks are over, or too few were left), with the
    offer to join the next round."""

    kind: ClassVar[str] = "circle_closed"
    circle_id: int
    person_id: int
    too_small: bool


# --------------------------------------------------------------------------- what renderers read


@dataclass(frozen=True)
class CircleMemberView:
    """A member as the circle's messages show them."""

    person_id: int
    user_id: str
    tz: str | None
    text: str
    function: str | None


@dataclass(frozen=True)
class CircleView:
    """A circle with its current members (those who left are not listed)."""

    circle_id: int
    theme: str
    members: tuple[CircleMemberView, ...]
    facilitator: str | None
    starts_at: datetime
    ends_at: datetime
    next_prompt_at: datetime | None
    private: bool
    closed: bool


@dataclass(frozen=True)
class CircleActionView:
    """One member's action for a week."""

    action_id: int
    user_id: str
    text: str
    week: int


@dataclass(frozen=True)
class CirclePromptView:
    """A weekly prompt with the circle, the presenter and last week's actions."""

    prompt_id: int
    circle: CircleView
    week: int
    presenter: str | None
    sent_at: datetime
    last_week: tuple[CircleActionView, ...]


class CircleFacts(Protocol):
    """Reads what a circle notice refers to, at send time (``NoticeGone`` when it is gone)."""

    def circle(self, circle_id: int) -> CircleView:
        """The circle and its current members."""
        ...

    def circle_prompt(self, prompt_id: int) -> CirclePromptView:
        """The prompt with last week's actions."""
        ...

    def circle_action(self, action_id: int) -> tuple[CircleActionView, CircleView]:
        """The action and its circle."""
        ...

    def circle_person(self, person_id: int) -> str:
        """A person's Slack user id."""
        ...


class ChannelMaker(Protocol):
    """Creates a private channel for a circle of 9 or 10 and invites its members."""

    def private_channel(self, team_id: str, name: str, user_ids: tuple[str, ...]) -> str:
        """The new channel's id (raises on failure; the tick tries again)."""
        ...

    def remove(self, team_id: str, channel_id: str, user_id: str) -> None:
        """Take someone who left the circle out of its channel (raises on failure)."""
        ...
