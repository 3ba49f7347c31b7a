"""Check-ins: local working hours across DST, the bump and pause, snooze and stop, the helper's
monthly check."""

from __future__ import annotations

import itertools
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from peerbot.store.db import unit_of_work
from peerbot.store.models import Checkin, CheckinAnswer, CheckinKind, Pair, PairStatus
from tests.fixtures.app import Harness
from tests.journey.test_accountability import last_with, paired, until_paused
from tests.journey.test_ask_accept import text_of


def sent_checkins(h: Harness, kind: CheckinKind = CheckinKind.ASKER) -> list[Checkin]:
    with unit_of_work(h.container.sessions) as s:
        return list(
            s.scalars(
                select(Checkin)
                .where(Checkin.kind == kind, Checkin.sent_at.is_not(None))
                .order_by(Checkin.due_at)
            )
        )


@pytest.mark.parametrize("tz", ["Pacific/Auckland", "America/Los_Angeles", "Asia/Kolkata"])
def test_checkins_land_in_local_working_hours_across_dst(harness: Harness, tz: str) -> None:
    """20 weeks from late November: past the US spring-forward and the NZ fall-back."""
    h = harness
    asker, _ = paired(h, asker_tz=tz)
    zone = ZoneInfo(tz)
    answered: set[int] = set()
    for _ in range(20 * 7 * 4):  # 6-hour steps for 20 weeks
        h.clock.advance(timedelta(hours=6))
        h.container.pairs.run_due()
        for c in sent_checkins(h):
            if c.id not in answered:
                assert h.container.pairs.answer_checkin(h.team, c.id, asker, "in_progress") == "ok"
                answered.add(c.id)
    sent = sent_checkins(h)
    assert len(sent) >= 19
    offsets = set()
    for c in sent:
        local_due = c.due_at.astimezone(zone)
        assert local_due.weekday() < 5, local_due
        assert local_due.hour == 10 and local_due.minute == 0, local_due
        assert c.sent_at is not None
        assert timedelta(0) <= c.sent_at - c.due_at < timedelta(hours=6)
        offsets.add(local_due.utcoffset())
    if tz != "Asia/Kolkata":
        assert len(offsets) == 2  # the series really crossed a daylight-saving change
    gaps = [b.due_at - a.due_at for a, b in itertools.pairwise(sent)]
    assert all(timedelta(days=5) < g < timedelta(days=10) for g in gaps)


def test_two_unanswered_then_bump_then_paused(harness: Harness) -> None:
    h = harness
    asker, helper = paired(h)
    for _ in range(8):
        h.advance(timedelta(days=1))
    assert len(sent_checkins(h)) == 1
    for _ in range(7):
        h.advance(timedelta(days=1))
    assert len(sent_checkins(h)) == 2
    # The bump falls due on Friday at 10:00, after that day's 09:00 tick; Saturday's tick is
    # outside the asker's working hours, so it goes out with Monday's.
    for _ in range(4):
        h.advance(timedelta(days=1))
    assert sent_checkins(h, CheckinKind.BUMP) == []
    for _ in range(2):
        h.advance(timedelta(days=1))
    bumps = sent_checkins(h, CheckinKind.BUMP)
    assert len(bumps) == 1
    assert any("gentle nudge" in text_of(m) for m in h.dms(asker))
    for _ in range(5):
        h.advance(timedelta(days=1))
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Pair)).one().status == PairStatus.PAUSED
    assert any("paused them" in text_of(m) for m in h.dms(asker))
    assert any("paused them" in text_of(m) for m in h.dms(helper))
    n = len(sent_checkins(h))
    for _ in range(21):
        h.advance(timedelta(days=1))
    assert len(sent_checkins(h)) == n  # paused means quiet


def test_answering_prevents_the_bump(harness: Harness) -> None:
    h = harness
    asker, _ = paired(h)
    for _ in range(15):
        h.advance(timedelta(days=1))
    assert len(sent_checkins(h)) == 2
    latest = sent_checkins(h)[-1]
    assert h.container.pairs.answer_checkin(h.team, latest.id, asker, "done") == "ok"
    for _ in range(5):
        h.advance(timedelta(days=1))
    assert sent_checkins(h, CheckinKind.BUMP) == []


