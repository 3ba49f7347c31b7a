"""Every message peerbot sends, as a typed notice.

A use-case records a notice (a frozen dataclass naming asks, offers, pairs, check-ins and
commitments by id) and who it is for (:data:`Audience`) in the outbox, in the same transaction as
the state change behind it. The Slack surface renders the notice at send time from the tables
(``peerbot.slack.render``), so the outbox never holds a copy of what people typed: redacting a
question redacts every message about it.

Notices are stored as JSON through :func:`encode` and read back through :func:`decode`, which is
strict: an unknown kind, a missing or an extra field is an error, never a silent default.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

# --------------------------------------------------------------------------- notices


@dataclass(frozen=True)
class Notice:
    """Base of every notice; subclasses set :attr:`kind`, their stored name."""

    kind: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type[Notice]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.kind:
            raise TypeError(f"{cls.__name__} must set a kind")
        if cls.kind in Notice._registry:
            raise TypeError(f"two notices are called {cls.kind!r}")
        Notice._registry[cls.kind] = cls


class OfferState(StrEnum):
    """How an offer ended, as its DM says once the buttons are gone."""

    ACCEPTED = "accepted"
    PASSED = "passed"
    EXPIRED = "expired"
    TAKEN = "taken"
    #: Accepted, but the introduction could not be made; the helper is released.
    RELEASED = "released"
    #: The asker withdrew the request (or asked peerbot to delete their data).
    WITHDRAWN = "withdrawn"


class Side(StrEnum):
    """A person's side of a pair."""

    ASKER = "asker"
    HELPER = "helper"


@dataclass(frozen=True)
class AskReceived(Notice):
    """To the asker after submitting: what happens next and by when."""

    kind: ClassVar[str] = "ask_received"
    ask_id: int
    answer_by: datetime
    max_offers: int


@dataclass(frozen=True)
class AskMatched(Notice):
    """The asker's receipt, updated once a helper accepted."""

    kind: ClassVar[str] = "ask_matched"
    ask_id: int
    pair_id: int


@dataclass(frozen=True)
class AskUnmet(Notice):
    """To the asker when nobody could take the ask."""

    kind: ClassVar[str] = "ask_unmet"
    ask_id: int
    tried: int


@dataclass(frozen=True)
class AskNotSent(Notice):
    """To the asker when Slack refused to carry their request to a peer at all."""

    kind: ClassVar[str] = "ask_not_sent"
    ask_id: int


@dataclass(frozen=True)
class OfferRequest(Notice):
    """To a helper: the challenge (anonymous if asked), why them, Accept / Pass."""

    kind: ClassVar[str] = "offer_request"
    offer_id: int


@dataclass(frozen=True)
class OfferClosed(Notice):
    """The offer DM, updated: accepted, passed, expired or taken."""

    kind: ClassVar[str] = "offer_closed"
    offer_id: int
    state: OfferState


@dataclass(frozen=True)
class Intro(Notice):
    """The group DM of asker, helper and bot."""

    kind: ClassVar[str] = "intro"
    pair_id: int


@dataclass(frozen=True)
class IntroFailed(Notice):
    """To one of the two, in their own DM: the group DM could not be made; ``to`` is their side."""

    kind: ClassVar[str] = "intro_failed"
    pair_id: int
    to: Side


@dataclass(frozen=True)
class CheckinDue(Notice):
    """To the asker: open commitments, Done / In progress / Stuck / Close."""

    kind: ClassVar[str] = "checkin"
    checkin_id: int
    bump: bool


@dataclass(frozen=True)
class CheckinAnswered(Notice):
    """The check-in, updated with the answer."""

    kind: ClassVar[str] = "checkin_answered"
    checkin_id: int


@dataclass(frozen=True)
class HelperCheck(Notice):
    """To the helper, monthly: how is the pair going."""

    kind: ClassVar[str] = "helper_check"
    checkin_id: int


@dataclass(frozen=True)
class HelperCheckAnswered(Notice):
    """The monthly check, updated once answered."""

    kind: ClassVar[str] = "helper_check_answered"
    checkin_id: int


@dataclass(frozen=True)
class StuckNudge(Notice):
    """To the helper: the asker answered a check-in with Stuck."""

    kind: ClassVar[str] = "stuck_nudge"
    checkin_id: int


@dataclass(frozen=True)
class PairPaused(Notice):
    """To each of the two: no answers, check-ins paused."""

    kind: ClassVar[str] = "pair_paused"
    pair_id: int


@dataclass(frozen=True)
class CommitmentAdded(Notice):
    """Group DM: the asker's new commitment."""

    kind: ClassVar[str] = "commitment_added"
    commitment_id: int


@dataclass(frozen=True)
class PairClosed(Notice):
    """Group DM: the pairing is closed, thank you both."""

    kind: ClassVar[str] = "pair_closed"
    pair_id: int


@dataclass(frozen=True)
class FeedbackRequest(Notice):
    """To the side that did not close: ``to`` is the recipient's side."""

    kind: ClassVar[str] = "feedback_request"
    pair_id: int
    to: Side


