"""The outbox queue's SQL: enqueue a notice, claim the next due message, record the outcome.

The delivery policy (backoff, pauses on 429, dead letters) is the sender's
(``peerbot.services.outbox``); what a message looks like in Slack is the Slack surface's. Here
only rows move: each claim is one short transaction that takes one row (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; SQLite's write lock serialises claims), so several senders never take
the same message.

A unit of work that enqueues marks its session; :func:`wake_on_commit` turns that mark into a
call once the transaction has committed, so the sender is woken by the commit itself and never
before the message is visible.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, event, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.notices import (
    Audience,
    Notice,
    Replacing,
    decode,
    decode_audience,
    encode,
    encode_audience,
)
from peerbot.domain.ports import SentRef
from peerbot.store.models import OutboxKind, OutboxMessage, OutboxStatus, Workspace

#: ``Session.info`` flag: this transaction enqueued at least one message.
_ENQUEUED = "peerbot.outbox.enqueued"


def enqueue(
    session: Session,
    *,
    team_id: str,
    key: str,
    notice: Notice,
    to: Audience,
    now: datetime,
    not_before: datetime | None = None,
) -> OutboxMessage | None:
    """Record ``notice`` for ``to``, to deliver once the transaction commits.

    ``key`` is the message's idempotency key: a second enqueue under the same key records
    nothing, so a retried request never sends twice. A key enqueued in this unit of work
    already returns None at once; one recorded before is looked for when the session flushes,
    in one query for every message enqueued since the last flush (:func:`_drop_taken_keys`):
    that message is then dropped, not inserted (the returned object is left unsaved).
    """
    if any(isinstance(o, OutboxMessage) for o in session.deleted):
        session.flush()  # a key freed in this transaction (never seen: exact all the same)
    for obj in session.new:
        if isinstance(obj, OutboxMessage) and obj.idempotency_key == key:
            return None
    msg = OutboxMessage(
        team_id=team_id,
        idempotency_key=key,
        kind=OutboxKind.UPDATE if isinstance(to, Replacing) else OutboxKind.POST,
        notice=notice.kind,
        payload={"notice": encode(notice), "to": encode_audience(to)},
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=not_before or now,
        created_at=now,
    )
    session.add(msg)
    session.info[_ENQUEUED] = True
    session.info.setdefault(_UNCHECKED, []).append(msg)
    return msg


#: ``Session.info`` key: messages enqueued since the last flush, their keys not yet looked for.
_UNCHECKED = "peerbot.outbox.unchecked"
#: Keys looked for per query at most (a tick may enqueue thousands in one transaction).
KEY_CHUNK = 500


@event.listens_for(Session, "before_flush")
def _drop_taken_keys(session: Session, _context: object, _instances: object) -> None:
    """Before a flush inserts the messages enqueued since the last one: drop those whose key
    is recorded already (in one query per :data:`KEY_CHUNK` keys, not one per message)."""
    unchecked = session.info.pop(_UNCHECKED, None)
    if not unchecked:
        return
    pending = [m for m in unchecked if m in session.new]
    keys = [m.idempotency_key for m in pending]
    taken: set[str] = set()
    for i in range(0, len(keys), KEY_CHUNK):
        taken.update(
            session.scalars(
                select(OutboxMessage.idempotency_key).where(
                    OutboxMessage.idempotency_key.in_(keys[i : i + KEY_CHUNK])
                )
            )
        )
    for msg in pending:
        if msg.idempotency_key in taken:
            session.expunge(msg)


def key_free(session: Session, key: str) -> bool:
    """True when no message has been recorded under ``key`` yet.

    Messages enqueued in this unit of work and not flushed yet are looked at in the session,
    without flushing them: the transaction's messages then go out in one INSERT at commit."""
    if any(isinstance(o, OutboxMessage) for o in session.deleted):
        session.flush()  # a key freed in this transaction (never seen: exact all the same)
    for obj in session.new:
        if isinstance(obj, OutboxMessage) and obj.idempotency_key == key:
            return False
    with session.no_autoflush:
        found = session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
    return found is None


