"""Working-hours arithmetic in a person's own time zone. Pure: every instant is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "UTC"


@dataclass(frozen=True)
class WorkingHours:
    """A working day: ``start``..``end`` local time, Monday to Friday."""

    start: time = time(9, 0)
    end: time = time(17, 0)

    @property
    def hours_per_day(self) -> float:
        """Length of a working day in hours."""
        return (
            datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)
        ).total_seconds() / 3600


def zone(name: str | None) -> ZoneInfo:
    """The ZoneInfo for an IANA name, falling back to UTC for an unknown or empty one."""
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def _local(when: datetime, tz: ZoneInfo) -> datetime:
    if when.tzinfo is None:
        raise ValueError("aware datetimes only")
    return when.astimezone(tz)


def _at(day: date, t: time, tz: ZoneInfo) -> datetime:
    """The instant of local wall-clock ``t`` on ``day`` (DST gaps resolve forward)."""
    naive = datetime.combine(day, t)
    aware = naive.replace(tzinfo=tz)
    # Round-trip through UTC normalises a non-existent local time (spring-forward gap).
    return aware.astimezone(UTC).astimezone(tz)


def is_working_time(when: datetime, tz: ZoneInfo, hours: WorkingHours = WorkingHours()) -> bool:
    """True when ``when`` falls in working hours on a weekday in ``tz``."""
    local = _local(when, tz)
    return local.weekday() < 5 and hours.start <= local.time() < hours.end


def add_working_hours(
    start: datetime, amount: float, tz: ZoneInfo, hours: WorkingHours = WorkingHours()
) -> datetime:
    """The instant ``amount`` working hours after ``start`` in ``tz`` (weekends and nights skipped).

    Returned in UTC. Starting outside working hours counts from the next working-day start.
    """
    if amount < 0:
        raise ValueError("amount must be >= 0")
    remaining = timedelta(hours=amount)
    local = _local(start, tz)
    day = local.date()
    cursor = local
    for _ in range(3660):  # ten years of days bounds the loop
        day_start = _at(day, hours.start, tz)
        day_end = _at(day, hours.end, tz)
        if day.weekday() < 5 and cursor < day_end:
            begin = max(cursor, day_start)
            available = day_end - begin
            if remaining <= available:
                return (begin + remaining).astimezone(UTC)
            remaining -= available
        day += timedelta(days=1)
        cursor = _at(day, time(0, 0), tz)
    raise ValueError("amount of working hours too large")


def next_working_moment(
    when: datetime, tz: ZoneInfo, hours: WorkingHours = WorkingHours()
) -> datetime:
    """``when`` itself (in UTC) when it falls in working hours in ``tz``, else the start of the
    next working period there: 23:00 on a Friday becomes 09:00 on Monday, their time."""
    return add_working_hours(when, 0, tz, hours)


def next_working_slot(
    after: datetime, tz: ZoneInfo, at: time = time(10, 0), hours: WorkingHours = WorkingHours()
) -> datetime:
    """The first weekday at local time ``at`` strictly after ``after``, in UTC."""
    if not hours.start <= at < hours.end:
        raise ValueError("slot must be inside working hours")
    local = _local(after, tz)
    day = local.date()
    for _ in range(8):
        candidate = _at(day, at, tz)
        if day.weekday() < 5 and candidate > after:
            return candidate.astimezone(UTC)
        day += timedelta(days=1)
    raise AssertionError("unreachable: a weekday occurs within 8 days")


def at_local(day: date, t: time, tz: ZoneInfo) -> datetime:
    """The instant (in UTC) of local wall-clock ``t`` on ``day`` in ``tz``."""
    return _at(day, t, tz).astimezone(UTC)


def add_weekdays(day: date, n: int) -> date:
    """The date ``n`` weekdays (Monday to Friday) after ``day``."""
    while n > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day
