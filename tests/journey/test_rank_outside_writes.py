"""Ranking holds no write lock: when a helper passes, an offer expires, an offer cannot be
delivered, a helper's data is deleted, or the tick looks at asks waiting for a helper, the
candidates are ranked before (or after) the write transaction that records it, as the first
offer is; the write re-checks each candidate.

A spy around the real matcher checks, at each ranking, that a write could start now: on
SQLite another connection takes the write lock at once; on PostgreSQL the ranking's own
transaction has written nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from peerbot.services.matching import Ranked
from peerbot.store.db import unit_of_work
from peerbot.store.models import Ask, HelperProfile, Person
from tests.fixtures.app import Harness
from tests.journey.test_ask_accept import seed_helpers, text_of


class _WriteLockSpy:
    """Wraps the matcher; records for each ranking whether a write lock was held."""

    def __init__(self, inner: Any, engine: Engine) -> None:
        self._inner = inner
        self._engine = engine
        self.locked: list[bool] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _write_lock_held(self, session: Session) -> bool:
        if self._engine.dialect.name == "postgresql":
            mine = session.execute(text("SELECT txid_current_if_assigned()")).scalar()
            return mine is not None
        raw = self._engine.raw_connection()
        try:
            cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
            cur.execute("PRAGMA busy_timeout = 0")
            try:
                cur.execute("BEGIN IMMEDIATE")
            except Exception:  # "database is locked"
                return True
            cur.execute("ROLLBACK")
            return False
        finally:
            raw.close()

    def candidates_for(
        self, session: Session, ask: Ask, asker: Person, vector: Any, now: datetime
    ) -> Sequence[Ranked]:
        self.locked.append(self._write_lock_held(session))
        return self._inner.candidates_for(session, ask, asker, vector, now)


def _spy(harness: Harness) -> _WriteLockSpy:
    asks = harness.container.asks
    spy = _WriteLockSpy(asks._ranker, harness.container.engine)
    asks._ranker = spy
    return spy


def test_a_pass_ranks_the_next_helper_without_the_write_lock(harness: Harness) -> None:
    helpers = seed_helpers(harness)
    spy = _spy(harness)
    asker = harness.add_user("alex")
    harness.ask(asker, "How do I give hard feedback to a senior engineer about behaviour?")
    first = harness.dms(helpers["feedback"])[0]
    harness.click(helpers["feedback"], first, "offer_pass")
    modal = harness.emulator.top_modal(helpers["feedback"])
    assert modal is not None
    harness.driver.view_submission(
        helpers["feedback"], modal["id"], {("pass_reason", "pass_reason_input"): "Too busy"}
    )
    harness.settle()
    assert sum(1 for u in (helpers["hiring"], helpers["reorg"]) if harness.dms(u)) == 1
    assert len(spy.locked) == 2  # the first offer, then the next after the pass
    assert spy.locked == [False, False]


def test_an_expiry_ranks_the_next_helper_without_the_write_lock(harness: Harness) -> None:
    helpers = seed_helpers(harness)
    spy = _spy(harness)
    asker = harness.add_user("alex")
    harness.ask(asker, "How do I give hard feedback to a senior engineer about behaviour?")
    harness.advance(timedelta(hours=4, minutes=1))
    assert "no answer in time" in text_of(harness.dms(helpers["feedback"])[0])
    assert sum(1 for u in (helpers["hiring"], helpers["reorg"]) if harness.dms(u)) == 1
    assert len(spy.locked) == 2
    assert spy.locked == [False, False]


def test_an_offer_not_delivered_moves_on_ranking_without_the_write_lock(
    harness: Harness,
) -> None:
    """The outbox's failure hook skips the helper in its own transaction; the next candidates
    are ranked after it commits (the hook used to rank inside it)."""
    helpers = seed_helpers(harness)
    harness.emulator.set_can_be_messaged(helpers["feedback"], False)
    spy = _spy(harness)
    asker = harness.add_user("alex")
    harness.ask(asker, "How do I give hard feedback to a senior engineer about behaviour?")
    assert harness.dms(helpers["feedback"]) == []
    assert sum(1 for u in (helpers["hiring"], helpers["reorg"]) if harness.dms(u)) == 1
    assert len(spy.locked) == 2  # the first offer, then the next after the failed delivery
    assert spy.locked == [False, False]


def test_a_forgotten_helper_s_offer_moves_on_ranking_without_the_write_lock(
    harness: Harness,
) -> None:
    """Forget releases the helper's pending offer; the ask is ranked again after it commits."""
    helpers = seed_helpers(harness)
    spy = _spy(harness)
    asker = harness.add_user("alex")
    harness.ask(asker, "How do I give hard feedback to a senior engineer about behaviour?")
    assert harness.dms(helpers["feedback"])
    harness.container.privacy.forget(harness.team, helpers["feedback"])
    harness.settle()
    assert sum(1 for u in (helpers["hiring"], helpers["reorg"]) if harness.dms(u)) == 1
    assert len(spy.locked) == 2
    assert spy.locked == [False, False]


