from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from peerbot.domain.schedule import (
    add_working_hours,
    is_working_time,
    next_working_slot,
    zone,
)

AKL = zone("Pacific/Auckland")
LA = zone("America/Los_Angeles")
KOL = zone("Asia/Kolkata")


def test_four_working_hours_within_a_day() -> None:
    start = datetime(2026, 11, 23, 10, 0, tzinfo=LA)  # Monday 10:00
    due = add_working_hours(start, 4, LA)
    assert due == datetime(2026, 11, 23, 14, 0, tzinfo=LA)
    assert due.tzinfo is UTC


def test_spills_over_the_weekend() -> None:
    start = datetime(2026, 11, 27, 15, 0, tzinfo=LA)  # Friday 15:00: 2 h left today
    due = add_working_hours(start, 4, LA)
    assert due.astimezone(LA) == datetime(2026, 11, 30, 11, 0, tzinfo=LA)  # Monday 11:00


def test_asked_at_night_counts_from_next_morning() -> None:
    start = datetime(2026, 11, 24, 23, 30, tzinfo=KOL)  # Tuesday night
    assert add_working_hours(start, 1, KOL).astimezone(KOL) == datetime(
        2026, 11, 25, 10, 0, tzinfo=KOL
    )


def test_across_spring_forward_in_auckland() -> None:
    # NZ DST starts Sunday 2026-09-27 02:00 -> 03:00. Friday 16:00 + 3 working hours.
    start = datetime(2026, 9, 25, 16, 0, tzinfo=AKL)
    due = add_working_hours(start, 3, AKL).astimezone(AKL)
    assert due == datetime(2026, 9, 28, 11, 0, tzinfo=AKL)
    assert due.utcoffset() == timedelta(hours=13)


def test_across_fall_back_in_los_angeles() -> None:
    # US DST ends Sunday 2026-11-01.
    start = datetime(2026, 10, 30, 16, 30, tzinfo=LA)
    due = add_working_hours(start, 1, LA).astimezone(LA)
    assert due == datetime(2026, 11, 2, 9, 30, tzinfo=LA)
    assert due.utcoffset() == timedelta(hours=-8)


def test_zero_hours_inside_working_time_is_now() -> None:
    start = datetime(2026, 11, 23, 10, 0, tzinfo=LA)
    assert add_working_hours(start, 0, LA) == start


def test_negative_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        add_working_hours(datetime(2026, 11, 23, tzinfo=UTC), -1, LA)


def test_naive_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_working_hours(datetime(2026, 11, 23), 1, LA)  # noqa: DTZ001


@pytest.mark.parametrize("tz", [AKL, LA, KOL], ids=str)
def test_next_slot_is_a_weekday_working_hour(tz: object) -> None:
    assert hasattr(tz, "key")
    after = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # a Friday in UTC
    for step in range(0, 24 * 14, 5):
        now = after + timedelta(hours=step)
        slot = next_working_slot(now, tz)  # type: ignore[arg-type]
        assert slot > now
        assert is_working_time(slot, tz)  # type: ignore[arg-type]
        assert slot.astimezone(tz).time() == time(10, 0)  # type: ignore[arg-type]
        assert slot - now <= timedelta(days=4)


def test_unknown_zone_falls_back_to_utc() -> None:
    assert zone("Mars/Olympus").key == "UTC"
    assert zone(None).key == "UTC"
