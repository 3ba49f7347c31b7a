"""OfferLedger: the offer facts kept current from the offers that can have changed equal the
facts aggregated over every offer, on random histories (both databases)."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from peerbot.services import offer_ledger
from peerbot.services.matching import FAIRNESS_WINDOW, HelperFactsCache
from peerbot.services.offer_ledger import FREEZE_AFTER, OfferFacts, OfferLedger
from peerbot.store.db import session_factory
from peerbot.store.models import Ask, Offer, OfferStatus
from tests.store.builders import add_ask, add_person, add_workspace

TEAM = "T001"
START = datetime(2026, 11, 2, 9, tzinfo=UTC)
SETTLED = [s for s in OfferStatus if s != OfferStatus.PENDING]


def aggregated(session: Session, team_id: str, now: datetime) -> dict[int, OfferFacts]:
    """:data:`OfferFacts` of every helper who was ever offered an ask (grouped queries)."""
    received: dict[int, int] = {}
    accepted: dict[int, int] = {}
    pending: dict[int, int] = {}
    for hid, status, n in session.execute(
        select(Offer.helper_id, Offer.status, func.count())
        .where(Offer.team_id == team_id)
        .group_by(Offer.helper_id, Offer.status)
    ):
        if status != OfferStatus.PENDING:
            received[hid] = received.get(hid, 0) + int(n)
        else:
            pending[hid] = pending.get(hid, 0) + int(n)
        if status == OfferStatus.ACCEPTED:
            accepted[hid] = accepted.get(hid, 0) + int(n)
    recent = {
        int(h): int(n)
        for h, n in session.execute(
            select(Offer.helper_id, func.count())
            .where(Offer.team_id == team_id, Offer.sent_at >= now - FAIRNESS_WINDOW)
            .group_by(Offer.helper_id)
        )
    }
    accept_hours: dict[int, list[float]] = {}
    for hid, sent, responded in session.execute(
        select(Offer.helper_id, Offer.sent_at, Offer.responded_at).where(
            Offer.team_id == team_id,
            Offer.status == OfferStatus.ACCEPTED,
            Offer.sent_at.is_not(None),
            Offer.responded_at.is_not(None),
        )
    ):
        if sent is not None and responded is not None:
            hours = (responded - sent).total_seconds() / 3600
            accept_hours.setdefault(hid, []).append(hours)
    out: dict[int, OfferFacts] = {}
    for hid in received.keys() | pending.keys() | recent.keys() | accept_hours.keys():
        hours_in = accept_hours.get(hid)
        out[hid] = (
            received.get(hid, 0),
            accepted.get(hid, 0),
            pending.get(hid, 0),
            recent.get(hid, 0),
            statistics.median(hours_in) if hours_in else None,
        )
    return out


def _rounded(facts: dict[int, OfferFacts]) -> dict[int, OfferFacts]:
    # Hours to accept are kept to a few milliseconds (computed in SQL when the ledger is built).
    return {k: (*v[:4], None if v[4] is None else round(v[4], 4)) for k, v in facts.items()}


@pytest.mark.parametrize("settle", [0.3, 0.02], ids=["settling", "mostly-waiting"])
def test_the_ledger_equals_aggregating_every_offer(
    engine: Engine, settle: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "mostly-waiting": old pending offers mostly stay so between reads (their part of the
    # facts is kept, but for those leaving the fairness window), read in pages of 3 rows.
    if settle < 0.1:
        monkeypatch.setattr(offer_ledger, "STREAM_ROWS", 3)
    every = 3 if settle > 0.1 else 1
    rng = random.Random(7)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        add_workspace(s, TEAM)
        helpers = [add_person(s, TEAM, f"UH{i}").id for i in range(8)]
        asker = add_person(s, TEAM, "UA")
        asks = [add_ask(s, asker).id for _ in range(40)]
    ledger = OfferLedger(TEAM, FAIRNESS_WINDOW)
    now = START
    froze = 0
    for step in range(60):
        with sessions.begin() as s:
            for _ in range(rng.randint(0, 4)):  # new offers, some settled at once
                ask_id, hid = rng.choice(asks), rng.choice(helpers)
                if s.scalar(
                    select(func.count()).where(Offer.ask_id == ask_id, Offer.helper_id == hid)
                ):
                    continue
                status = rng.choice([OfferStatus.PENDING, OfferStatus.PENDING, *SETTLED])
                ago = timedelta(seconds=rng.randint(0, 11_000))  # fractional hours to accept
                sent = None if rng.random() < 0.1 else now - ago
                s.add(
                    Offer(
                        team_id=TEAM,
                        ask_id=ask_id,
                        helper_id=hid,
                        rank=1,
                        score=0.5,
                        status=status,
                        sent_at=sent,
                        responded_at=None if status == OfferStatus.PENDING else now,
                        created_at=now,
                    )
                )
            for offer in s.scalars(select(Offer).where(Offer.status == OfferStatus.PENDING)):
                if rng.random() < settle:  # pending offers settle later, any way they can
                    offer.status = rng.choice(SETTLED)
                    offer.responded_at = now
        if step % every == 0:
            with Session(engine) as s:
                before = ledger.frozen_upto
                changed = ledger.read(s, now)
                expected = aggregated(s, TEAM, now)
                froze += ledger.frozen_upto > before
                built = OfferLedger(TEAM, FAIRNESS_WINDOW)  # built afresh (in SQL) now
                built.read(s, now)
            assert _rounded(built.facts) == _rounded(expected), step
            got, want = _rounded(ledger.facts), _rounded(expected)
            assert got == want, (step, {k: (got.get(k), want.get(k)) for k in got | want})
            assert changed is not None or step == 0  # built once, kept up to date after
            if changed is not None:
                assert set(changed) <= set(helpers)
        # Time moves on by minutes to weeks: offers freeze, and leave the fairness window.
        now += rng.choice(
            [timedelta(minutes=1), FREEZE_AFTER, timedelta(hours=5), timedelta(days=4)]
        )
    assert froze >= 5  # the prefix grew: the test exercised it, not only the suffix
    assert ledger.frozen_upto > 1
    if settle < 0.1:
        assert ledger.open_kept >= 10  # the old pending offers' tallies were kept, and held


def test_a_ranking_sees_a_pass_made_a_moment_before(engine: Engine) -> None:
    # The facts cache keeps its ledger between rankings: a change to an offer frozen into the
    # prefix cannot happen (settled offers never change), but a pending one settling must show.
    sessions = session_factory(engine)
    with sessions.begin() as s:
        add_workspace(s, TEAM)
        helper = add_person(s, TEAM, "UH1")
        asker = add_person(s, TEAM, "UA")
        ask: Ask = add_ask(s, asker)
        s.add(
            Offer(
                team_id=TEAM,
                ask_id=ask.id,
                helper_id=helper.id,
                rank=1,
                score=0.5,
                status=OfferStatus.PENDING,
                sent_at=START,
                created_at=START,
            )
        )
        helper_id = helper.id
    cache = HelperFactsCache()
    ledger = OfferLedger(TEAM, FAIRNESS_WINDOW)
    with Session(engine) as s:
        ledger.read(s, START + timedelta(hours=1))
        assert ledger.facts[helper_id] == (0, 0, 1, 1, None)
    with sessions.begin() as s:
        offer = s.scalars(select(Offer)).one()
        offer.status = OfferStatus.ACCEPTED
        offer.responded_at = START + timedelta(hours=2)
    with Session(engine) as s:
        changed = ledger.read(s, START + timedelta(hours=3))
        assert changed == {helper_id}
        assert ledger.facts[helper_id] == (1, 1, 0, 1, 2.0)
        cache.helpers(s, TEAM, START + timedelta(hours=3), None)  # and the cache runs on it
