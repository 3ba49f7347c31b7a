"""Offers that lapse together in one tick: each ask still goes to exactly one next helper.

The tick ranks the next candidates of every lapsing offer before its write transaction (issue 11),
when the helpers whose offers are lapsing still hold them and so are left out of each ranking as
having no room (``MAX_PENDING_OFFERS_PER_HELPER``). In the write, the first ask takes the one
helper those rankings share; the second found nobody left in its ranking and was told "nobody is
free", although the first ask's helper had just become free. That is what made some asks of the
three-worker test (``test_workers.py``) end with one expired offer and no next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from peerbot.domain.ports import Embedder
from peerbot.store.db import unit_of_work
from peerbot.store.models import Ask, AskStatus, Offer, OfferStatus, Person
from tests.fixtures.app import Harness, make_harness
from tests.journey.test_ask_accept import seed_helpers


@pytest.fixture
def one_offer_each(engine: Engine, db_url: str, real_embedder: Embedder) -> Iterator[Harness]:
    """The app with helpers holding one offer at a time."""
    yield from make_harness(engine, db_url, real_embedder, max_pending_offers_per_helper=1)


def _offers(h: Harness) -> dict[str, list[tuple[str, str]]]:
    """Per asker: (helper, status) of each offer of their ask, oldest first."""
    helper = Person.__table__.alias("helper")
    asker = Person.__table__.alias("asker")
    with unit_of_work(h.container.sessions) as s:
        rows = s.execute(
            select(asker.c.slack_user_id, helper.c.slack_user_id, Offer.status)
            .join(Ask, Ask.id == Offer.ask_id)
            .join(asker, asker.c.id == Ask.asker_id)
            .join(helper, helper.c.id == Offer.helper_id)
            .order_by(Offer.id)
        ).all()
    out: dict[str, list[tuple[str, str]]] = {}
    for a, hlp, status in rows:
        out.setdefault(a, []).append((hlp, str(status)))
    return out


def test_offers_lapsing_together_each_go_to_one_next_helper(one_offer_each: Harness) -> None:
    h = one_offer_each
    helpers = seed_helpers(h)
    ann, ben = h.add_user("ann"), h.add_user("ben")
    h.ask(ann, "How do I give hard feedback to a senior engineer about his behaviour?")
    h.ask(ben, "How do I build a hiring pipeline and close candidates for a new team?")
    first = {a: v[0][0] for a, v in _offers(h).items()}
    assert first == {ann: helpers["feedback"], ben: helpers["hiring"]}

    h.advance(timedelta(hours=4, minutes=1))  # both lapse in the same tick

    offers = _offers(h)
    assert [s for _, s in offers[ann]] == [OfferStatus.EXPIRED, OfferStatus.PENDING]
    assert [s for _, s in offers[ben]] == [OfferStatus.EXPIRED, OfferStatus.PENDING]
    # One of them got the helper nobody held; the other the first one's helper, free again.
    nexts = {offers[ann][1][0], offers[ben][1][0]}
    assert helpers["reorg"] in nexts
    assert nexts - {helpers["reorg"]} <= {helpers["feedback"], helpers["hiring"]}
    assert len(nexts) == 2
    with unit_of_work(h.container.sessions) as s:
        assert set(s.scalars(select(Ask.status))) == {AskStatus.OFFERED}
    for asker in (ann, ben):
        assert not any("could not take" in t for t in h.texts(asker)), h.texts(asker)
    for user in nexts:  # and the new helpers were asked
        assert any("offer_accept" in str(m.get("blocks")) for m in h.dms(user))
