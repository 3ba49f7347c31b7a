"""Protocols the domain and services depend on; adapters implement them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

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


class DeliveryError(Exception):
    """A Slack call failed. ``permanent`` failures are not retried."""

    def __init__(self, code: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.permanent = permanent
        self.retry_after = retry_after

    @property
    def rate_limited(self) -> bool:
        """True for HTTP 429 (``retry_after`` then says how long to wait)."""
        return self.retry_after is not None


#: Slack error codes that mean "this person cannot be reached": skip them, never retry.
UNREACHABLE_CODES = frozenset(
    {
        "user_not_found",
        "user_disabled",
        "users_not_found",
        "cannot_dm_bot",
        "user_not_visible",
        "not_allowed_token_type",
        "account_inactive",
        "is_archived",
        "messages_tab_disabled",
        "restricted_action",
        "channel_not_found",
    }
)


class Messenger(Protocol):
    """Makes one Slack Web API call for a workspace."""

    def call(self, team_id: str, method: str, args: dict[str, object]) -> dict[str, object]:
        """Call ``method`` with ``args``; return Slack's answer or raise :class:`DeliveryError`."""
        ...


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


class Directory(Protocol):
    """Looks people up in Slack."""

    def user(self, team_id: str, user_id: str) -> UserInfo | None:
        """The user, or None when Slack does not know them."""
        ...

    def lookup_by_email(self, team_id: str, email: str) -> UserInfo | None:
        """The user with this email, or None."""
        ...
