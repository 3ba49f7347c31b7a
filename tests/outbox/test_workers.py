"""Several senders on one database: each due message is claimed by exactly one of them
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write lock serialises the claims)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from peerbot.app import build_sender
from peerbot.clock import SystemClock
from peerbot.sandbox import SlackEmulator
from peerbot.services.outbox import SendReport
from peerbot.store.db import session_factory
from peerbot.store.models import OutboxMessage
from tests.outbox.helpers import (
    add_users,
    checkin_text,
    gateway_for,
    outstanding,
    posted_texts,
    seed_checkins,
    statuses,
)

TOTAL = 500
WORKERS = 3


def test_three_senders_drain_500_messages_each_sent_exactly_once(
    engine: Engine, slack_emulator: SlackEmulator
) -> None:
    users = add_users(slack_emulator, 50)
    seed_checkins(session_factory(engine), slack_emulator.team_id, users, TOTAL, datetime.now(UTC))
    senders = [
        build_sender(
            session_factory(engine),
            gateway_for(slack_emulator),
            SystemClock(),
            worker_id=f"worker-{i}",
            batch_size=10,
        )
        for i in range(WORKERS)
    ]
    reports = [SendReport() for _ in senders]
    errors: list[BaseException] = []
    start = threading.Barrier(WORKERS)
    deadline = time.monotonic() + 60

    def work(i: int) -> None:
        try:
            start.wait()
            while outstanding(engine) and time.monotonic() < deadline:
                reports[i].add(senders[i].drain())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not errors, errors

    assert dict(posted_texts(slack_emulator)) == {checkin_text(n): 1 for n in range(TOTAL)}
    assert statuses(engine) == {"sent": TOTAL}
    assert sum(r.sent for r in reports) == TOTAL
    with Session(engine) as session:
        attempts = Counter(session.scalars(select(OutboxMessage.attempts)))
    assert attempts == {1: TOTAL}
    # The work was shared, not done by one while the others waited.
    busy = [r.sent for r in reports if r.sent > 0]
    assert len(busy) >= 2, [r.sent for r in reports]
