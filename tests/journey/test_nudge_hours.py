"""Scheduled nudges that fall due outside their recipient's working hours (the server was down
overnight, the tick catches up at 23:00 their time) wait for the next working hour there."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from peerbot.store.db import unit_of_work
from peerbot.store.models import Checkin, CheckinKind, Pair
from tests.fixtures.app import Harness
from tests.journey.test_accountability import paired


def due(h: Harness, kind: CheckinKind) -> Checkin:
    with unit_of_work(h.container.sessions) as s:
        return s.scalars(
            select(Checkin).where(Checkin.kind == kind, Checkin.sent_at.is_(None))
        ).one()


def move_to(h: Harness, when: datetime) -> None:
    h.clock.advance(when - h.clock.now())


def at_local(day: datetime, tz: ZoneInfo, t: time) -> datetime:
    return datetime.combine(day.astimezone(tz).date(), t, tzinfo=tz)


def test_an_overdue_checkin_waits_for_the_askers_morning(harness: Harness) -> None:
    h = harness
    berlin = ZoneInfo("Europe/Berlin")
    paired(h, asker_tz="Europe/Berlin")
    first = due(h, CheckinKind.ASKER)
    assert first.due_at.astimezone(berlin).hour == 10
    # The server was down all day; the first tick runs at 23:00 in Berlin.
    move_to(h, at_local(first.due_at, berlin, time(23, 0)))
    assert h.container.pairs.run_due() == 0
    waiting = due(h, CheckinKind.ASKER)
    assert waiting.id == first.id
    local = waiting.due_at.astimezone(berlin)
    assert (local.hour, local.minute) == (9, 0)
    assert local.date() == (first.due_at.astimezone(berlin) + timedelta(days=1)).date()
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Pair)).one().next_checkin_at == waiting.due_at
    # At 08:59 it still waits; at 09:00 it goes out, once.
    move_to(h, waiting.due_at - timedelta(minutes=1))
    assert h.container.pairs.run_due() == 0
    move_to(h, waiting.due_at)
    assert h.container.pairs.run_due() == 1
    with unit_of_work(h.container.sessions) as s:
        sent = s.get(Checkin, first.id)
        assert sent is not None and sent.sent_at == waiting.due_at


def test_the_helpers_monthly_check_waits_for_their_own_working_hours(harness: Harness) -> None:
    """Asker in Tokyo, helper in Los Angeles: 23:00 for the helper is working time for the
    asker, and it is the helper's hours that count for the helper's check."""
    h = harness
    la = ZoneInfo("America/Los_Angeles")
    paired(h, asker_tz="Asia/Tokyo")
    check = due(h, CheckinKind.HELPER_MONTHLY)
    late = at_local(check.due_at, la, time(23, 0))
    move_to(h, late)
    h.container.pairs.run_due()
    waiting = due(h, CheckinKind.HELPER_MONTHLY)
    assert waiting.id == check.id
    local = waiting.due_at.astimezone(la)
    assert (local.hour, local.minute) == (9, 0) and local.weekday() < 5
    assert waiting.due_at > late
    move_to(h, waiting.due_at)
    h.container.pairs.run_due()
    with unit_of_work(h.container.sessions) as s:
        sent = s.get(Checkin, check.id)
        assert sent is not None and sent.sent_at == waiting.due_at
