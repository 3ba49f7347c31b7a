"""Weekday working hours as bit masks of half-hour slots over one reference week. Pure."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, time, timedelta

from peerbot.domain.schedule import WorkingHours, is_working_time, zone

#: Length of one slot of the mask.
SLOT = timedelta(minutes=30)
#: Slots in the mask: nine days (a day either side of the reference week covers every zone).
SLOTS = 9 * 48


def week_start(at: datetime) -> datetime:
    """Monday 00:00 UTC of the week of ``at`` (the reference week of a round)."""
    day = at.astimezone(UTC).date()
    monday = day - timedelta(days=day.weekday())
    return datetime.combine(monday, time(0, 0), tzinfo=UTC)


def _origin(week: datetime) -> datetime:
    return week - timedelta(days=1)


@functools.lru_cache(maxsize=1024)
def working_mask(tz: str | None, week: datetime, hours: WorkingHours = WorkingHours()) -> int:
    """The slots of the reference ``week`` that are weekday working time in ``tz``: bit ``s``
    is the half hour starting ``week - 1 day + s * 30 min``. A slot counts when it starts in
    working hours (09:00–17:00 local, Monday to Friday)."""
    z = zone(tz)
    origin = _origin(week)
    mask = 0
    for s in range(SLOTS):
        if is_working_time(origin + s * SLOT, z, hours):
            mask |= 1 << s
    return mask


def shared_hours(mask: int) -> float:
    """Hours in a mask (its slots times half an hour)."""
    return mask.bit_count() / 2


def slot_start(week: datetime, slot: int) -> datetime:
    """When slot ``slot`` of ``week``'s mask begins (UTC)."""
    return _origin(week) + slot * SLOT


def slots(mask: int) -> list[int]:
    """The slot numbers set in ``mask``, earliest first."""
    out = []
    s = 0
    while mask:
        if mask & 1:
            out.append(s)
        mask >>= 1
        s += 1
    return out


def has_run(mask: int, length: int) -> bool:
    """Whether ``mask`` holds ``length`` consecutive slots (a session-long window in common)."""
    if length <= 0:
        return True
    run = mask
    for _ in range(length - 1):
        run &= run >> 1
        if not run:
            return False
    return run != 0


def longest_run(mask: int) -> int:
    """The most consecutive slots set in ``mask``."""
    n = 0
    while mask:
        mask &= mask >> 1
        n += 1
    return n
