"""A brief database outage: the intake keeps the dialog open (nothing typed is lost), App Home
answers 2xx without telling anyone anything false, a saved but unmatched ask is taken on by the
tick, and the outbox worker and the tick log an outage once, back off, and log the recovery."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from peerbot.clock import SystemClock
from peerbot.domain.asks import AskInput
from peerbot.sandbox import SlackEmulator
from peerbot.scheduling.scheduler import TickScheduler
from peerbot.scheduling.worker import OutboxWorker, next_backoff
from peerbot.services.asks import SubmitResult
from peerbot.slack.listeners.asks import NOT_SAVED_TEXT
from peerbot.store.db import session_factory, unit_of_work
from peerbot.store.models import Ask, AskStatus, Offer
from tests.fixtures.app import Harness
from tests.journey.test_ask_accept import seed_helpers
from tests.outage import Outage
from tests.outbox.helpers import (
    add_users,
    checkin_text,
    gateway_for,
    make_sender,
    posted_texts,
    seed_checkins,
)

CHALLENGE = (
    "I need to tell a senior engineer that their behaviour in code reviews is hurting the team."
)


@pytest.fixture
def outage(harness: Harness) -> Iterator[Outage]:
    """A switch for the harness's database."""
    o = Outage(harness.container.engine)
    yield o
    o.up()


def asks_in_db(h: Harness) -> list[Ask]:
    with unit_of_work(h.container.sessions) as s:
        return list(s.scalars(select(Ask)))


def test_a_submission_during_an_outage_keeps_the_dialog_and_a_resubmit_saves_it_once(
    harness: Harness, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness
    helpers = seed_helpers(h)
    asker = h.add_user("alex")
    view_id = h.open_intake(asker)
    values = {("challenge", "challenge_input"): CHALLENGE}
    with outage.during(), caplog.at_level(logging.WARNING):
        r = h.driver.view_submission(asker, view_id, values)
        while h.executor.in_flight:
            time.sleep(0.01)
    assert outage.refused > 0
    assert r.status == 200
    assert r.body == {"response_action": "errors", "errors": {"challenge": NOT_SAVED_TEXT}}
    assert h.emulator.view_is_open(view_id)  # what they typed is still there
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    h.settle()
    assert asks_in_db(h) == []
    assert h.dms(asker) == []  # nobody was told "something went wrong, nothing was saved"
    # The database is back: Submit again saves it, once, and the journey goes on.
    r = h.driver.view_submission(asker, view_id, values)
    assert r.status == 200 and not r.body
    h.settle()
    asks = asks_in_db(h)
    assert len(asks) == 1 and asks[0].status == AskStatus.OFFERED
    assert len(h.dms(helpers["feedback"])) == 1
    assert len(h.dms(asker)) == 1  # the receipt


def test_app_home_during_an_outage_answers_2xx_and_tells_nobody_anything(
    harness: Harness, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness
    user = h.add_user("alex")
    with outage.during(), caplog.at_level(logging.INFO):
        r = h.driver.app_home_opened(user)
        deadline = time.monotonic() + 10
        while h.executor.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
    assert r.status == 200
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert not [rec for rec in caplog.records if rec.exc_info]
    h.settle()
    assert h.emulator.home_view(user) is None
    assert h.dms(user) == []
    # The next opening, with the database back, publishes it.
    assert h.driver.app_home_opened(user).status == 200
    h.settle()
    assert h.emulator.home_view(user) is not None


def test_an_ask_saved_but_never_matched_is_taken_on_by_the_tick(harness: Harness) -> None:
    h = harness
    helpers = seed_helpers(h)
    asker = h.add_user("alex")
    saved = h.container.asks.record(h.team, asker, AskInput(challenge=CHALLENGE), "V1")
    assert isinstance(saved, SubmitResult)  # ... and the process stopped here
    h.advance(timedelta(seconds=30))
    assert asks_in_db(h)[0].status == AskStatus.MATCHING  # not yet: the listener may be on it
    h.advance(timedelta(minutes=2))
    assert asks_in_db(h)[0].status == AskStatus.OFFERED
    assert len(h.dms(helpers["feedback"])) == 1
    assert len(h.dms(asker)) == 1
    h.advance(timedelta(minutes=5))
    with unit_of_work(h.container.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Offer)) == 1


# --------------------------------------------------------------------------- background loops


def test_backoff_doubles_up_to_the_limit() -> None:
    waits = []
    current = 0.0
    for _ in range(7):
        current = next_backoff(current, 1.0, 30.0)
        waits.append(current)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_the_outbox_worker_logs_an_outage_once_backs_off_and_logs_the_recovery(
    engine: Engine, slack_emulator: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    users = add_users(slack_emulator, 1)
    sessions = session_factory(engine)
    seed_checkins(sessions, slack_emulator.team_id, users, 1, datetime.now(UTC))
    outage = Outage(engine)
    sender = make_sender(engine, gateway_for(slack_emulator), SystemClock())
    worker = OutboxWorker(sender, idle_seconds=0.01, backoff_start=0.05, backoff_max=0.2)
    failures = 6
    outage.down(attempts=failures)  # unavailable for six passes, then back
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="peerbot"):
        worker.start()
        try:
            slack_emulator.wait_for_call("chat.postMessage", timeout=20)
            deadline = time.monotonic() + 10
            while not any("is back" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "no recovery line"
                time.sleep(0.01)
        finally:
            worker.stop()
    elapsed = time.monotonic() - started
    mine = [r for r in caplog.records if r.name == "peerbot.scheduling.worker"]
    assert outage.refused == failures
    assert [r.levelname for r in mine] == ["WARNING", "INFO"]
    assert "database is unavailable" in mine[0].getMessage()
    assert "back after" in mine[1].getMessage() and "6 failed attempts" in mine[1].getMessage()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    # Backed off: 0.05 + 0.1 + 0.2 * 4 s at least (without it six passes take ~0.06 s).
    assert elapsed >= 0.95
    assert dict(posted_texts(slack_emulator)) == {checkin_text(0): 1}


def test_the_tick_logs_an_outage_once_and_the_recovery_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []
    failing = 5

    def tick() -> None:
        calls.append(1)
        if len(calls) <= failing:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    scheduler = TickScheduler(tick)
    with caplog.at_level(logging.DEBUG, logger="peerbot"):
        for _ in range(failing + 3):
            scheduler.run_tick()
    mine = [r for r in caplog.records if r.name == "peerbot.scheduling.scheduler"]
    assert [r.levelname for r in mine] == ["WARNING", "INFO"]
    assert not [r for r in caplog.records if r.exc_info]


def test_a_bug_in_the_tick_is_still_logged_with_its_traceback_each_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def tick() -> None:
        raise ValueError("a bug")

    scheduler = TickScheduler(tick)
    with caplog.at_level(logging.DEBUG, logger="peerbot"):
        scheduler.run_tick()
        scheduler.run_tick()
    assert [r.levelname for r in caplog.records if r.exc_info] == ["ERROR", "ERROR"]
