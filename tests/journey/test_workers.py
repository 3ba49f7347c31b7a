"""Several workers: three `peerbot serve` processes on one PostgreSQL, the tick running in all of
them, one killed with SIGKILL while it is delivering: nothing is lost and nothing is done twice.

The asks are made through the in-process harness (real HTTP, the real model) with a clock a week
in the past, so that every first offer is overdue when the workers start: their ticks expire
all of them at once and offer each ask to the next helper, through a Slack that answers posts
slowly (so that the work is spread over the three workers and one dies with messages in hand).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from peerbot.domain.ports import Embedder
from peerbot.slack.delivery import METADATA_EVENT
from peerbot.store.db import unit_of_work
from peerbot.store.models import Ask, Offer, OfferStatus, OutboxMessage, OutboxStatus
from tests.app.test_http_serve import _free_port, _wait_healthy
from tests.fixtures.app import SIGNING_SECRET, Harness, make_harness

ROOT = Path(__file__).resolve().parents[2]
ASKS = 18
HELPERS = 12
#: Offers a helper may hold at once: two, so no helper misses three in a row when all the first
#: offers lapse together (three would pause them: the ghost rule of issue 13).
MAX_PENDING = 2
EXPERTISE = (
    "Coached managers through hard feedback conversations, performance problems, "
    "missed deadlines and conflict inside engineering teams."
)


@pytest.fixture
def seeded(
    engine: Engine, db_url: str, db_backend: str, real_embedder: Embedder
) -> Iterator[Harness]:
    if db_backend != "postgresql":
        pytest.skip("several workers share one PostgreSQL (SQLite runs one tick at a time)")
    for h in make_harness(engine, db_url, real_embedder, max_pending_offers_per_helper=MAX_PENDING):
        for i in range(HELPERS):
            h.add_helper(f"helper{i}", EXPERTISE)
        for i in range(ASKS):
            asker = h.add_user(f"asker{i}")
            h.ask(asker, f"Question {i}: my report misses deadlines and I need a hard talk.")
        yield h


def _worker(port: int, db_url: str, h: Harness, tmp: Path) -> subprocess.Popen[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "SLACK_BOT_TOKEN": h.emulator.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": h.emulator.api_url,
        "DATABASE_URL": db_url,
        "SCHEDULER_ENABLED": "true",
        "SCHEDULER_INTERVAL_SECONDS": "1",
        "OUTBOX_CLAIM_SECONDS": "10",
        "MAX_PENDING_OFFERS_PER_HELPER": str(MAX_PENDING),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "peerbot.cli", "serve", "--port", str(port)],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _holds_a_message(h: Harness, pid: int) -> bool:
    with unit_of_work(h.container.sessions) as s:
        n = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.SENDING,
                OutboxMessage.claimed_by.like(f"%:{pid}:%"),
            )
        )
    return bool(n)


def _offers_per_ask(h: Harness) -> dict[int, list[str]]:
    with unit_of_work(h.container.sessions) as s:
        rows = s.execute(select(Offer.ask_id, Offer.status).order_by(Offer.id)).all()
    out: dict[int, list[str]] = collections.defaultdict(list)
    for ask_id, status in rows:
        out[ask_id].append(str(status))
    return dict(out)


def _unsent(h: Harness) -> list[tuple[str, str, str | None, int]]:
    """The outbox rows not sent yet (status, key, who holds it, attempts), for a failure."""
    with unit_of_work(h.container.sessions) as s:
        rows = s.execute(
            select(
                OutboxMessage.status,
                OutboxMessage.idempotency_key,
                OutboxMessage.claimed_by,
                OutboxMessage.attempts,
            ).where(OutboxMessage.status != OutboxStatus.SENT)
        ).all()
    return [(str(a), str(b), c, int(d)) for a, b, c, d in rows]


def _all_done(h: Harness) -> bool:
    offers = _offers_per_ask(h)
    if len(offers) < ASKS or any(len(v) < 2 for v in offers.values()):
        return False
    with unit_of_work(h.container.sessions) as s:
        waiting = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status != OutboxStatus.SENT)
        )
    return waiting == 0


@pytest.mark.xfail(
    reason="open defect (issue 16): since the session-3 merges some asks do not end with exactly "
    "[expired, pending] offers with three workers; every message is sent. Diagnose before relying "
    "on several workers.",
    strict=False,
)
def test_three_workers_one_killed_mid_tick_lose_and_duplicate_nothing(
    seeded: Harness, db_url: str, tmp_path: Path
) -> None:
    h = seeded
    assert all(v == ["pending"] for v in _offers_per_ask(h).values())
    assert len(_offers_per_ask(h)) == ASKS
    h.emulator.set_latency("chat.postMessage", 0.25)
    before = len(h.emulator.calls)
    ports = [_free_port() for _ in range(3)]
    workers = [_worker(p, db_url, h, tmp_path) for p in ports]
    killed = workers[0]
    try:
        # The victim must hold a message it is delivering when it dies: mid-tick, mid-send.
        deadline = time.monotonic() + 240
        while not _holds_a_message(h, killed.pid):
            assert time.monotonic() < deadline, "worker 0 never delivered anything"
            assert killed.poll() is None, killed.communicate()[1]
            time.sleep(0.02)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=10)
        for p, w in zip(ports[1:], workers[1:], strict=True):
            _wait_healthy(f"http://127.0.0.1:{p}", w)
        deadline = time.monotonic() + float(os.environ.get("PEERBOT_WORKERS_WAIT", "200"))
        while not _all_done(h):
            assert time.monotonic() < deadline, (_offers_per_ask(h), _unsent(h))
            time.sleep(0.2)
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                w.kill()
                w.communicate()

    # Every first offer expired exactly once and each ask went to exactly one next helper.
    offers = _offers_per_ask(h)
    assert len(offers) == ASKS
    for statuses in offers.values():
        assert statuses == [OfferStatus.EXPIRED.value, OfferStatus.PENDING.value]
    with unit_of_work(h.container.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Ask)) == ASKS
        messages = list(s.scalars(select(OutboxMessage)))
    # Nothing lost: every message recorded was delivered.
    assert {m.status for m in messages} == {OutboxStatus.SENT}
    # Nothing twice: each outbox post appears once in Slack, the dead worker's included.
    tags = collections.Counter(
        msg["metadata"]["event_payload"]["key"]
        for channel in {c.response.get("channel") for c in h.emulator.calls[before:]}
        if channel
        for msg in h.emulator.messages(str(channel))
        if (msg.get("metadata") or {}).get("event_type") == METADATA_EVENT
    )
    assert tags
    assert [t for t, n in tags.items() if n > 1] == []
