"""Delivery under failure: 429 chaos, Retry-After, backoff, dead letters, and posts whose
outcome is unknown (a crash or a 5xx after Slack posted) settled from the channel's history."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from peerbot.clock import FrozenClock, SystemClock
from peerbot.domain.notices import CheckinAnswered, CheckinDue, Notice
from peerbot.domain.ports import DeliveryOutcome, Failure
from peerbot.sandbox import SlackEmulator
from peerbot.scheduling.worker import OutboxWorker
from peerbot.services import messages
from peerbot.services.outbox import CLAIM_FOR, OutboxSender, backoff
from peerbot.slack.delivery import outbox_tag
from peerbot.slack.gateway import SlackCallError, SlackGateway
from peerbot.store.db import session_factory, unit_of_work
from peerbot.store.models import Checkin, CheckinAnswer, OutboxMessage, OutboxStatus, Pair
from peerbot.store.outbox import wake_on_commit
from tests.outbox.helpers import (
    add_users,
    checkin_text,
    drain_with_clock,
    gateway_for,
    make_sender,
    posted_texts,
    seed_checkins,
    statuses,
    stored_texts,
)

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _one(engine: Engine) -> OutboxMessage:
    rows = _rows(engine)
    assert len(rows) == 1
    return rows[0]


# --------------------------------------------------------------------------- 429 chaos


def test_with_a_third_of_calls_answered_429_every_message_is_delivered_once(
    engine: Engine, slack_emulator: SlackEmulator
) -> None:
    users = add_users(slack_emulator, 30)
    clock = FrozenClock(START)
    seed_checkins(session_factory(engine), slack_emulator.team_id, users, 300, START)
    slack_emulator.fail_with_429(ratio=0.3, retry_after=1, seed=20261123)
    sender = make_sender(engine, gateway_for(slack_emulator), clock)

    passes = drain_with_clock(sender, engine, clock, lambda: clock.advance(timedelta(seconds=1)))

    expected = {checkin_text(n): 1 for n in range(300)}
    assert dict(posted_texts(slack_emulator)) == expected
    assert dict(stored_texts(slack_emulator, users)) == expected
    refused = [c for c in slack_emulator.calls if c.status == 429]
    assert len(refused) > 100, "the chaos did not bite"
    assert sender.rate_limited == len(refused)
    assert passes > 100
    rows = _rows(engine)
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    # A 429 is never counted as an attempt: each message took exactly its one successful try.
    assert Counter(r.attempts for r in rows) == {1: 300}
    assert sender.dead_letters == 0


def test_retry_after_is_honoured_nothing_is_called_before_it_passes(
    engine: Engine, slack_emulator: SlackEmulator
) -> None:
    users = add_users(slack_emulator, 3)
    clock = FrozenClock(START)
    seed_checkins(session_factory(engine), slack_emulator.team_id, users, 10, START)
    slack_emulator.inject_error("chat.postMessage", "ratelimited", status=429, retry_after=30)
    sender = make_sender(engine, gateway_for(slack_emulator), clock)

    report = sender.drain()
    assert (report.sent, report.rate_limited) == (0, 1)
    assert sender.resume_in() == 30.0
    calls = len(slack_emulator.calls)
    clock.advance(timedelta(seconds=29))
    assert sender.drain().handled == 0
    assert len(slack_emulator.calls) == calls, "Slack was called before Retry-After passed"
    refused = next(r for r in _rows(engine) if r.last_error == "ratelimited")
    assert refused.next_attempt_at == START + timedelta(seconds=30)
    assert refused.attempts == 0

    clock.advance(timedelta(seconds=1))
    assert sender.drain().sent == 10
    assert sum(posted_texts(slack_emulator).values()) == 10


# --------------------------------------------------------------------------- dead letters


def test_a_permanent_error_is_dead_after_one_attempt_logged_and_counted(
    engine: Engine, slack_emulator: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    users = add_users(slack_emulator, 1)
    clock = FrozenClock(START)
    seed_checkins(session_factory(engine), slack_emulator.team_id, users, 1, START)
    slack_emulator.inject_error("chat.postMessage", "msg_too_long", status=200)
    failed: list[tuple[Notice, DeliveryOutcome]] = []
    sender = make_sender(
        engine,
        gateway_for(slack_emulator),
        clock,
        on_failure=lambda _s, notice, outcome: failed.append((notice, outcome)),
    )

    with caplog.at_level(logging.WARNING, logger="peerbot.services.outbox"):
        report = sender.drain()

    assert (report.sent, report.dead) == (0, 1)
    row = _one(engine)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.DEAD, 1, "msg_too_long")
    assert row.unconfirmed_since is None  # Slack answered: nothing was posted
    assert sender.dead_letters == 1
    assert [(type(n), o.failure, o.code) for n, o in failed] == [
        (CheckinDue, Failure.REJECTED, "msg_too_long")
    ]
    assert "outbox checkin:0 dead after 1 attempt(s): msg_too_long" in caplog.text
    clock.advance(timedelta(days=1))
    assert sender.drain().handled == 0  # a dead letter is never tried again


def test_transient_errors_retry_on_a_time_budget_not_a_count(
    engine: Engine, slack_emulator: SlackEmulator
) -> None:
    """A day of 5xx answers: retried every 10 minutes at most, never given up within 24 h,
    delivered once Slack is back."""
    users = add_users(slack_emulator, 1)
    clock = FrozenClock(START)
    seed_checkins(session_factory(engine), slack_emulator.team_id, users, 1, START)
    slack_emulator.inject_error("chat.postMessage", "internal_error", status=500, times=None)
    slack_emulator.inject_error("conversations.open", "internal_error", status=500, times=None)
    sender = make_sender(engine, gateway_for(slack_emulator), clock)
    gaps: list[timedelta] = []
    while clock.now() < START + timedelta(hours=23):
        sender.drain()
        row = _one(engine)
        assert row.status == OutboxStatus.PENDING
        gaps.append(row.next_attempt_at - clock.now())
        clock.advance(gaps[-1])
    assert len(gaps) > 100  # far more tries than any count-based limit allowed
    assert max(gaps) == backoff(99) == timedelta(minutes=10)
    slack_emulator.clear_faults()
    assert sender.drain().sent == 1
    assert dict(posted_texts(slack_emulator)) == {checkin_text(0): 1}


def test_a_transient_error_is_retried_with_backoff_then_dead(
    engine: Engine, slack_emulator: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    users = add_users(slack_emulator, 1)
    clock = FrozenClock(START)
    seed_checkins(session_factory(engine), slack_emulator.team_id, users, 1, START)
    slack_emulator.inject_error("chat.postMessage", "internal_error", status=500, times=None)
    # The budget runs out between the third retry (at +6 s) and the fourth (at +14 s).
    sender = make_sender(
        engine, gateway_for(slack_emulator), clock, retry_budget=timedelta(seconds=13)
    )

    waits: list[timedelta] = []
    with caplog.at_level(logging.WARNING, logger="peerbot.services.outbox"):
        for attempt in range(1, 5):
            report = sender.drain()
            row = _one(engine)
            assert row.attempts == attempt
            if attempt < 4:
                assert (report.retried, row.status) == (1, OutboxStatus.PENDING)
                waits.append(row.next_attempt_at - clock.now())
                # Not before the backoff has passed.
                clock.advance(waits[-1] - timedelta(seconds=1))
                assert sender.drain().handled == 0
                clock.advance(timedelta(seconds=1))
            else:
                assert (report.dead, row.status) == (1, OutboxStatus.DEAD)

    assert waits == [backoff(1), backoff(2), backoff(3)]
    assert waits == [timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=8)]
    assert sender.dead_letters == 1
    assert "outbox checkin:0 dead after 4 attempt(s): internal_error" in caplog.text
    # A 5xx may have posted, so every retry first looked in the DM's history; nothing was there.
    assert len(slack_emulator.calls_to("conversations.history")) == 3
    assert sum(posted_texts(slack_emulator).values()) == 0


# --------------------------------------------------------------------------- unknown outcomes


class _PostsThenFails:
    """Posts for real, then answers as if Slack had failed (5xx after the write), once."""

    def __init__(self, inner: SlackGateway) -> None:
        self._inner = inner
        self.tripped = False

    def call(self, team_id: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
        answer = self._inner.call(team_id, method, args)
        if method == "chat.postMessage" and not self.tripped:
            self.tripped = True
            raise SlackCallError("fatal_error", Failure.TRANSIENT)
        return answer


def test_a_post_that_went_through_despite_a_5xx_is_not_posted_again(
    engine: Engine, slack_emulator: SlackEmulator
) -> None:
    users = add_users(slack_emulator, 1)
    clock = FrozenClock(START)
    seed_checkins(session_factory(engine), slack_emulator.team_id, users, 1, START)
    sender = make_sender(engine, _PostsThenFails(gateway_for(slack_emulator)), clock)

    assert sender.drain().retried == 1
    row = _one(engine)
    assert row.status == OutboxStatus.PENDING
    assert row.unconfirmed_since == START  # in doubt
    clock.advance(backoff(1))
    report = sender.drain()

    assert (report.sent, report.recovered) == (1, 1)
    posts = [c for c in slack_emulator.calls_to("chat.postMessage") if c.ok]
    assert len(posts) == 1
    row = _one(engine)
    assert row.status == OutboxStatus.SENT
    assert row.result == {"channel": posts[0].response["channel"], "ts": posts[0].response["ts"]}
    assert row.unconfirmed_since is None


class _Crash(BaseException):
    """The process dies here (nothing below this point runs; no handler catches it)."""


class _CrashAfterPost:
    """Posts for real, then the process 'dies' before the outcome is committed."""

    def __init__(self, inner: SlackGateway) -> None:
        self._inner = inner

    def call(self, team_id: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
        answer = self._inner.call(team_id, method, args)
        if method == "chat.postMessage":
            raise _Crash
        return answer


class _CrashAtOnce:
    """The process dies after the claim, before anything reaches Slack."""

    def call(self, team_id: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
        raise _Crash


@pytest.mark.parametrize("posted", [True, False], ids=["posted", "not-posted"])
def test_a_message_left_in_doubt_by_a_crash_is_settled_from_history(
    engine: Engine, slack_emulator: SlackEmulator, posted: bool
) -> None:
    users = add_users(slack_emulator, 2)
    clock = FrozenClock(START)
    sessions = session_factory(engine)
    seed_checkins(sessions, slack_emulator.team_id, users, 3, START)
    crashing = _CrashAfterPost(gateway_for(slack_emulator)) if posted else _CrashAtOnce()
    first = make_sender(engine, crashing, clock, worker_id="first")
    with pytest.raises(_Crash):
        first.drain()
    assert statuses(engine) == {"pending": 2, "sending": 1}

    second = make_sender(engine, gateway_for(slack_emulator), clock, worker_id="second")
    assert second.drain().sent == 2
    assert statuses(engine) == {"sent": 2, "sending": 1}, "a live claim was taken over"
    clock.advance(CLAIM_FOR + timedelta(seconds=1))
    report = second.drain()

    assert (report.sent, report.recovered) == (1, 1 if posted else 0)
    assert dict(posted_texts(slack_emulator)) == {checkin_text(n): 1 for n in range(3)}
    assert len(slack_emulator.calls_to("conversations.history")) == 1
    rows = _rows(engine)
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    assert rows[0].attempts == (1 if posted else 2)  # the crashed attempt counts


def test_history_that_cannot_be_read_means_posting_again_with_a_warning(
    engine: Engine, slack_emulator: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the history scopes the sender cannot confirm, and falls back to at-least-once."""
    users = add_users(slack_emulator, 1)
    clock = FrozenClock(START)
    seed_checkins(session_factory(engine), slack_emulator.team_id, users, 1, START)
    first = make_sender(engine, _CrashAfterPost(gateway_for(slack_emulator)), clock)
    with pytest.raises(_Crash):
        first.drain()
    slack_emulator.inject_error("conversations.history", "missing_scope", status=200)
    clock.advance(CLAIM_FOR + timedelta(seconds=1))
    with caplog.at_level(logging.WARNING, logger="peerbot.services.outbox"):
        assert make_sender(engine, gateway_for(slack_emulator), clock).drain().sent == 1
    assert "cannot read" in caplog.text
    assert "missing_scope" in caplog.text
    assert posted_texts(slack_emulator)[checkin_text(0)] == 2