def test_snooze_two_weeks_and_stop(harness: Harness) -> None:
    h = harness
    asker, _ = paired(h)
    with unit_of_work(h.container.sessions) as s:
        pair_id = s.scalars(select(Pair)).one().id
    assert h.container.pairs.snooze(h.team, pair_id, asker, 2) == "ok"
    for _ in range(13):
        h.advance(timedelta(days=1))
    assert sent_checkins(h) == []
    for _ in range(4):
        h.advance(timedelta(days=1))
    assert len(sent_checkins(h)) == 1
    assert h.container.pairs.snooze(h.team, pair_id, asker, 0) == "ok"
    for _ in range(30):
        h.advance(timedelta(days=1))
    assert len(sent_checkins(h)) == 1
    # Only the asker may snooze.
    assert h.container.pairs.snooze(h.team, pair_id, "UNOBODY", 1) == "not_yours"


def test_snooze_from_the_checkin_menu(harness: Harness) -> None:
    h = harness
    asker, _ = paired(h)
    for _ in range(8):
        h.advance(timedelta(days=1))
    checkin = h.dms(asker)[-1]
    assert "quick check-in" in text_of(checkin)
    with unit_of_work(h.container.sessions) as s:
        pair_id = s.scalars(select(Pair)).one().id
    r = h.driver.block_action(
        asker,
        "pair_snooze",
        value=f"{pair_id}:snooze_1",
        channel_id=checkin["channel"],
        message_ts=checkin["ts"],
    )
    assert r.status == 200
    h.settle()
    assert h.emulator.ephemerals_to(asker)[-1]["text"].startswith(
        "Check-ins are snoozed for 1 week"
    )
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Pair)).one().snoozed_until is not None


def test_helper_gets_a_monthly_check(harness: Harness) -> None:
    h = harness
    asker, helper = paired(h)
    with unit_of_work(h.container.sessions) as s:
        pair_id = s.scalars(select(Pair)).one().id
    assert h.container.pairs.snooze(h.team, pair_id, asker, 0) == "ok"  # asker check-ins off
    for _ in range(29):
        h.advance(timedelta(days=1))
    assert not any("monthly check" in text_of(m) for m in h.dms(helper))
    for _ in range(4):
        h.advance(timedelta(days=1))
    check = next(m for m in h.dms(helper) if "monthly check" in text_of(m))
    h.click(helper, check, "helper_check_well")
    assert "Thanks for checking in" in text_of(
        next(m for m in h.dms(helper) if m["ts"] == check["ts"])
    )
    # The asker cannot answer the helper's check.
    c = sent_checkins(h, CheckinKind.HELPER_MONTHLY)[0]
    assert h.container.pairs.answer_checkin(h.team, c.id, asker, "done") == "not_yours"


def test_stuck_on_a_closed_pairing_promises_nothing(harness: Harness) -> None:
    """A check-in message left in the asker's DM after the pairing closed: "Stuck" there is
    refused (the pairing is closed), not answered with "we have let your peer know" while
    nobody is told."""
    from peerbot.services.pairs import CloseInput

    h = harness
    asker, helper = paired(h)
    for _ in range(8):
        h.advance(timedelta(days=1))
    checkin = last_with(h.dms(asker), "Time for a quick check-in")
    with unit_of_work(h.container.sessions) as s:
        pair_id = s.scalars(select(Pair)).one().id
    # The close updates the check-in (no buttons); this Slack has not shown the update yet.
    h.emulator.inject_error("chat.update", times=None)
    closed = h.container.pairs.close(h.team, pair_id, helper, CloseInput(reflection="Done."))
    assert closed == "ok"
    h.settle()
    h.click(asker, checkin, "checkin_answer_stuck")
    assert not any("stuck" in text_of(m) for m in h.dms(helper))
    assert not any("let your peer know" in text_of(m) for m in h.dms(asker))
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Checkin).where(Checkin.sent_at.is_not(None))).one().answer in (
            None,
            CheckinAnswer.NONE,
        )
    (c,) = sent_checkins(h)
    assert h.container.pairs.answer_checkin(h.team, c.id, asker, "in_progress") == "closed"


