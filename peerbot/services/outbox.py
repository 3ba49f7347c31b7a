"""The outbox: Slack messages recorded with the state change behind them, delivered afterwards.

A service calls :func:`enqueue` inside its unit of work; :class:`OutboxSender` delivers what is
due, honours 429 ``Retry-After``, backs off on errors and gives up after a bounded number of
attempts (status ``dead``, logged and counted). Each message has an idempotency key: enqueuing
the same key twice records it once, so a retried request never sends twice.

Payload conventions (beyond the Web API method's own arguments):

- ``{"user": U}`` or ``{"users": [A, B]}`` on ``chat.postMessage``: open the DM or group DM
  first (``conversations.open``) and post there.
- ``{"ref": KEY}`` on ``chat.update``/``chat.delete``: the channel and ``ts`` of the message sent
  under idempotency key ``KEY``; the update waits until that message is sent.
- ``{"template": NAME, "data": {...}}``: the message's text and blocks, rendered at send time by
  the :data:`Renderer` (the Slack surface's Block Kit builders), so services never build blocks.
- ``{"on_fail": {...}}`` / ``{"on_sent": {...}}``: handed to the failure / success handler, so the
  service can react (skip a helper who cannot be messaged; remember a group DM's channel).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.ports import UNREACHABLE_CODES, Clock, DeliveryError, Messenger
from peerbot.store.db import unit_of_work
from peerbot.store.models import OutboxKind, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIM_FOR = timedelta(minutes=2)
META_KEYS = ("user", "users", "ref", "on_fail", "on_sent", "template", "data")

_KIND_BY_METHOD = {
    "chat.postMessage": OutboxKind.POST,
    "chat.update": OutboxKind.UPDATE,
    "chat.delete": OutboxKind.DELETE,
    "chat.postEphemeral": OutboxKind.EPHEMERAL,
    "views.publish": OutboxKind.PUBLISH_HOME,
    "conversations.open": OutboxKind.OPEN_DM,
}

FailureHandler = Callable[[Session, OutboxMessage, str], None]
SentHandler = Callable[[Session, OutboxMessage], None]
#: Renders a template with its data into Web API arguments (``text``, ``blocks``, ``view``).
Renderer = Callable[[str, dict[str, Any]], dict[str, Any]]


def enqueue(
    session: Session,
    *,
    team_id: str,
    key: str,
    method: str,
    payload: dict[str, Any],
    now: datetime,
    not_before: datetime | None = None,
) -> OutboxMessage | None:
    """Record a Slack call to make once the transaction commits; None for a duplicate key."""
    existing = session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
    if existing is not None:
        return None
    msg = OutboxMessage(
        team_id=team_id,
        idempotency_key=key,
        kind=_KIND_BY_METHOD.get(method, OutboxKind.CALL),
        method=method,
        payload=payload,
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=not_before or now,
        created_at=now,
    )
    session.add(msg)
    return msg


def key_free(session: Session, key: str) -> bool:
    """True when no message has been recorded under ``key`` yet."""
    return (
        session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)) is None
    )


def backoff(attempts: int) -> timedelta:
    """Delay before the next attempt after ``attempts`` failures: 2 s doubling, capped at 10 min."""
    return timedelta(seconds=min(600, 2 ** max(1, attempts)))


@dataclass
class SendReport:
    """What one pass of the sender did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        """Messages taken from the queue in this pass."""
        return self.sent + self.retried + self.dead + self.deferred


class _Defer(Exception):
    """The message depends on one not yet sent; try again when that one is next tried."""

    def __init__(self, until: datetime) -> None:
        super().__init__(until.isoformat())
        self.until = until


