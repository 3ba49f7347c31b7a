"""Ranking holds no write lock: when a helper passes or an offer expires, the next candidates
are ranked before the write transaction that records it (as the first offer is).

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
from peerbot.store.models import Ask, Person
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
