"""Notices of issue 13's "nothing irreversible, every screen true": a withdrawn request, a
pause told to each side in their own words, and a helper's own pause.

Registered on import (``peerbot.domain.notices`` imports this module at its end), rendered by
``peerbot.slack.render_journey``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from peerbot.domain.notices import Notice, Side


@dataclass(frozen=True)
class AskWithdrawn(Notice):
    """The asker's receipt, updated: they withdrew the request; nobody else will be asked."""

    kind: ClassVar[str] = "ask_withdrawn"
    ask_id: int
    #: Withdrawn while waiting after "Tell me when someone can" (no peer had it then).
    while_waiting: bool = False


@dataclass(frozen=True)
class AskEnded(Notice):
    """The asker's receipt, updated once the request stopped waiting without a peer (nobody
    could take it, or Slack would not carry it): its Edit and Withdraw buttons go, as both
    would be refused; a later message says what happened."""

    kind: ClassVar[str] = "ask_ended"
    ask_id: int


@dataclass(frozen=True)
class PairPausedTo(Notice):
    """To one of the two, in their own DM: check-ins paused after no answers. ``to`` is their
    side, so the asker gets the buttons only the asker can use and the helper does not."""

    kind: ClassVar[str] = "pair_paused_to"
    pair_id: int
    to: Side


@dataclass(frozen=True)
class HelperPaused(Notice):
    """To a helper who set a pause: no offers until ``until`` (their date), when it ends by
    itself; **Resume now** ends it at once."""

    kind: ClassVar[str] = "helper_paused"
    person_id: int
    until: date


@dataclass(frozen=True)
class AskEdited(Notice):
    """The asker's receipt, updated after they edited the request: its new text, the same
    timing as the receipt said (``answer_by``, ``max_offers`` copied from it), and a note."""

    kind: ClassVar[str] = "ask_edited"
    ask_id: int
    answer_by: datetime
    max_offers: int


@dataclass(frozen=True)
class OfferEdited(Notice):
    """A helper's pending offer DM, updated after the asker edited the request: the current
    text, Accept / Pass, and a note that the asker edited it."""

    kind: ClassVar[str] = "offer_edited"
    offer_id: int


@dataclass(frozen=True)
class PairMessageEnded(Notice):
    """A message of a pairing that carried its buttons (a check-in, the helper's monthly check,
    a commitment reminder, the asker's receipt, a "did you meet?" or its "Yes, we met" reply),
    updated once the pairing ended: it says so and has no buttons, as each of them would be
    refused."""

    kind: ClassVar[str] = "pair_message_ended"
    pair_id: int