class OutboxSender:
    """Delivers due outbox messages. Safe to run in several processes at once on PostgreSQL."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        messenger: Messenger,
        clock: Clock,
        *,
        worker_id: str | None = None,
        batch_size: int = 50,
        max_attempts: int = MAX_ATTEMPTS,
        renderer: Renderer | None = None,
        on_failure: FailureHandler | None = None,
        on_sent: SentHandler | None = None,
    ) -> None:
        self._sessions = sessions
        self._messenger = messenger
        self._clock = clock
        self.worker_id = worker_id or f"sender-{uuid.uuid4().hex[:8]}"
        self._batch = batch_size
        self._max_attempts = max_attempts
        self._renderer = renderer
        self._on_failure = on_failure
        self._on_sent = on_sent
        self._lock = threading.Lock()
        self.dead_letters = 0

    # ----------------------------------------------------------------- claiming

    def _claim(self) -> list[int]:
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            due = (
                select(OutboxMessage.id)
                .where(
                    or_(
                        and_(
                            OutboxMessage.status == OutboxStatus.PENDING,
                            OutboxMessage.next_attempt_at <= now,
                        ),
                        and_(
                            OutboxMessage.status == OutboxStatus.SENDING,
                            OutboxMessage.claimed_until < now,
                        ),
                    )
                )
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(self._batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = list(session.scalars(due))
            if ids:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(ids))
                    .values(
                        status=OutboxStatus.SENDING,
                        claimed_by=self.worker_id,
                        claimed_until=now + CLAIM_FOR,
                    )
                )
            return ids

    # ----------------------------------------------------------------- sending

    def run_once(self) -> SendReport:
        """Claim one batch of due messages and deliver them."""
        report = SendReport()
        with self._lock:
            for msg_id in self._claim():
                self._deliver(msg_id, report)
        return report

    def drain(self, max_passes: int = 1000) -> SendReport:
        """Deliver until nothing is due now (messages waiting on a later retry stay queued)."""
        total = SendReport()
        for _ in range(max_passes):
            r = self.run_once()
            total.sent += r.sent
            total.retried += r.retried
            total.dead += r.dead
            total.deferred += r.deferred
            total.errors += r.errors
            if r.handled == 0 or r.sent + r.dead == 0:
                break
        return total

    def _resolve_ref(self, session: Session, key: str) -> dict[str, Any]:
        ref = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
        if ref is None:
            raise DeliveryError("ref_not_found", permanent=True)
        if ref.status == OutboxStatus.DEAD:
            raise DeliveryError("ref_dead", permanent=True)
        if ref.status != OutboxStatus.SENT or not ref.result:
            raise _Defer(ref.next_attempt_at)
        return {"channel": ref.result["channel"], "ts": ref.result["ts"]}

    def _perform(self, session: Session, msg: OutboxMessage) -> dict[str, Any]:
        payload = dict(msg.payload)
        args = {k: v for k, v in payload.items() if k not in META_KEYS}
        result: dict[str, Any] = {}
        if "template" in payload:
            if self._renderer is None:
                raise DeliveryError("no_renderer", permanent=True)
            args.update(self._renderer(payload["template"], payload.get("data") or {}))
        if "ref" in payload:
            args.update(self._resolve_ref(session, payload["ref"]))
        if msg.method == "chat.postMessage" and ("user" in payload or "users" in payload):
            users = payload.get("users") or [payload["user"]]
            opened = self._messenger.call(
                msg.team_id, "conversations.open", {"users": ",".join(users)}
            )
            channel = opened.get("channel")
            assert isinstance(channel, dict)
            args["channel"] = channel["id"]
        answer = self._messenger.call(msg.team_id, msg.method, args)
        for k in ("channel", "ts"):
            if k in answer:
                result[k] = answer[k]
        if msg.method == "chat.postMessage" and "channel" not in result:
            result["channel"] = args.get("channel")
        if "view" in answer and isinstance(answer["view"], dict):
            result["view_id"] = answer["view"].get("id")
        return result

    def _deliver(self, msg_id: int, report: SendReport) -> None:
        with unit_of_work(self._sessions) as session:
            msg = session.get(OutboxMessage, msg_id)
            if (
                msg is None
                or msg.status != OutboxStatus.SENDING
                or msg.claimed_by != self.worker_id
            ):
                return
            now = self._clock.now()
            try:
                msg.result = self._perform(session, msg)
            except _Defer as wait:
                msg.status = OutboxStatus.PENDING
                msg.claimed_by = None
                msg.claimed_until = None
                msg.next_attempt_at = max(now, wait.until)
                report.deferred += 1
                return
            except DeliveryError as err:
                self._failed(session, msg, err, now, report)
                return
            except Exception as exc:  # a bug or an unexpected answer: retry, then dead-letter
                log.exception("outbox %s: unexpected error", msg.idempotency_key)
                self._failed(
                    session, msg, DeliveryError(type(exc).__name__, permanent=False), now, report
                )
                return
            msg.status = OutboxStatus.SENT
            msg.sent_at = now
            msg.attempts += 1
            msg.claimed_by = None
            msg.claimed_until = None
            report.sent += 1
            if self._on_sent is not None and "on_sent" in msg.payload:
                self._on_sent(session, msg)

    def _failed(
        self,
        session: Session,
        msg: OutboxMessage,
        err: DeliveryError,
        now: datetime,
        report: SendReport,
    ) -> None:
        msg.last_error = err.code
        msg.claimed_by = None
        msg.claimed_until = None
        if err.rate_limited:
            # Slack asked us to wait: not the message's fault, no attempt counted.
            msg.status = OutboxStatus.PENDING
            msg.next_attempt_at = now + timedelta(seconds=err.retry_after or 1)
            report.retried += 1
            return
        msg.attempts += 1
        if err.permanent or msg.attempts >= self._max_attempts:
            msg.status = OutboxStatus.DEAD
            self.dead_letters += 1
            report.dead += 1
            report.errors.append(f"{msg.idempotency_key}: {err.code}")
            log.warning(
                "outbox %s dead after %d attempt(s): %s",
                msg.idempotency_key,
                msg.attempts,
                err.code,
                extra={"outbox_key": msg.idempotency_key, "slack_error": err.code},
            )
            if self._on_failure is not None:
                self._on_failure(session, msg, err.code)
            return
        msg.status = OutboxStatus.PENDING
        msg.next_attempt_at = now + backoff(msg.attempts)
        report.retried += 1


def is_unreachable(code: str) -> bool:
    """True when a Slack error code means the person cannot be messaged."""
    return code in UNREACHABLE_CODES