@dataclass(frozen=True)
class Thanks(Notice):
    """To the helper: the asker's thank-you, read from their feedback."""

    kind: ClassVar[str] = "thanks"
    pair_id: int


@dataclass(frozen=True)
class PairEnded(Notice):
    """To the one left in a pair that peerbot ended (the other person asked for their data to
    be deleted, or left): it names neither the other person nor the reason, only when the
    pairing began, so it renders without reading anything of the person who left."""

    kind: ClassVar[str] = "pair_ended"
    pair_id: int
    started: date


@dataclass(frozen=True)
class HelperInvite(Notice):
    """To a person the programme team imported as a possible helper: who asked, what it
    means, how often they may be asked; Yes, I'll help / Not now. Nobody is offered an ask
    before yes."""

    kind: ClassVar[str] = "helper_invite"
    person_id: int
    capacity: int


@dataclass(frozen=True)
class HelperInviteAnswered(Notice):
    """The invitation, updated with the answer."""

    kind: ClassVar[str] = "helper_invite_answered"
    person_id: int
    yes: bool


@dataclass(frozen=True)
class DataExport(Notice):
    """To a person who asked for their data: every row about them as JSON, read from the
    tables when it is sent (the outbox holds no copy)."""

    kind: ClassVar[str] = "data_export"
    person_id: int


# --------------------------------------------------------------------------- follow-through


class MeetAnswer(StrEnum):
    """An answer to "did you meet?"."""

    YES = "yes"
    NOT_YET = "not_yet"
    NO = "no"


@dataclass(frozen=True)
class MeetCheck(Notice):
    """To one of the two, three working days after the intro: did you meet? Yes / Not yet /
    It isn't going to happen. ``to`` is the recipient's side."""

    kind: ClassVar[str] = "meet_check"
    meeting_id: int
    pair_id: int
    to: Side


@dataclass(frozen=True)
class MeetAnswered(Notice):
    """The "did you meet?" message, updated with the answer (for the asker after "Yes", with
    "Try another peer" in case it is not a fit)."""

    kind: ClassVar[str] = "meet_answered"
    meeting_id: int
    pair_id: int
    to: Side
    answer: MeetAnswer


@dataclass(frozen=True)
class AnotherPeerOffer(Notice):
    """To the asker who rated a pairing 1–2 (or said it will not happen): would another peer
    help? One button."""

    kind: ClassVar[str] = "another_peer_offer"
    pair_id: int


@dataclass(frozen=True)
class Rematching(Notice):
    """To the asker who asked for another peer: we are asking, without the earlier one, and
    by when they hear."""

    kind: ClassVar[str] = "rematching"
    ask_id: int
    pair_id: int
    answer_by: datetime


@dataclass(frozen=True)
class HelperReleased(Notice):
    """To the earlier helper of a re-paired ask: thanks, released, nobody's fault."""

    kind: ClassVar[str] = "helper_released"
    pair_id: int


@dataclass(frozen=True)
class HelperAutoPaused(Notice):
    """To a helper whose last ``missed`` offers lapsed unanswered: paused until ``until``
    (their date), why, and Resume now."""

    kind: ClassVar[str] = "helper_auto_paused"
    person_id: int
    missed: int
    until: date


@dataclass(frozen=True)
class HelperResumed(Notice):
    """The pause message, updated once the helper resumed."""

    kind: ClassVar[str] = "helper_resumed"
    person_id: int


@dataclass(frozen=True)
class CommitmentReminder(Notice):
    """To the asker on the morning a commitment is due."""

    kind: ClassVar[str] = "commitment_reminder"
    commitment_id: int


@dataclass(frozen=True)
class AskWaiting(Notice):
    """The "nobody could help" message, updated: we will offer it to a newly available
    matching helper (consent first) until ``until``."""

    kind: ClassVar[str] = "ask_waiting"
    ask_id: int
    until: datetime


@dataclass(frozen=True)
class AskWaitEnded(Notice):
    """To the asker when a waiting ask found nobody in time."""

    kind: ClassVar[str] = "ask_wait_ended"
    ask_id: int


# --------------------------------------------------------------------------- audiences


@dataclass(frozen=True)
class ToPerson:
    """A new message in the app's DM with one person (a Slack user id)."""

    user_id: str


@dataclass(frozen=True)
class ToGroup:
    """A new message in the group DM of these people and the app."""

    user_ids: tuple[str, ...]


@dataclass(frozen=True)
class Replacing:
    """An update of the message sent earlier under outbox key ``key``; when that message could
    never be delivered, a new message to ``fallback`` (a Slack user id) instead, if given."""

    key: str
    fallback: str | None = None


@dataclass(frozen=True)
class ToChannel:
    """A new message in a channel the app is a member of (a circle's private channel)."""

    channel_id: str


Audience = ToPerson | ToGroup | Replacing | ToChannel


# --------------------------------------------------------------------------- storage


def notice_types() -> dict[str, type[Notice]]:
    """Every notice kind and its class."""
    return dict(Notice._registry)


