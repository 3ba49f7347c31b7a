"""The one-a-minute tick: registered with APScheduler as the issue asks, runs run_due, survives
a failing tick, starts and stops with `peerbot run`/`serve`, and is single-process on SQLite."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from peerbot import cli
from peerbot.app import Container, build_container
from peerbot.clock import FrozenClock
from peerbot.config import Settings
from peerbot.embeddings import HashingEmbedder
from peerbot.sandbox import SlackEmulator
from peerbot.scheduling.jobs import Tick, run_due, tick_lock
from peerbot.scheduling.scheduler import (
    MISFIRE_GRACE_SECONDS,
    TICK_JOB_ID,
    TickScheduler,
    build_scheduler,
)
from tests.outbox.helpers import checkin_text, posted_texts, seed_checkins, statuses

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _settings(emulator: SlackEmulator, db_url: str, **kw: object) -> Settings:
    return Settings(
        slack_bot_token=emulator.bot_token,
        slack_signing_secret="secret",
        slack_api_url=emulator.api_url,
        database_url=db_url,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def container(engine: Engine, db_url: str, slack_emulator: SlackEmulator) -> Iterator[Container]:
    built = build_container(
        _settings(slack_emulator, db_url),
        clock=FrozenClock(START),
        embedder=HashingEmbedder(),
        engine=engine,
    )
    yield built
    built.worker.stop()


def test_the_tick_is_registered_once_a_minute_and_runs_run_due(
    container: Container, slack_emulator: SlackEmulator
) -> None:
    user = slack_emulator.add_user("ada")
    seed_checkins(container.sessions, slack_emulator.team_id, [user], 3, START)
    scheduler = build_scheduler(container.tick)

    job = scheduler.scheduler.get_job(TICK_JOB_ID)
    assert job is not None
    assert job.trigger.interval == timedelta(seconds=60)
    assert job.coalesce is True
    assert job.max_instances == 1
    assert job.misfire_grace_time == MISFIRE_GRACE_SECONDS

    job.func()  # what APScheduler calls each minute

    assert dict(posted_texts(slack_emulator)) == {checkin_text(n): 1 for n in range(3)}
    assert statuses(container.engine) == {"sent": 3}


def test_the_tick_needs_only_its_services_not_the_composition_root(engine: Engine) -> None:
    """run_due calls exactly the four services it is given, in order, and reports their counts."""
    from dataclasses import dataclass

    calls: list[str] = []

    @dataclass
    class Drained:
        sent: int = 5
        retried: int = 1
        dead: int = 2
        recovered: int = 3

    class Fake:
        def match_stranded(self) -> int:
            calls.append("stranded")
            return 1

        def expire_due(self) -> int:
            calls.append("expire")
            return 4

        def run_due(self) -> int:
            calls.append("checkins")
            return 6

        def forget_old(self) -> int:
            calls.append("forget")
            return 0

        def recheck_unreachable(self) -> int:
            calls.append("recheck")
            return 0

        def drain(self) -> Drained:
            calls.append("drain")
            return Drained()

    fake = Fake()
    report = run_due(Tick(engine, asks=fake, pairs=fake, deduper=fake, sender=fake, people=fake))
    assert calls == ["stranded", "expire", "checkins", "forget", "recheck", "drain"]
    assert (report.offers_expired, report.checkins_sent) == (4, 6)
    assert report.asks_matched == 1
    assert (report.sent, report.retried, report.dead, report.recovered) == (5, 1, 2, 3)
    assert not report.skipped


def test_a_started_scheduler_ticks_and_stops_cleanly() -> None:
    ticked = threading.Event()
    scheduler = TickScheduler(ticked.set, first_run_in=0.0).start()
    try:
        assert ticked.wait(timeout=10), "the scheduler never ran the tick"
        assert scheduler.running
    finally:
        scheduler.stop()
    assert not scheduler.running


def test_a_failing_tick_is_logged_and_the_next_one_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def tick() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")

    scheduler = TickScheduler(tick)
    with caplog.at_level(logging.ERROR, logger="peerbot.scheduling.scheduler"):
        scheduler.job.func()
        scheduler.job.func()
    assert len(calls) == 2
    assert "scheduled tick failed" in caplog.text
    assert "database went away" in caplog.text


def test_on_sqlite_one_process_runs_the_tick(container: Container, db_backend: str) -> None:
    """A second tick while one holds the lock is skipped on SQLite; PostgreSQL needs no lock."""
    with tick_lock(container.engine) as first:
        assert first
        with tick_lock(container.engine) as second:
            assert second is (db_backend == "postgresql")
        report = run_due(container.tick)
        assert report.skipped is (db_backend == "sqlite")
        if report.skipped:
            assert "skipped" in report.summary()
    assert not run_due(container.tick).skipped  # the lock went with the first tick


@pytest.mark.parametrize("enabled", [True, False], ids=["scheduler-on", "scheduler-off"])
def test_run_and_serve_start_the_worker_and_the_tick_and_stop_them(
    container: Container,
    slack_emulator: SlackEmulator,
    db_url: str,
    enabled: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import peerbot.app

    monkeypatch.setattr(peerbot.app, "build_container", lambda settings: container)
    settings = _settings(slack_emulator, db_url, scheduler_enabled=enabled)

    started, _app, scheduler = cli._start(settings, http_mode=True)
    try:
        assert started is container
        assert any(t.name == "peerbot-outbox" for t in threading.enumerate())
        if enabled:
            assert isinstance(scheduler, TickScheduler)
            assert scheduler.running
        else:
            assert scheduler is None
        # The started worker delivers what a unit of work records (its commit wakes the worker).
        user = slack_emulator.add_user("ada")
        seed_checkins(container.sessions, slack_emulator.team_id, [user], 1, START)
        slack_emulator.wait_for_call("chat.postMessage", timeout=10)
    finally:
        cli._stop(container, scheduler)
    if enabled:
        assert scheduler is not None
        assert not scheduler.running
    assert not any(t.name == "peerbot-outbox" for t in threading.enumerate())
