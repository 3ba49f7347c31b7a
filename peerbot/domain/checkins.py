"""When check-ins fall due, and what unanswered ones lead to. Pure: time is passed in."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from peerbot.domain.schedule import WorkingHours, next_working_slot, zone

CHECKIN_AT = time(10, 0)
CADENCE_DAYS = {"weekly": 7, "biweekly": 14}
BUMP_AFTER = timedelta(days=3)
HELPER_CHECK_EVERY = timedelta(days=30)
#: Consecutive unanswered asker check-ins after which the gentle bump goes out.
BUMP_AT_MISSED = 2


def _inside(at: time, hours: WorkingHours) -> time:
    """``at``, or the start of the working day when ``at`` falls outside ``hours``."""
    return at if hours.start <= at < hours.end else hours.start


def next_checkin(
    after: datetime,
    cadence: str,
    tz: str | None,
    at: time = CHECKIN_AT,
    hours: WorkingHours = WorkingHours(),
) -> datetime:
    """The next asker check-in: one cadence after ``after``, at ``at`` (10:00) on a weekday,
    their time (the start of the working day ``hours`` when ``at`` falls outside it)."""
    base = after + timedelta(days=CADENCE_DAYS.get(cadence, 7)) - timedelta(days=1)
    return next_working_slot(base, zone(tz), _inside(at, hours), hours)


def bump_time(after: datetime, tz: str | None, hours: WorkingHours = WorkingHours()) -> datetime:
    """When the gentle bump goes out: a few days after the second unanswered check-in."""
    return next_working_slot(after + BUMP_AFTER, zone(tz), _inside(CHECKIN_AT, hours), hours)


def next_helper_check(
    after: datetime, tz: str | None, hours: WorkingHours = WorkingHours()
) -> datetime:
    """The helper's lighter monthly check, at a working hour in their time zone."""
    return next_working_slot(
        after + HELPER_CHECK_EVERY, zone(tz), _inside(CHECKIN_AT, hours), hours
    )


def after_snooze(until: datetime, tz: str | None, hours: WorkingHours = WorkingHours()) -> datetime:
    """The first check-in slot once a snooze ends."""
    return next_working_slot(until, zone(tz), _inside(CHECKIN_AT, hours), hours)


MAX_COMMITMENT = 500


def validate_commitment(text: str, due: date | None, *, today: date) -> dict[str, str]:
    """Field errors for a new commitment (``text``, ``due``); empty when valid."""
    errors: dict[str, str] = {}
    if len(text.split()) < 2:
        errors["text"] = "A few words, please: what will you do?"
    elif len(text) > MAX_COMMITMENT:
        errors["text"] = f"Please keep it under {MAX_COMMITMENT} characters."
    if due is not None and due < today:
        errors["due"] = "Pick today or a later date."
    return errors