def _to_json(value: object) -> object:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("notices hold aware datetimes only")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"a notice cannot hold {type(value).__name__}")


def _from_json(kind: Any, value: object) -> object:
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if value is None and len(options) < len(typing.get_args(kind)):
            return None
        (only,) = options
        return _from_json(only, value)
    if origin is tuple:
        (item, _ellipsis) = typing.get_args(kind)
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {value!r}")
        return tuple(_from_json(item, v) for v in value)
    if kind is datetime:
        parsed = datetime.fromisoformat(str(value))
        if parsed.tzinfo is None:
            raise ValueError("notices hold aware datetimes only")
        return parsed
    if kind is date:
        return date.fromisoformat(str(value))
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return kind(str(value))
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected a boolean, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported field type {kind!r}")


def _encode_fields(obj: object) -> dict[str, object]:
    return {f.name: _to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}  # type: ignore[arg-type]


@functools.cache
def _field_types(cls: type) -> tuple[tuple[str, Any], ...]:
    """Each field's name and resolved type (resolved once per class: it is slow)."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


def _decode_fields(cls: type, data: dict[str, object]) -> Any:
    types_ = _field_types(cls)
    hints = dict(types_)
    names = [name for name, _ in types_]
    extra = set(data) - set(names)
    missing = set(names) - set(data)
    if extra or missing:
        raise ValueError(
            f"{cls.__name__}: unexpected {sorted(extra)} / missing {sorted(missing)} fields"
        )
    return cls(**{n: _from_json(hints[n], data[n]) for n in names})


def encode(notice: Notice) -> dict[str, object]:
    """The JSON form of a notice: ``{"kind": ..., <fields>}``."""
    if type(notice).kind not in Notice._registry:
        raise TypeError(f"{type(notice).__name__} is not a registered notice")
    return {"kind": notice.kind, **_encode_fields(notice)}


def decode(data: dict[str, object]) -> Notice:
    """The notice stored as ``data`` (strict: unknown kinds and fields are errors)."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    cls = Notice._registry.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown notice kind {kind!r}")
    notice: Notice = _decode_fields(cls, fields)
    return notice


_AUDIENCES: dict[str, type[Any]] = {
    "person": ToPerson,
    "group": ToGroup,
    "replacing": Replacing,
    "channel": ToChannel,
}


def encode_audience(audience: Audience) -> dict[str, object]:
    """The JSON form of an audience: ``{"type": "person" | "group" | "replacing", ...}``."""
    for name, cls in _AUDIENCES.items():
        if type(audience) is cls:
            return {"type": name, **_encode_fields(audience)}
    raise TypeError(f"not an audience: {audience!r}")


def decode_audience(data: dict[str, object]) -> Audience:
    """The audience stored as ``data``."""
    fields = dict(data)
    cls = _AUDIENCES.get(str(fields.pop("type", None)))
    if cls is None:
        raise ValueError(f"unknown audience {data!r}")
    audience: Audience = _decode_fields(cls, fields)
    return audience


# --------------------------------------------------------------------------- what renderers read


class NoticeGone(LookupError):
    """What a notice refers to no longer exists (withdrawn, deleted, redacted)."""


@dataclass(frozen=True)
class AskView:
    """An ask as its messages show it. ``asker`` is the asker's Slack user id."""

    ask_id: int
    asker: str
    asker_tz: str | None
    anonymous: bool
    challenge: str
    desired_result: str
    obstacles: str
    urgency: str
    #: Still being looked for a peer (:data:`peerbot.domain.asks.LOOKING`).
    waiting: bool = True


@dataclass(frozen=True)
class OfferView:
    """An offer to one helper."""

    offer_id: int
    ask: AskView
    helper: str
    helper_tz: str | None
    explanation: str
    expires_at: datetime | None
    #: Still waiting for this helper's answer.
    pending: bool = True


@dataclass(frozen=True)
class CommitmentView:
    """One commitment of the asker."""

    commitment_id: int
    text: str
    due: date | None


@dataclass(frozen=True)
class PairView:
    """A pair with its ask and (up to a few) open commitments."""

    pair_id: int
    ask: AskView
    asker: str
    helper: str
    closed_by: str | None
    open_commitments: tuple[CommitmentView, ...]
    #: Why this peer was chosen, as the asker may read it (shared experience only; "" if none).
    why: str = ""
    #: Its check-ins are paused (unanswered): its "did you meet?" waits until they resume.
    paused: bool = False


@dataclass(frozen=True)
class CheckinView:
    """A check-in of a pair, with its answer once given (``None`` until then)."""

    checkin_id: int
    pair: PairView
    answer: str | None
    #: The asker chose "Stop check-ins": no next check-in is planned for this pair.
    checkins_stopped: bool = False


# Notices kept in their own modules register on import; importing them here means every reader
# of the outbox (which decodes through this module) knows their kinds.
from peerbot.domain import circle_notices as _circle_notices  # noqa: E402, F401

# Notices kept in their own modules register themselves on import (they subclass Notice).
from peerbot.domain import journey_notices as _journey_notices  # noqa: E402,F401
