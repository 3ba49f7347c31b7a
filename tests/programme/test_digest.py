"""The weekly digest reaches each admin on Monday morning in their own time zone, once, with
the figures, the supply gaps and a chart uploaded through the files API."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

from peerbot.clock import FrozenClock
from peerbot.domain.png_chart import bar_chart_png
from peerbot.scheduling.jobs import run_due
from peerbot.slack.digest import is_monday_morning
from tests.fixtures.app import START, Harness

SECRET = "How do I tell Zorblax the reorg is cancelled without losing his trust?"


def _digests(h: Harness, user: str) -> list[dict]:
    return [m for m in h.dms(user) if m.get("files")]


def test_the_digest_reaches_admins_on_their_monday_morning(harness: Harness) -> None:
    h = harness
    assert START.weekday() == 0  # Monday 17:00 UTC: 09:00 in Los Angeles, 18:00 in Berlin
    la = h.add_user("lee.admin", tz="America/Los_Angeles", is_admin=True)
    berlin = h.add_user("bea.admin", tz="Europe/Berlin", is_admin=True)
    sam = h.add_user("sam")
    h.add_helper("hana", "giving hard feedback to senior engineers who get defensive")
    h.ask(sam, SECRET)

    run_due(h.container.tick)
    h.settle()
    (digest,) = _digests(h, la)
    assert _digests(h, berlin) == []
    assert _digests(h, sam) == []
    assert "weekly programme digest" in digest["text"]
    assert "*Asks:* 1" in digest["text"]
    assert "Zorblax" not in str(h.dms(la))
    (shared,) = digest["files"]
    png = h.emulator.file(shared["id"])
    assert png is not None and png["content"].startswith(b"\x89PNG\r\n\x1a\n")
    assert shared["alt_txt"]
    calls = [c.method for c in h.emulator.calls]
    assert "files.getUploadURLExternal" in calls and "files.completeUploadExternal" in calls

    # a second tick the same morning sends nothing more
    run_due(h.container.tick)
    h.settle()
    assert len(_digests(h, la)) == 1

    # next Monday 08:30 in Berlin (Sunday night in Los Angeles): Berlin's admin gets theirs
    assert isinstance(h.clock, FrozenClock)
    h.clock.advance(datetime(2026, 11, 30, 7, 30, tzinfo=UTC) - h.clock.now())
    run_due(h.container.tick)
    h.settle()
    assert len(_digests(h, berlin)) == 1
    assert len(_digests(h, la)) == 1


def test_monday_morning_and_the_png() -> None:
    assert is_monday_morning(datetime(2026, 11, 30, 7, 30, tzinfo=UTC), "Europe/Berlin")
    assert not is_monday_morning(datetime(2026, 11, 30, 7, 30, tzinfo=UTC), "America/Los_Angeles")
    png = bar_chart_png([1, 0, 5, 3])
    assert png.startswith(b"\x89PNG")
    # the bars are drawn: the image holds bar-coloured pixels
    idat = png[png.index(b"IDAT") + 4 :]
    raw = zlib.decompressobj().decompress(idat)
    assert bytes((18, 100, 163)) in raw