_WAKERS: weakref.WeakKeyDictionary[sessionmaker[Session], list[Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)


def wake_on_commit(sessions: sessionmaker[Session], wake: Callable[[], None]) -> None:
    """Call ``wake()`` after every commit of a ``sessions`` transaction that enqueued."""
    wakers = _WAKERS.get(sessions)
    if wakers is not None:
        wakers.append(wake)
        return
    wakers = _WAKERS[sessions] = [wake]

    def after_commit(session: Session) -> None:
        if session.info.pop(_ENQUEUED, False):
            for each in list(wakers):
                each()

    def after_rollback(session: Session, _transaction: object) -> None:
        session.info.pop(_ENQUEUED, None)

    event.listen(sessions, "after_commit", after_commit)
    event.listen(sessions, "after_soft_rollback", after_rollback)


def notice_of(msg: OutboxMessage) -> Notice:
    """The notice a message carries."""
    return decode(msg.payload["notice"])


def audience_of(msg: OutboxMessage) -> Audience:
    """Who a message is for."""
    return decode_audience(msg.payload["to"])


def sent_ref(msg: OutboxMessage) -> SentRef | None:
    """Where a sent message is in Slack (None until sent)."""
    if not msg.result or not msg.result.get("channel"):
        return None
    ts = msg.result.get("ts")
    return SentRef(channel=str(msg.result["channel"]), ts=str(ts) if ts else None)


def by_key(session: Session, key: str) -> OutboxMessage | None:
    """The message recorded under ``key``."""
    return session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))


def last_key_with_prefix(session: Session, prefix: str) -> str | None:
    """The most recently recorded key starting with ``prefix`` (None when there is none)."""
    return session.scalar(
        select(OutboxMessage.idempotency_key)
        .where(OutboxMessage.idempotency_key.startswith(prefix, autoescape=True))
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )


# --------------------------------------------------------------------------- updates in order
#
# Every update (a ``Replacing`` audience, ``chat.update``) carries the whole message, rendered
# at send time, so of several updates of one Slack message only the newest queued matters. The
# message they change (their *target*) keeps, in its ``result``, the id of the newest update
# handed to Slack for it (:data:`NEWEST_UPDATE`): an older update claimed after that is
# superseded (settled without a call), and a newer one waits while an older one is in flight.

#: ``result`` key of a message that updates change: the id of the newest update claimed for it.
NEWEST_UPDATE = "newest_update"
#: ``result`` key of an update settled without a call: the id of the newer update that made it
#: pointless (it never reached Slack).
SUPERSEDED_BY = "superseded_by"


def superseded(msg: OutboxMessage) -> bool:
    """Whether ``msg`` is an update settled without a call, a newer one having replaced it."""
    return msg.status == OutboxStatus.SENT and bool((msg.result or {}).get(SUPERSEDED_BY))


def replaced_message(session: Session, key: str) -> OutboxMessage | None:
    """The message an update of ``key`` changes: the one recorded under ``key`` or, when that
    was itself an update superseded by a newer one (so never sent), the message it would have
    changed (and so on up)."""
    msg = by_key(session, key)
    while msg is not None and superseded(msg):
        to = audience_of(msg)
        if not isinstance(to, Replacing):
            return msg
        msg = by_key(session, to.key)
    return msg


def target_of(session: Session, msg: OutboxMessage) -> OutboxMessage:
    """The Slack message ``msg`` (sent) is: itself when it was posted, or, for an update, the
    post it changed (an update of an update changes the same message). An update of a message
    that could never be delivered was posted to its fallback recipient: a message of its own."""
    while True:
        to = audience_of(msg)
        if not isinstance(to, Replacing):
            return msg
        parent = by_key(session, to.key)
        if parent is None or parent.status == OutboxStatus.DEAD:
            return msg
        msg = parent