def test_stuck_on_a_paused_pairing_resumes_it_and_reaches_the_helper(harness: Harness) -> None:
    """After the pause, the asker answers the bump "Stuck": the helper is nudged, as the
    answer says, and check-ins run again (as after a new commitment)."""
    h = harness
    asker, helper = paired(h)
    for _ in range(26):
        h.advance(timedelta(days=1))
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Pair)).one().status == PairStatus.PAUSED
    bump = last_with(h.dms(asker), "gentle nudge")
    h.click(asker, bump, "checkin_answer_stuck")
    assert any("You answered: Stuck" in text_of(m) for m in h.dms(asker))
    nudge = last_with(h.dms(helper), "stuck")
    assert f"<@{asker}>" in text_of(nudge)
    with unit_of_work(h.container.sessions) as s:
        pair = s.scalars(select(Pair)).one()
        assert pair.status == PairStatus.ACTIVE and pair.next_checkin_at is not None
    n = len(sent_checkins(h))
    for _ in range(10):  # a week, and the weekend or holiday after it
        h.advance(timedelta(days=1))
    assert len(sent_checkins(h)) == n + 1  # "we will check in again next time"


def test_in_progress_after_stop_does_not_promise_a_next_checkin(harness: Harness) -> None:
    """The asker stops check-ins from the menu, then answers "In progress" on the same
    message: the answer must not say "we will check in again next time"."""
    h = harness
    asker, _ = paired(h)
    for _ in range(8):
        h.advance(timedelta(days=1))
    checkin = last_with(h.dms(asker), "quick check-in")
    with unit_of_work(h.container.sessions) as s:
        pair_id = s.scalars(select(Pair)).one().id
    assert h.container.pairs.snooze(h.team, pair_id, asker, 0) == "ok"
    h.click(asker, checkin, "checkin_answer_in_progress")
    answered = last_with(h.dms(asker), "You answered: In progress")
    assert "check in again next time" not in text_of(answered)
    assert "Check-ins are stopped" in text_of(answered)
    assert "Resume check-ins" in text_of(answered)


def test_in_progress_says_we_check_in_again_while_checkins_run(harness: Harness) -> None:
    h = harness
    asker, _ = paired(h)
    for _ in range(8):
        h.advance(timedelta(days=1))
    checkin = last_with(h.dms(asker), "quick check-in")
    h.click(asker, checkin, "checkin_answer_in_progress")
    answered = last_with(h.dms(asker), "You answered: In progress")
    assert "we will check in again next time" in text_of(answered)


@pytest.mark.parametrize("how", ["resume_button", "answer"])
def test_the_helpers_monthly_check_comes_back_after_a_pause(harness: Harness, how: str) -> None:
    """The tick drops a paused pairing's check-ins, the helper's monthly check included; once
    the asker resumes (with the button, or by answering a check-in), the helper is checked on
    again a month later (it never was)."""
    h = harness
    asker, _ = paired(h)
    until_paused(h)
    for _ in range(14):  # the monthly check comes due while paused: dropped
        h.advance(timedelta(days=1))
    n = len(sent_checkins(h, CheckinKind.HELPER_MONTHLY))
    if how == "resume_button":
        h.click(asker, last_with(h.dms(asker), "paused them"), "pair_resume_checkins")
    else:
        h.click(asker, last_with(h.dms(asker), "gentle nudge"), "checkin_answer_in_progress")
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Pair)).one().status == PairStatus.ACTIVE
    for _ in range(34):  # the asker answers each check-in now: it stays active
        h.advance(timedelta(days=1))
        for c in sent_checkins(h):
            if c.answered_at is None:
                assert h.container.pairs.answer_checkin(h.team, c.id, asker, "in_progress") in (
                    "ok",
                    "already",
                )
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Pair)).one().status == PairStatus.ACTIVE
    assert len(sent_checkins(h, CheckinKind.HELPER_MONTHLY)) == n + 1
