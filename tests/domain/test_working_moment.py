"""next_working_moment: a nudge due outside working hours waits for the next working hour in
the recipient's own time zone (frozen instants, three zones, a DST change)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from peerbot.domain.schedule import is_working_time, next_working_moment


@pytest.mark.parametrize(
    ("tz", "local_now", "local_expected"),
    [
        # Friday 23:00 after an outage: Monday 09:00.
        ("America/Los_Angeles", (2026, 11, 27, 23), (2026, 11, 30, 9)),
        # Tuesday 03:00: the same day at 09:00.
        ("Europe/Berlin", (2026, 11, 24, 3), (2026, 11, 24, 9)),
        # 17:00 sharp is after hours; Saturday noon waits for Monday.
        ("Asia/Tokyo", (2026, 11, 24, 17), (2026, 11, 25, 9)),
        ("Asia/Tokyo", (2026, 11, 28, 12), (2026, 11, 30, 9)),
        # Friday night before the US spring-forward: Monday 09:00 PDT (16:00 UTC, not 17:00).
        ("America/Los_Angeles", (2026, 3, 6, 23), (2026, 3, 9, 9)),
        # Saturday before Berlin's autumn change: Monday 09:00 CET.
        ("Europe/Berlin", (2026, 10, 24, 22), (2026, 10, 26, 9)),
    ],
)
def test_outside_working_hours_waits_for_the_next_working_hour(
    tz: str, local_now: tuple[int, int, int, int], local_expected: tuple[int, int, int, int]
) -> None:
    zone = ZoneInfo(tz)
    now = datetime(*local_now, tzinfo=zone).astimezone(UTC)
    moved = next_working_moment(now, zone)
    assert moved.tzinfo == UTC
    assert moved.astimezone(zone) == datetime(*local_expected, tzinfo=zone)
    assert is_working_time(moved, zone)


def test_the_dst_case_is_one_hour_earlier_in_utc() -> None:
    zone = ZoneInfo("America/Los_Angeles")
    moved = next_working_moment(datetime(2026, 3, 7, 7, 0, tzinfo=UTC), zone)  # Fri 23:00 PST
    assert moved == datetime(2026, 3, 9, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo"])
def test_inside_working_hours_nothing_moves(tz: str) -> None:
    zone = ZoneInfo(tz)
    now = datetime(2026, 11, 24, 10, 30, tzinfo=zone).astimezone(UTC)
    assert next_working_moment(now, zone) == now