def lock_target(session: Session, target: OutboxMessage) -> OutboxMessage | None:
    """``target`` read again, locked for this claim (on PostgreSQL; SQLite's write lock
    serialises claims), so that two senders claim updates of one message one after the other;
    None when another claim holds it now (try again shortly: never waiting, so never a
    deadlock)."""
    stmt = select(OutboxMessage).where(OutboxMessage.id == target.id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return session.scalar(stmt.execution_options(populate_existing=True))


def newest_update(target: OutboxMessage) -> int | None:
    """The id of the newest update of ``target`` claimed so far (None: none yet)."""
    found = (target.result or {}).get(NEWEST_UPDATE)
    return int(found) if found is not None else None


def set_newest_update(target: OutboxMessage, update_id: int) -> None:
    """Record that update ``update_id`` of ``target`` is being sent (newer than any before)."""
    target.result = {**(target.result or {}), NEWEST_UPDATE: update_id}


def mark_superseded(msg: OutboxMessage, newer_id: int, now: datetime) -> None:
    """Settle the update ``msg`` without a call: ``newer_id``, queued after it for the same
    message, is in Slack or on its way (no new status value: it counts as settled, like a
    sent message, and is pruned with them)."""
    msg.result = {SUPERSEDED_BY: newer_id}
    msg.status = OutboxStatus.SENT
    msg.sent_at = now
    msg.claimed_by = None
    msg.claimed_until = None
    msg.unconfirmed_since = None
    msg.failing_since = None


@dataclass
class ClaimFilter:
    """Which rows a claim may take."""

    now: datetime
    #: Workspaces whose sending is paused (by this sender; those marked paused for every
    #: sender, :func:`pause_workspace`, are left out by the claim's query itself).
    paused: Collection[str] = ()
    #: Messages already taken in this pass.
    skip: Collection[int] = ()


class Claimable(NamedTuple):
    """A message a claim may take, locked, and whether its workspace is marked paused
    (:func:`pause_workspace`; a pause that ended: sending it probes the workspace)."""

    msg: OutboxMessage
    marked: bool


def _first(session: Session, flt: ClaimFilter, *where: ColumnElement[bool]) -> Claimable | None:
    # Not where sending is paused for every sender (read here, not in a statement of its own).
    paused = select(Workspace.team_id).where(
        Workspace.team_id == OutboxMessage.team_id,
        Workspace.sending_paused_reason.is_not(None),
        Workspace.sending_paused_until > flt.now,
    )
    marked = (
        select(Workspace.team_id)
        .where(
            Workspace.team_id == OutboxMessage.team_id,
            Workspace.sending_paused_reason.is_not(None),
        )
        .exists()
    )
    stmt = select(OutboxMessage, marked).where(*where, ~paused.exists())
    if flt.paused:
        stmt = stmt.where(OutboxMessage.team_id.not_in(list(flt.paused)))
    if flt.skip:
        stmt = stmt.where(OutboxMessage.id.not_in(list(flt.skip)))
    stmt = stmt.order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=OutboxMessage, skip_locked=True)
    row = session.execute(stmt).first()
    return None if row is None else Claimable(row[0], bool(row[1]))


def next_in_doubt(session: Session, flt: ClaimFilter) -> Claimable | None:
    """A message whose sender's claim expired (it crashed or hung), locked for this claim."""
    return _first(
        session,
        flt,
        OutboxMessage.status == OutboxStatus.SENDING,
        OutboxMessage.claimed_until < flt.now,
    )


def next_due(session: Session, flt: ClaimFilter) -> Claimable | None:
    """The next pending message due at ``flt.now``, locked for this claim.

    An index range scan on (status, next_attempt_at, id) that stops at the first row.
    """
    return _first(
        session,
        flt,
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.next_attempt_at <= flt.now,
    )


