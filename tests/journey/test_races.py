"""Two helpers accepting the same ask at the same moment make exactly one pair."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from peerbot.domain.ports import Embedder
from peerbot.services.asks import AcceptOutcome
from peerbot.slack.listeners.asks import ACCEPT_REPLIES
from peerbot.store.db import unit_of_work
from peerbot.store.models import Offer, OfferStatus, Pair, Person
from tests.fixtures.app import Harness, make_harness
from tests.journey.test_ask_accept import text_of


@pytest.fixture
def parallel_harness(engine: Engine, db_url: str, real_embedder: Embedder) -> Iterator[Harness]:
    """The app asking two helpers at once (first accept wins)."""
    yield from make_harness(engine, db_url, real_embedder, parallel_offers=2)


def test_two_simultaneous_accepts_make_one_pair(parallel_harness: Harness) -> None:
    h = parallel_harness
    a = h.add_helper("fiona", "Gave hard feedback to senior engineers about their behaviour.")
    b = h.add_helper("frank", "Coached people through difficult feedback conversations.")
    asker = h.add_user("alex")
    h.ask(asker, "How do I give hard feedback to a senior engineer about behaviour?")
    offers = {u: h.dms(u)[0] for u in (a, b)}
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def accept(user: str) -> None:
        barrier.wait()
        r = h.driver.block_action(
            user, "offer_accept", channel_id=offers[user]["channel"], message_ts=offers[user]["ts"]
        )
        statuses.append(r.status)

    threads = [threading.Thread(target=accept, args=(u,)) for u in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    h.settle()
    assert statuses == [200, 200]
    with unit_of_work(h.container.sessions) as s:
        pairs = s.scalars(select(Pair)).all()
        assert len(pairs) == 1
        states = sorted(o.status for o in s.scalars(select(Offer)))
        assert states == sorted([OfferStatus.ACCEPTED, OfferStatus.WITHDRAWN])
        winner_person = s.get(Person, pairs[0].helper_id)
        assert winner_person is not None
        winner = winner_person.slack_user_id
        accepted = s.scalars(select(Offer).where(Offer.status == OfferStatus.ACCEPTED)).one()
        assert accepted.helper_id == pairs[0].helper_id
    assert winner in (a, b)
    loser = b if winner == a else a
    # The intro went to a group DM of exactly the asker, the winner and the bot.
    channel = h.emulator.group_dm([asker, winner])
    assert channel is not None
    assert sorted(h.emulator.conversation(channel)["members"]) == sorted(
        [asker, winner, h.emulator.bot_user_id]
    )
    assert len(h.group_messages(asker, winner)) == 1
    assert h.group_messages(asker, loser) == []
    assert h.emulator.group_dm([asker, a, b]) is None
    assert "You accepted" in text_of(h.dms(winner)[0])
    assert "Another peer took this one" in text_of(h.dms(loser)[0])
    # The loser's own click was answered, privately, with "taken"; the winner heard no such thing.
    taken = ACCEPT_REPLIES[AcceptOutcome.TAKEN]
    assert [e["text"] for e in h.emulator.ephemerals_to(loser)] == [taken]
    assert h.emulator.ephemerals_to(winner) == []
