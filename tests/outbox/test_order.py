"""Updates of one Slack message are applied in the order they were queued: an older update is
never delivered after a newer one (it is superseded), and a newer one waits while an older one
is in flight in another sender. A deliverer that records its calls stands in for Slack."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from peerbot.clock import FrozenClock
from peerbot.domain.notices import CheckinAnswered, CheckinDue
from peerbot.domain.ports import DeliveryOutcome, Failure, OutboxJob, SentRef
from peerbot.services import messages
from peerbot.services.outbox import OutboxSender, SendReport
from peerbot.store import outbox as queue
from peerbot.store.db import session_factory, unit_of_work
from peerbot.store.models import OutboxMessage, OutboxStatus

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TEAM = "T0ORDER"


@dataclass
class _Slack:
    """Records each delivery; fails those whose key is in ``failing``; holds those whose key
    is in ``gates`` until the gate opens (``entered`` set meanwhile)."""

    failing: set[str] = field(default_factory=set)
    gates: dict[str, threading.Event] = field(default_factory=dict)
    entered: threading.Event = field(default_factory=threading.Event)
    #: (key, whether it was applied), in call order.
    calls: list[tuple[str, bool]] = field(default_factory=list)

    def deliver(self, job: OutboxJob) -> DeliveryOutcome:
        gate = self.gates.get(job.key)
        if gate is not None:
            self.entered.set()
            assert gate.wait(20), "the gate was never opened"
        ok = job.key not in self.failing
        self.calls.append((job.key, ok))
        if not ok:
            return DeliveryOutcome(failure=Failure.TRANSIENT, code="internal_error")
        return DeliveryOutcome(sent=job.replace or SentRef("D0ASKER", "1700000000.000100"))

    def applied(self) -> list[str]:
        """Keys Slack took, in order."""
        return [key for key, ok in self.calls if ok]


def _update(sessions: sessionmaker[Session], key: str, replaces: str) -> None:
    with unit_of_work(sessions) as session:
        messages.update(
            session,
            team_id=TEAM,
            key=key,
            replaces=replaces,
            notice=CheckinAnswered(checkin_id=1),
            now=START,
        )


def _posted(engine: Engine, slack: _Slack, clock: FrozenClock) -> sessionmaker[Session]:
    """The receipt, posted."""
    sessions = session_factory(engine)
    with unit_of_work(sessions) as session:
        messages.post(
            session,
            team_id=TEAM,
            key="receipt",
            notice=CheckinDue(checkin_id=1, bump=False),
            to="U0ASKER",
            now=START,
        )
    assert OutboxSender(sessions, slack, clock).drain().sent == 1
    return sessions


def _row(engine: Engine, key: str) -> OutboxMessage:
    with Session(engine) as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
        return row.one()


def test_an_older_update_still_retrying_when_a_newer_one_went_out_is_never_sent(
    engine: Engine,
) -> None:
    """ "ended" fails and backs off; "matched" (queued after it, for the same message) goes
    out first; when "ended" comes due again it is superseded: not sent, settled, counted."""
    clock = FrozenClock(START)
    slack = _Slack()
    sessions = _posted(engine, slack, clock)
    sender = OutboxSender(sessions, slack, clock)
    # An update of an update changes the same Slack message (the receipt).
    _update(sessions, "matched:1", replaces="receipt")
    assert sender.drain().sent == 1
    slack.failing.add("matched:1:ended")
    _update(sessions, "matched:1:ended", replaces="matched:1")
    assert sender.drain().retried == 1
    for _ in range(3):  # waits of 2, 4, 8, then 16 s: its next try is 16 s away
        clock.advance(timedelta(minutes=1))
        assert sender.drain().retried == 1
    slack.failing.clear()
    _update(sessions, "matched:2", replaces="receipt")
    assert sender.drain().sent == 1  # the newer one, at once
    clock.advance(timedelta(minutes=10))

    report = sender.drain()

    assert (report.sent, report.superseded) == (0, 1)
    assert sender.superseded == 1 and sender.dead_letters == 0
    assert slack.applied() == ["receipt", "matched:1", "matched:2"]
    ended = _row(engine, "matched:1:ended")
    assert ended.status == OutboxStatus.SENT and queue.superseded(ended)
    assert ended.result == {queue.SUPERSEDED_BY: _row(engine, "matched:2").id}
    assert sender.drain().handled == 0  # settled: nothing more to try


def test_an_update_of_a_superseded_update_still_goes_when_it_is_the_newest(
    engine: Engine,
) -> None:
    """An update queued after the newest one, of an update that was superseded (never sent):
    it changes the same message, and being the newest it is applied."""
    clock = FrozenClock(START)
    slack = _Slack(failing={"matched:1"})
    sessions = _posted(engine, slack, clock)
    sender = OutboxSender(sessions, slack, clock)
    _update(sessions, "matched:1", replaces="receipt")
    assert sender.drain().retried == 1  # due again in 2 s
    _update(sessions, "withdrawn", replaces="receipt")
    slack.failing.clear()
    clock.advance(timedelta(seconds=1))
    assert sender.drain().sent == 1  # "withdrawn" (due now; "matched:1" not yet)
    clock.advance(timedelta(seconds=5))
    assert sender.drain().superseded == 1
    _update(sessions, "matched:1:ended", replaces="matched:1")

    assert sender.drain().sent == 1

    assert slack.applied() == ["receipt", "withdrawn", "matched:1:ended"]
    assert _row(engine, "matched:1:ended").result == {
        "channel": "D0ASKER",
        "ts": "1700000000.000100",
    }


@pytest.mark.parametrize("older_fails", [False, True], ids=["older_lands", "older_fails"])
def test_a_newer_update_waits_while_an_older_one_is_in_flight_in_another_sender(
    engine: Engine, older_fails: bool
) -> None:
    """Two senders: while one is sending the older update (its call not answered yet), the
    other does not send the newer one; once the older call is answered, the newer one goes.
    An older call that failed is then superseded rather than retried after it."""
    clock = FrozenClock(START)
    slack = _Slack()
    sessions = _posted(engine, slack, clock)
    first = OutboxSender(sessions, slack, clock, worker_id="first", batch_size=1)
    second = OutboxSender(sessions, slack, clock, worker_id="second")
    gate = slack.gates["ended"] = threading.Event()
    if older_fails:
        slack.failing.add("ended")
    _update(sessions, "ended", replaces="receipt")
    in_flight = threading.Thread(target=first.run_once)  # takes "ended" only
    in_flight.start()
    try:
        assert slack.entered.wait(20)
        _update(sessions, "matched", replaces="receipt")

        waiting = second.drain()

        assert (waiting.sent, waiting.deferred) == (0, 1)
        assert slack.calls == [("receipt", True)]
    finally:
        gate.set()
        in_flight.join(20)
    assert second.drain().sent == 1
    clock.advance(timedelta(minutes=10))
    assert first.drain().superseded == (1 if older_fails else 0)
    assert slack.calls == [("receipt", True), ("ended", not older_fails), ("matched", True)]
    assert _row(engine, "matched").status == OutboxStatus.SENT


def test_an_update_whose_message_another_claim_holds_waits_a_moment(engine: Engine) -> None:
    """PostgreSQL: a claim of an update locks the message it changes (``SKIP LOCKED``, so it
    never waits on a lock); while another transaction holds it, the update is put back."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write lock serialises claims: no claim can hold a row")
    clock = FrozenClock(START)
    slack = _Slack()
    sessions = _posted(engine, slack, clock)
    _update(sessions, "matched", replaces="receipt")
    sender = OutboxSender(sessions, slack, clock)
    reports: list[SendReport] = []
    with unit_of_work(sessions) as session:
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.idempotency_key == "receipt")
            .with_for_update()
        ).one()
        claim = threading.Thread(target=lambda: reports.append(sender.run_once()))
        claim.start()
        claim.join(10)
        assert not claim.is_alive(), "the claim waited for the lock"
    assert reports[0].deferred == 1 and slack.applied() == ["receipt"]
    assert sender.drain().sent == 1
    assert slack.applied() == ["receipt", "matched"]