def take(
    msg: OutboxMessage, worker_id: str, until: datetime, now: datetime, *, posting: bool
) -> None:
    """Mark ``msg`` as being sent by ``worker_id`` until ``until``.

    When it will post a new message, ``unconfirmed_since`` is set before the call, so that a
    crash leaves it in doubt (and it is looked for in Slack before being posted again).
    """
    msg.status = OutboxStatus.SENDING
    msg.claimed_by = worker_id
    msg.claimed_until = until
    if posting and msg.unconfirmed_since is None:
        msg.unconfirmed_since = now


def release(msg: OutboxMessage, next_attempt_at: datetime | None = None) -> None:
    """Back to the queue, due at ``next_attempt_at`` (unchanged when None)."""
    msg.status = OutboxStatus.PENDING
    msg.claimed_by = None
    msg.claimed_until = None
    if next_attempt_at is not None:
        msg.next_attempt_at = next_attempt_at


def for_record(session: Session, message_id: int) -> OutboxMessage | None:
    """The message, locked, to record an attempt's outcome."""
    pg = session.get_bind().dialect.name == "postgresql"
    return session.get(OutboxMessage, message_id, with_for_update=pg or None)


def mark_sent(msg: OutboxMessage, ref: SentRef, now: datetime, *, counted: bool) -> None:
    """Record a delivery; ``counted``: this sender made the call (not found after a crash)."""
    result: dict[str, Any] = {"channel": ref.channel}
    if ref.ts:
        result["ts"] = ref.ts
    msg.result = result
    msg.status = OutboxStatus.SENT
    msg.sent_at = now
    if counted:
        msg.attempts += 1
    msg.claimed_by = None
    msg.claimed_until = None
    msg.unconfirmed_since = None
    msg.failing_since = None


def mark_sent_if_claimed(
    session: Session,
    message_id: int,
    worker_id: str,
    ref: SentRef,
    now: datetime,
    *,
    counted: bool,
) -> bool:
    """:func:`mark_sent` in one UPDATE, when ``worker_id`` still holds the message's claim;
    False (nothing changed) otherwise: then read it (:func:`for_record`) and decide."""
    result: dict[str, Any] = {"channel": ref.channel}
    if ref.ts:
        result["ts"] = ref.ts
    done = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.claimed_by == worker_id,
        )
        .values(
            result=result,
            status=OutboxStatus.SENT,
            sent_at=now,
            attempts=OutboxMessage.attempts + (1 if counted else 0),
            claimed_by=None,
            claimed_until=None,
            unconfirmed_since=None,
            failing_since=None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(cast(CursorResult[Any], done).rowcount)


def mark_dead(msg: OutboxMessage, code: str) -> None:
    """Give up on ``msg`` (a dead letter, counted in ``/metrics``)."""
    msg.last_error = code[:2000]
    msg.status = OutboxStatus.DEAD
    msg.claimed_by = None
    msg.claimed_until = None


def pause_workspace(session: Session, team_id: str, until: datetime, reason: str) -> bool:
    """Pause sending in ``team_id`` until ``until``; True when it was not paused for ``reason``
    already (a new outage, worth telling operators about)."""
    ws = session.get(Workspace, team_id)
    if ws is None:
        ws = Workspace(team_id=team_id, installed_at=until, settings={})
        session.add(ws)
    new = ws.sending_paused_reason != reason
    ws.sending_paused_until = until
    ws.sending_paused_reason = reason[:255]
    return new


def resume_workspace(session: Session, team_id: str) -> str | None:
    """Lift a workspace's pause; the reason it had, or None when it was not paused."""
    ws = session.get(Workspace, team_id)
    if ws is None or ws.sending_paused_reason is None:
        return None
    reason = ws.sending_paused_reason
    ws.sending_paused_until = None
    ws.sending_paused_reason = None
    return reason