def test_a_waiting_ask_ranks_a_new_helper_without_the_write_lock(harness: Harness) -> None:
    """ "Tell me when someone can": the tick ranks waiting asks before its write."""
    h = harness
    spy = _spy(h)
    asker = h.add_user("alex")
    h.ask(asker, "How do I give hard feedback to a senior engineer about behaviour?")
    unmet = next(m for m in h.dms(asker) if "We are sorry" in text_of(m))
    h.click(asker, unmet, "ask_wait_for_helper")
    h.advance(timedelta(minutes=1))
    helper = h.add_helper("fiona", "Gave hard feedback to senior engineers many times.")
    h.advance(timedelta(minutes=1))
    assert h.dms(helper), "the waiting ask was not offered to the new helper"
    assert len(spy.locked) >= 2  # the first ask, then the tick's look at the waiting ask
    assert not any(spy.locked)


class _OptOutFirst(_WriteLockSpy):
    """After ranking, the best candidate opts out (committed) before the write begins."""

    def __init__(self, inner: Any, engine: Engine, harness: Harness) -> None:
        super().__init__(inner, engine)
        self._harness = harness
        self.opted_out: list[str] = []

    def candidates_for(
        self, session: Session, ask: Ask, asker: Person, vector: Any, now: datetime
    ) -> Sequence[Ranked]:
        ranked = super().candidates_for(session, ask, asker, vector, now)
        if ranked and not self.opted_out:
            best = ranked[0].candidate
            with unit_of_work(self._harness.container.sessions) as s:
                profile = s.get(HelperProfile, best.person_id)
                assert profile is not None
                profile.opted_in = False
            self.opted_out.append(best.user_id)
        return ranked


def test_a_helper_who_opts_out_after_the_ranking_is_skipped(harness: Harness) -> None:
    """Ranked outside the write, re-checked inside it: the candidate who opted out in between
    is not offered the ask; the next one is."""
    helpers = seed_helpers(harness)
    asks = harness.container.asks
    spy = _OptOutFirst(asks._ranker, harness.container.engine, harness)
    asks._ranker = spy
    asker = harness.add_user("alex")
    harness.ask(asker, "How do I give hard feedback to a senior engineer about behaviour?")
    assert spy.opted_out == [helpers["feedback"]]
    assert harness.dms(helpers["feedback"]) == []
    assert sum(1 for u in (helpers["hiring"], helpers["reorg"]) if harness.dms(u)) == 1


def test_try_another_peer_ranks_without_the_write_lock(harness: Harness) -> None:
    """ "Try another peer" ranks the next helper before its write (which releases the first
    helper and offers the ask again); the first helper is not among the candidates."""
    h = harness
    first = h.add_helper("fiona", "Gave hard feedback to senior engineers about code reviews.")
    second = h.add_helper("gus", "Coached senior engineers through hard feedback on code reviews.")
    asker = h.add_user("alex")
    h.ask(asker, "How do I give hard feedback to a senior engineer about their code reviews?")
    offered, other = h.first_offered(first, second)
    h.click(offered, h.dms(offered)[0], "offer_accept")
    h.advance(timedelta(days=3, minutes=30))
    met = next(m for m in reversed(h.dms(asker)) if "manage to meet" in text_of(m))
    h.click(asker, met, "meet_yes")
    spy = _spy(h)
    done = next(m for m in reversed(h.dms(asker)) if "You met" in text_of(m))
    h.click(asker, done, "pair_another_peer")
    assert "looking for a peer" in text_of(h.dms(other)[0])
    assert spy.locked == [False]  # one ranking, outside the write
    assert "We are asking another peer" in text_of(h.dms(asker)[-1])
