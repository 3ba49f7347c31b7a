"""Protocols the domain and services depend on; adapters implement them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from peerbot.domain.circle_notices import CircleFacts
from peerbot.domain.notices import (
    AskView,
    Audience,
    CheckinView,
    CommitmentView,
    Notice,
    OfferView,
    PairView,
)

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-normalised float32 vectors."""

    @property
    def model_name(self) -> str:
        """A stable name of the model that made the vectors (stored beside each vector)."""
        ...

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        ...

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed texts; returns shape (len(texts), dimension), float32, rows of norm 1."""
        ...


class Clock(Protocol):
    """The source of 'now'. Always timezone-aware UTC."""

    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...


class DirectoryError(Exception):
    """Looking someone up failed for a reason other than "no such person" (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SentRef:
    """Where a delivered message is, so that it can be updated later."""

    channel: str
    ts: str | None


@dataclass(frozen=True)
class OutboxJob:
    """One claimed outbox message, handed to the :class:`Deliverer`.

    ``replace`` is set for a :class:`~peerbot.domain.notices.Replacing` audience (the message to
    update). ``unconfirmed_since`` is when an earlier attempt whose outcome is unknown began: the
    message may already be in Slack and must be looked for before posting again. ``last_chance``:
    the message crashed its senders too often; settle it from history, but do not post again.
    """

    team_id: str
    key: str
    notice: Notice
    audience: Audience
    replace: SentRef | None = None
    unconfirmed_since: datetime | None = None
    last_chance: bool = False


class Failure(StrEnum):
    """Why a delivery failed, which decides what happens next."""

    #: Slack or the network failed; the same call may work later.
    TRANSIENT = "transient"
    #: Slack asked to wait (``retry_after`` seconds).
    RATE_LIMITED = "rate_limited"
    #: This one recipient cannot be messaged (DMs closed, not visible to the app, ...).
    RECIPIENT = "recipient"
    #: The recipient's account is deactivated or unknown.
    DEACTIVATED = "deactivated"
    #: Nothing can be sent in this workspace until an operator acts (token, scopes).
    WORKSPACE = "workspace"
    #: Slack refused this message itself (its content), whoever it was for.
    REJECTED = "rejected"
    #: What the notice is about no longer exists; there is nothing to say.
    GONE = "gone"
    #: The message crashed its senders too many times and was not found in Slack.
    ABANDONED = "abandoned"


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one delivery attempt did: ``sent`` on success, else ``failure`` and ``code``."""

    sent: SentRef | None = None
    #: Found already in Slack after an earlier attempt with an unknown outcome (not re-posted).
    recovered: bool = False
    failure: Failure | None = None
    #: Slack's error code (or a short reason) for logs and ``last_error``.
    code: str = ""
    retry_after: float | None = None
    #: This attempt may have posted although it failed (no clear answer from Slack).
    maybe_posted: bool = False
    #: Earlier attempts with an unknown outcome are settled (none, or not found in Slack).
    prior_settled: bool = True


class Deliverer(Protocol):
    """Delivers one outbox message to Slack: renders the notice at send time and posts it."""

    def deliver(self, job: OutboxJob) -> DeliveryOutcome:
        """Deliver ``job``; never raises for Slack's or the network's failures."""
        ...


class NoticeFacts(CircleFacts, Protocol):
    """Reads what a notice refers to, at send time (raises ``NoticeGone`` when it is gone)."""

    def ask(self, ask_id: int) -> AskView:
        """The ask."""
        ...

    def offer(self, offer_id: int) -> OfferView:
        """The offer with its ask."""
        ...

    def pair(self, pair_id: int) -> PairView:
        """The pair with its ask and open commitments."""
        ...

    def checkin(self, checkin_id: int) -> CheckinView:
        """The check-in with its pair."""
        ...

    def commitment(self, commitment_id: int) -> tuple[CommitmentView, PairView]:
        """The commitment and its pair."""
        ...

    def thanks(self, pair_id: int) -> str:
        """The asker's thank-you to the helper ("" when none)."""
        ...

    def export(self, person_id: int) -> str:
        """Every row about the person, as indented JSON text."""
        ...


#: Opens a short read of one workspace's notice facts: ``with read(team_id) as facts: ...``.
FactsReader = Callable[[str], AbstractContextManager[NoticeFacts]]


@dataclass(frozen=True)
class UserInfo:
    """What peerbot reads about a Slack user."""

    user_id: str
    name: str
    real_name: str = ""
    email: str | None = None
    tz: str | None = None
    deleted: bool = False
    is_bot: bool = False
    #: A guest (``is_restricted`` or ``is_ultra_restricted``) or an app user.
    is_guest: bool = False
    #: A workspace owner or admin (``is_owner``, ``is_primary_owner`` or ``is_admin``).
    is_workspace_admin: bool = False

    @property
    def may_help(self) -> bool:
        """Whether this account may ever be a helper: not a guest, bot, app user or deactivated
        account."""
        return not (self.deleted or self.is_bot or self.is_guest)


class Directory(Protocol):
    """Looks people up in Slack."""

    def user(self, team_id: str, user_id: str) -> UserInfo | None:
        """The user, or None when Slack does not know them (:class:`DirectoryError` otherwise)."""
        ...

    def lookup_by_email(self, team_id: str, email: str) -> UserInfo | None:
        """The user with this email, or None."""
        ...
