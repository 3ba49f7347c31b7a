"""Per-person caps: asks waiting per asker, offers waiting per helper (also under concurrency)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from peerbot.domain.asks import AskInput
from peerbot.domain.ports import Embedder, Vector
from peerbot.services.asks import AskService, MatchPolicy, SubmitResult, TooManyOpen
from peerbot.services.matching import IndexedMatcher, Matcher, Ranked
from peerbot.store.db import unit_of_work
from peerbot.store.models import Ask, AskStatus, Offer, OfferStatus, Person
from tests.fixtures.app import Harness, make_harness

CHALLENGES = [
    "I need to give hard feedback to a senior engineer about behaviour in code reviews.",
    "My team keeps missing deadlines and I do not know how to raise it with them.",
    "Two of my reports are in conflict and it is hurting the whole team's work.",
    "I have to tell my team about a re-org that I do not fully agree with myself.",
]


def pending_offers(h: Harness, helper: str) -> int:
    with unit_of_work(h.container.sessions) as s:
        return (
            s.scalar(
                select(func.count())
                .select_from(Offer)
                .join(Person, Person.id == Offer.helper_id)
                .where(Person.slack_user_id == helper, Offer.status == OfferStatus.PENDING)
            )
            or 0
        )


def ask_count(h: Harness) -> int:
    with unit_of_work(h.container.sessions) as s:
        return s.scalar(select(func.count()).select_from(Ask)) or 0


def test_a_helper_gets_at_most_the_capped_number_of_offers(harness: Harness) -> None:
    """Ten asks in a row used to send ten offers to one helper; now two wait, at most."""
    h = harness
    helper = h.add_helper("fiona", "Gave hard feedback, handled conflict and deadlines.")
    askers = [h.add_user(f"asker{i}") for i in range(4)]
    for asker, text in zip(askers, CHALLENGES, strict=True):
        h.ask(asker, text)
    assert pending_offers(h, helper) == 2  # MAX_PENDING_OFFERS_PER_HELPER's default
    assert len(h.dms(helper)) == 2
    with unit_of_work(h.container.sessions) as s:
        statuses = list(s.scalars(select(Ask.status).order_by(Ask.id)))
    # Nobody else can help: the last two asks are told so instead of piling on the helper.
    assert statuses == [AskStatus.OFFERED, AskStatus.OFFERED, AskStatus.UNMET, AskStatus.UNMET]


class _AllSnapshotsFirst:
    """A :class:`Matcher` that holds every ranking until ``parties`` of them have loaded their
    snapshot (or ``timeout`` passed): the worst case for a cap checked on a snapshot."""

    def __init__(self, inner: Matcher, parties: int, timeout: float) -> None:
        self._inner = inner
        self._barrier = threading.Barrier(parties)
        self._timeout = timeout

    def candidates_for(
        self, session: Session, ask: Ask, asker: Person, vector: Vector, now: datetime
    ) -> list[Ranked]:
        ranked = self._inner.candidates_for(session, ask, asker, vector, now)
        with contextlib.suppress(threading.BrokenBarrierError):  # SQLite: one writer at a time
            self._barrier.wait(self._timeout)
        return ranked


def test_two_asks_at_the_same_moment_do_not_both_offer_to_a_helper_at_the_cap(
    harness: Harness,
) -> None:
    h = harness
    helper = h.add_helper("fiona", "Gave hard feedback, handled conflict and deadlines.")
    first = h.add_user("asker0")
    h.ask(first, CHALLENGES[0])
    assert pending_offers(h, helper) == 1  # one more is allowed
    c = h.container
    matcher = _AllSnapshotsFirst(
        IndexedMatcher(c.embedder.model_name, c.embedder.dimension, max_pending_offers=2),
        parties=2,
        timeout=2.0,
    )
    service = AskService(c.sessions, h.clock, c.embedder, c.gateway, matcher, MatchPolicy())
    askers = [h.add_user("asker1"), h.add_user("asker2")]
    errors: list[BaseException] = []

    def submit(user: str, text: str) -> None:
        try:
            service.submit(h.team, user, AskInput(challenge=text), client_key=f"view-{user}")
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [
        threading.Thread(target=submit, args=(u, t))
        for u, t in zip(askers, CHALLENGES[1:3], strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert pending_offers(h, helper) == 2


@pytest.fixture
def capped_harness(engine: Engine, db_url: str, real_embedder: Embedder) -> Iterator[Harness]:
    """The app with room for two waiting asks per person."""
    yield from make_harness(engine, db_url, real_embedder, max_open_asks_per_asker=2)


def test_an_asker_at_the_cap_is_told_at_the_field_and_keeps_the_text(
    capped_harness: Harness,
) -> None:
    h = capped_harness
    for i in range(3):
        h.add_helper(f"helper{i}", "Gave hard feedback, handled conflict and deadlines.")
    asker = h.add_user("alex")
    for text in CHALLENGES[:2]:
        r = h.ask(asker, text)
        assert r.status == 200 and not r.body
    # The command says so at once, naming what waits, and opens no dialog.
    r = h.driver.slash_command("/peerhelp", asker, "")
    h.settle()
    assert r.status == 200
    body: dict[str, Any] = r.body
    assert body["response_type"] == "ephemeral"
    assert "You already have 2 requests waiting" in body["text"]
    assert "“I need to give hard feedback" in body["text"]
    assert h.emulator.top_modal(asker) is None
    # A dialog opened from App Home is refused at the field, and stays open with the text.
    h.driver.app_home_opened(asker)
    h.settle()
    home = h.emulator.home_view(asker)
    assert home is not None
    h.driver.block_action(asker, "home_ask_for_help", view_id=home["id"])
    h.settle()
    modal = h.emulator.top_modal(asker)
    assert modal is not None
    r = h.driver.view_submission(
        asker, modal["id"], {("challenge", "challenge_input"): CHALLENGES[2]}
    )
    assert r.status == 200
    assert r.body["response_action"] == "errors"
    assert "You already have 2 requests waiting" in r.body["errors"]["challenge"]
    assert h.emulator.view_is_open(modal["id"])
    h.settle()
    assert ask_count(h) == 2


def test_record_refuses_past_the_cap_and_names_the_waiting_asks(harness: Harness) -> None:
    h = harness
    h.add_helper("fiona", "Gave hard feedback, handled conflict and deadlines.")
    asker = h.add_user("alex")
    asks = h.container.asks
    for i, text in enumerate(CHALLENGES[:3]):
        result = asks.record(h.team, asker, AskInput(challenge=text), client_key=f"v{i}")
        assert isinstance(result, SubmitResult)
    refused = asks.record(h.team, asker, AskInput(challenge=CHALLENGES[3]), client_key="v3")
    assert isinstance(refused, TooManyOpen)
    assert refused.limit == 3
    assert [a.challenge for a in refused.open_asks] == CHALLENGES[:3]
    assert asks.cap_reached(h.team, asker) == refused
    assert ask_count(h) == 3
