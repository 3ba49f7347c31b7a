"""The tick sends every check-in due, however many: in batches, each its own transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from peerbot.clock import FrozenClock
from peerbot.services.pairs import PairService
from peerbot.store.db import session_factory, unit_of_work
from peerbot.store.models import (
    Checkin,
    CheckinKind,
    MeetingCheck,
    MeetingSide,
    OutboxMessage,
    Pair,
    PairStatus,
)
from tests.store.builders import add_ask, add_person, add_workspace

#: A Tuesday, 10:00 UTC: inside everyone's working hours.
NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)


def test_run_due_sends_more_than_one_batch(engine: Engine) -> None:
    sessions = session_factory(engine)
    with unit_of_work(sessions) as s:
        add_workspace(s, "T1")
        helper = add_person(s, "T1", "UH", tz="UTC")
        for i in range(5):
            asker = add_person(s, "T1", f"UA{i}", tz="UTC")
            ask = add_ask(s, asker)
            pair = Pair(
                team_id="T1",
                ask_id=ask.id,
                helper_id=helper.id,
                asker_id=asker.id,
                status=PairStatus.ACTIVE,
                next_checkin_at=NOW,
                created_at=NOW,
            )
            s.add(pair)
            s.flush()
            s.add(Checkin(team_id="T1", pair_id=pair.id, kind=CheckinKind.ASKER, due_at=NOW))
    pairs = PairService(sessions, FrozenClock(NOW))
    assert pairs.run_due(limit=2) == 5
    with unit_of_work(sessions) as s:
        left = s.scalar(
            select(func.count()).where(Checkin.sent_at.is_(None), Checkin.due_at <= NOW)
        )
        queued = s.scalar(select(func.count()).select_from(OutboxMessage))
    assert left == 0
    assert queued == 5


def test_a_paused_pairings_held_did_you_meet_holds_up_no_other_pair(engine: Engine) -> None:
    """The "did you meet?" of paused pairings is held (neither sent nor dropped) and left out of
    the batch: a batch of one still reaches the active pairing's, due after it; an ended
    pairing's is dropped."""
    sessions = session_factory(engine)
    with unit_of_work(sessions) as s:
        add_workspace(s, "T1")
        helper = add_person(s, "T1", "UH", tz="UTC")
        for i, status in enumerate([PairStatus.PAUSED, PairStatus.CLOSED, PairStatus.ACTIVE]):
            asker = add_person(s, "T1", f"UA{i}", tz="UTC")
            pair = Pair(
                team_id="T1",
                ask_id=add_ask(s, asker).id,
                helper_id=helper.id,
                asker_id=asker.id,
                status=status,
                created_at=NOW,
            )
            s.add(pair)
            s.flush()
            due = NOW - timedelta(days=3 - i)  # the paused pairing's first
            s.add(MeetingCheck(team_id="T1", pair_id=pair.id, side=MeetingSide.ASKER, due_at=due))
    pairs = PairService(sessions, FrozenClock(NOW))
    pairs._run_meeting_checks(NOW, limit=1)
    pairs._run_meeting_checks(NOW, limit=1)
    with unit_of_work(sessions) as s:
        left = {
            status: sent is not None
            for status, sent in s.execute(
                select(Pair.status, MeetingCheck.sent_at).join(
                    MeetingCheck, MeetingCheck.pair_id == Pair.id
                )
            )
        }
    assert left == {PairStatus.PAUSED: False, PairStatus.ACTIVE: True}
