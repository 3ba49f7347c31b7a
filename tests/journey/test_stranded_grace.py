"""An ask left offered to nobody waits its grace from the moment its last offer ended.

When an offer lapses, the tick commits the expiry first and moves the ask on afterwards
(``AskService.move_on``). A worker that stops in between leaves the ask being offered to nobody;
another worker's tick (``match_stranded``) moves it on once ``STRANDED_AFTER_SECONDS`` have passed
since it became so. The grace used to be measured from ``Ask.updated_at``, which an expiry does
not touch: an ask offered hours ago counted as stranded the moment its offer lapsed, so another
worker could take it over while the first was still moving it on.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from peerbot.services.asks import AskService
from peerbot.store.db import unit_of_work
from peerbot.store.models import Ask, AskStatus, Offer, OfferStatus
from tests.fixtures.app import Harness
from tests.journey.test_ask_accept import seed_helpers


def _statuses(h: Harness) -> list[OfferStatus]:
    with unit_of_work(h.container.sessions) as s:
        return list(s.scalars(select(Offer.status).order_by(Offer.id)))


def test_an_expired_offer_starts_the_stranded_grace(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    asks = h.container.asks
    grace = asks.stranded_after
    assert grace >= timedelta(seconds=60)
    seed_helpers(h)
    h.ask(
        h.add_user("ann"), "How do I give hard feedback to a senior engineer about his behaviour?"
    )
    assert _statuses(h) == [OfferStatus.PENDING]

    # The worker stops after committing the expiry, before moving the ask on.
    moved: list[list[int]] = []
    monkeypatch.setattr(asks, "move_on", lambda ids: moved.append(list(ids)) or 0)
    h.advance(timedelta(hours=4, minutes=1))  # the offer lapses (4 working hours)
    monkeypatch.setattr(asks, "move_on", AskService.move_on.__get__(asks))
    assert moved, "the expiry did not try to move its ask on"
    assert _statuses(h) == [OfferStatus.EXPIRED]
    with unit_of_work(h.container.sessions) as s:
        assert s.scalar(select(Ask.status)) == AskStatus.OFFERED

    # Within the grace, counted from the expiry, another worker's tick leaves it alone.
    h.clock.advance(grace - timedelta(seconds=30))
    assert asks.match_stranded() == 0
    assert _statuses(h) == [OfferStatus.EXPIRED]

    # Once the grace has passed since the expiry, it moves the ask on to the next helper.
    h.clock.advance(timedelta(seconds=31))
    assert asks.match_stranded() == 1
    h.settle()
    assert _statuses(h) == [OfferStatus.EXPIRED, OfferStatus.PENDING]
