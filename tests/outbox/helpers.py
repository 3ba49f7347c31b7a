"""Shared pieces of the outbox tests: seeding due DMs and counting what Slack received."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from peerbot.app import build_sender
from peerbot.clock import FrozenClock
from peerbot.demo_data import seed_due_checkins
from peerbot.domain.ports import Clock
from peerbot.sandbox import SlackEmulator
from peerbot.services.outbox import OutboxSender
from peerbot.slack.gateway import SlackGateway, WebApi
from peerbot.store.db import session_factory
from peerbot.store.models import (
    OutboxMessage,
    OutboxStatus,
)


def checkin_text(n: int) -> str:
    """The challenge of seeded check-in ``n`` (unique, so Slack's side can be counted per key)."""
    return f"Weekly check-in #{n}: how are your commitments going?"


def seed_checkins(
    sessions: sessionmaker[Session],
    team_id: str,
    users: list[str],
    count: int,
    now: datetime,
    *,
    key: Callable[[int], str] = lambda n: f"checkin:{n}",
) -> None:
    """``count`` due check-in DMs whose challenges are :func:`checkin_text` (n), keys ``key(n)``."""
    seed_due_checkins(sessions, team_id, users, count, now, challenge=checkin_text, key=key)


_QUOTED = re.compile(r"“(.*?)”")


def challenge_in(text: str) -> str:
    """The challenge a rendered check-in quotes (its whole text when it quotes none)."""
    found = _QUOTED.search(text)
    return found.group(1) if found else text


def add_users(emulator: SlackEmulator, count: int) -> list[str]:
    """``count`` members who can be messaged."""
    return [emulator.add_user(f"manager{i}", tz="Europe/Berlin") for i in range(count)]


def gateway_for(emulator: SlackEmulator) -> SlackGateway:
    """The production gateway on a WebClient pointed at the emulator (no in-line 429 retries)."""
    client = WebClient(token=emulator.bot_token, base_url=emulator.api_url, timeout=15)
    return SlackGateway(lambda _team: client)


def make_sender(engine: Engine, gateway: WebApi, clock: Clock, **kwargs: Any) -> OutboxSender:
    """The production sender (Slack deliverer, notices rendered from ``engine``'s tables)."""
    return build_sender(session_factory(engine), gateway, clock, **kwargs)


def posted_texts(emulator: SlackEmulator) -> Counter[str]:
    """How many times each check-in was posted successfully (answered ``ok``), by challenge."""
    return Counter(
        challenge_in(str(c.args.get("text"))) for c in emulator.calls_to("chat.postMessage") if c.ok
    )


def stored_texts(emulator: SlackEmulator, users: list[str]) -> Counter[str]:
    """How many times each text is in the bot's DMs with ``users`` (Slack's state, not calls)."""
    out: Counter[str] = Counter()
    for u in users:
        out.update(challenge_in(str(m["text"])) for m in emulator.messages_to(u))
    return out


def statuses(engine: Engine) -> Counter[str]:
    """Outbox rows per status."""
    with Session(engine) as session:
        rows = session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    return Counter({str(s.value if hasattr(s, "value") else s): int(n) for s, n in rows})


def outstanding(engine: Engine) -> int:
    """Rows not yet sent or dead."""
    with Session(engine) as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])
                )
            )
            or 0
        )


def drain_with_clock(
    sender: OutboxSender,
    engine: Engine,
    clock: FrozenClock,
    step: Callable[[], Any],
    *,
    timeout: float = 30.0,
) -> int:
    """Drain, move the clock with ``step()``, repeat until nothing is outstanding; the passes."""
    deadline = time.monotonic() + timeout
    passes = 0
    while outstanding(engine):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{outstanding(engine)} message(s) still outstanding")
        sender.drain()
        passes += 1
        step()
    return passes
