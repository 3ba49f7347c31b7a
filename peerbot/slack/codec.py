"""Button values and modal ``private_metadata``: the one codec shared by builders and listeners.

Builders call ``encode``; listeners call ``decode``. Slack echoes these strings back inside signed
requests, but a stale message, a bug or a hand-made payload can still carry anything, so
``decode`` checks the shape and raises :class:`BadValue` instead of letting ``int()`` or a
database overflow turn a click into a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: Row ids are PostgreSQL ``integer`` columns: anything larger cannot name a row.
MAX_ID = 2**31 - 1


class BadValue(ValueError):
    """A button value or ``private_metadata`` that does not decode (tampered, stale or missing)."""


@dataclass(frozen=True)
class IdCodec:
    """A value that is one row id, e.g. an offer's Accept button or the close modal's metadata."""

    what: str

    def encode(self, row_id: int) -> str:
        """The value to put on the button (or into ``private_metadata``)."""
        if not 0 < row_id <= MAX_ID:
            raise ValueError(f"{self.what} id out of range: {row_id}")
        return str(row_id)

    def decode(self, value: object) -> int:
        """The row id in ``value``; :class:`BadValue` if it is not one."""
        if not isinstance(value, str) or not value.isascii() or not value.isdigit():
            raise BadValue(f"{self.what} id is not a number: {value!r:.40}")
        row_id = int(value)
        if not 0 < row_id <= MAX_ID:
            raise BadValue(f"{self.what} id out of range: {value!r:.40}")
        return row_id


class SnoozeChoice(StrEnum):
    """The options of a check-in's overflow menu."""

    SNOOZE_1 = "snooze_1"
    SNOOZE_2 = "snooze_2"
    BIWEEKLY = "biweekly"
    WEEKLY = "weekly"
    STOP = "stop"


@dataclass(frozen=True)
class Snooze:
    """A decoded overflow choice: which pair, and what to do with its check-ins."""

    pair_id: int
    choice: SnoozeChoice


@dataclass(frozen=True)
class SnoozeCodec:
    """``"{pair_id}:{choice}"``, the value of each option in the check-in's overflow menu."""

    pair: IdCodec

    def encode(self, pair_id: int, choice: str) -> str:
        """The option value for ``choice`` on ``pair_id``."""
        return f"{self.pair.encode(pair_id)}:{SnoozeChoice(choice).value}"

    def decode(self, value: object) -> Snooze:
        """The pair and the choice; :class:`BadValue` if either is missing or unknown."""
        if not isinstance(value, str) or ":" not in value:
            raise BadValue(f"snooze value has no choice: {value!r:.40}")
        pair_raw, choice = value.split(":", 1)
        try:
            parsed = SnoozeChoice(choice)
        except ValueError:
            raise BadValue(f"unknown snooze choice: {choice!r:.40}") from None
        return Snooze(self.pair.decode(pair_raw), parsed)


#: Accept and Pass on an offer; the pass modal's metadata.
OFFER = IdCodec("offer")
#: Add a commitment, Close, feedback; the commitment and close modals' metadata.
PAIR = IdCodec("pair")
#: The check-in answer buttons (done, in progress, stuck, the helper's "going well").
CHECKIN = IdCodec("check-in")
#: A commitment's Done button.
COMMITMENT = IdCodec("commitment")
#: The check-in overflow menu (snooze, cadence, stop).
SNOOZE = SnoozeCodec(PAIR)
#: A request's Withdraw button (the receipt DM, App Home).
ASK = IdCodec("request")