def test_every_post_is_tagged_with_its_key_in_message_metadata(
    engine: Engine, slack_emulator: SlackEmulator
) -> None:
    users = add_users(slack_emulator, 1)
    clock = FrozenClock(START)
    seed_checkins(
        session_factory(engine),
        slack_emulator.team_id,
        users,
        1,
        START,
        key=lambda _n: "pair:7:checkin:2026-W48",
    )
    make_sender(engine, gateway_for(slack_emulator), clock).drain()
    (post,) = slack_emulator.calls_to("chat.postMessage")
    assert post.args["metadata"] == {
        "event_type": "peerbot_outbox",
        "event_payload": {"key": outbox_tag("pair:7:checkin:2026-W48")},
    }
    assert "pair:7" not in str(post.args["metadata"])  # the workspace sees a digest only


def test_a_chat_update_is_repeated_safely_after_a_crash(
    engine: Engine, slack_emulator: SlackEmulator
) -> None:
    """chat.update is idempotent: after a crash it is simply made again, with the same result."""
    users = add_users(slack_emulator, 1)
    clock = FrozenClock(START)
    sessions = session_factory(engine)
    seed_checkins(sessions, slack_emulator.team_id, users, 1, START)
    make_sender(engine, gateway_for(slack_emulator), clock).drain()
    with unit_of_work(sessions) as session:
        checkin = session.scalars(select(Checkin)).one()
        checkin.answer = CheckinAnswer.IN_PROGRESS
        # Check-ins still run for this pair (not stopped): "we will check in again" holds.
        session.get_one(Pair, checkin.pair_id).next_checkin_at = START + timedelta(weeks=1)
        messages.update(
            session,
            team_id=slack_emulator.team_id,
            key="checkin:0:answered",
            replaces="checkin:0",
            notice=CheckinAnswered(checkin_id=checkin.id),
            now=START,
        )

    class _CrashAfterUpdate(_CrashAfterPost):
        def call(self, team_id: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
            self._inner.call(team_id, method, args)
            raise _Crash

    with pytest.raises(_Crash):
        make_sender(engine, _CrashAfterUpdate(gateway_for(slack_emulator)), clock).drain()
    clock.advance(CLAIM_FOR + timedelta(seconds=1))
    assert make_sender(engine, gateway_for(slack_emulator), clock).drain().sent == 1
    assert [m["text"] for m in slack_emulator.messages_to(users[0])] == [
        "You answered: In progress. Thanks, we will check in again next time."
    ]
    assert len(slack_emulator.calls_to("chat.update")) == 2
    assert not slack_emulator.calls_to("conversations.history")


def test_a_429_pauses_only_its_workspace(engine: Engine, slack_emulator: SlackEmulator) -> None:
    """Another workspace's messages still go while one waits out its Retry-After."""
    users = add_users(slack_emulator, 2)
    clock = FrozenClock(START)
    sessions = session_factory(engine)
    seed_checkins(sessions, slack_emulator.team_id, users, 4, START)

    class _OtherTeamLimited:
        def __init__(self, inner: SlackGateway) -> None:
            self._inner = inner

        def call(self, team_id: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
            if team_id == "T0LIMITED":
                raise SlackCallError("ratelimited", Failure.RATE_LIMITED, retry_after=60)
            return self._inner.call(team_id, method, args)

    seed_checkins(
        sessions,
        "T0LIMITED",
        ["U0OTHER"],
        3,
        START - timedelta(minutes=1),  # due first
        key=lambda n: f"other:{n}",
    )
    sender: OutboxSender = make_sender(
        engine, _OtherTeamLimited(gateway_for(slack_emulator)), clock
    )
    report = sender.drain()
    assert (report.rate_limited, report.sent) == (1, 4)
    assert sender.resume_in() == 60.0
    assert statuses(engine) == {"sent": 4, "pending": 3}


def test_the_worker_sleeps_until_the_pause_ends_instead_of_polling(engine: Engine) -> None:
    clock = FrozenClock(START)

    class _Limited:
        def call(self, team_id: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
            raise SlackCallError("ratelimited", Failure.RATE_LIMITED, retry_after=3)

    sender = make_sender(engine, _Limited(), clock)
    worker = OutboxWorker(sender, idle_seconds=10.0)
    assert worker._timeout() == 10.0
    seed_checkins(session_factory(engine), "T0", ["U0"], 2, START)
    assert sender.drain().rate_limited == 1
    assert worker._timeout() == 3.0  # wakes when Slack allows calls again, not before
    clock.advance(timedelta(seconds=2.5))
    assert worker._timeout() == 0.5


# --------------------------------------------------------------------------- wake on commit


def test_a_commit_that_records_a_message_wakes_the_worker_and_a_rollback_does_not(
    engine: Engine, slack_emulator: SlackEmulator
) -> None:
    """No hand-written kick after a use-case: the commit itself wakes the sender."""
    users = add_users(slack_emulator, 1)
    sessions = session_factory(engine)
    wakes: list[int] = []
    wake_on_commit(sessions, lambda: wakes.append(1))

    def failing_use_case() -> None:
        with unit_of_work(sessions) as session:
            messages.post(
                session,
                team_id=slack_emulator.team_id,
                key="rolled-back",
                notice=CheckinDue(checkin_id=1, bump=False),
                to=users[0],
                now=START,
            )
            raise RuntimeError("the use-case failed")

    with pytest.raises(RuntimeError):
        failing_use_case()
    with unit_of_work(sessions) as session:
        session.execute(select(OutboxMessage.id))  # a commit that recorded nothing
    assert wakes == []

    sender = make_sender(engine, gateway_for(slack_emulator), SystemClock())
    worker = OutboxWorker(sender, idle_seconds=600.0)  # only a wake can make it send
    wake_on_commit(sessions, worker.kick)
    worker.start()
    try:
        seed_checkins(sessions, slack_emulator.team_id, users, 1, datetime.now(UTC))
        slack_emulator.wait_for_call("chat.postMessage", timeout=10)
    finally:
        worker.stop()
    assert wakes == [1]
    assert dict(posted_texts(slack_emulator)) == {checkin_text(0): 1}
