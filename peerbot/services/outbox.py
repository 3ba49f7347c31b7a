"""The outbox: Slack messages recorded with the state change behind them, delivered afterwards.

A service calls :func:`enqueue` inside its unit of work; :class:`OutboxSender` delivers what is
due, honours 429 ``Retry-After``, backs off on errors and gives up after a bounded number of
attempts (status ``dead``, logged and counted). Each message has an idempotency key: enqueuing
the same key twice records it once, so a retried request never sends twice.

Payload conventions (beyond the Web API method's own arguments):

- ``{"user": U}`` on ``chat.postMessage``: post to the bot's DM with U (Slack takes the user id
  as ``channel``); ``{"users": [A, B]}``: open the group DM first (``conversations.open``).
- ``{"ref": KEY}`` on ``chat.update``/``chat.delete``: the channel and ``ts`` of the message sent
  under idempotency key ``KEY``; the update waits until that message is sent.
- ``{"template": NAME, "data": {...}}``: the message's text and blocks, rendered at send time by
  the :data:`Renderer` (the Slack surface's Block Kit builders), so services never build blocks.
- ``{"on_fail": {...}}`` / ``{"on_sent": {...}}``: handed to the failure / success handler, so the
  service can react (skip a helper who cannot be messaged; remember a group DM's channel).

Exactly once
------------
Each message is claimed on its own (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite takes the
write lock for the claim), in a short transaction of its own; the Slack calls run outside any
transaction and their outcome is recorded in a second one. A crash therefore leaves at most the
one message in flight in doubt, and it is settled as follows.

``chat.postMessage`` is the one call where a repeat shows: every post carries Slack message
metadata ``{"event_type": "peerbot_outbox", "event_payload": {"key": <digest of the key>}}``, and
``outbox.unconfirmed_since`` is set when the message is claimed, before the call. It is cleared
once Slack's answer is recorded (sent, or refused with an error or a 429). A message found with
it still set (the sender crashed, its claim expired; or the call timed out or Slack answered 5xx,
which may have posted) is first looked for in its channel's recent history
(``conversations.history``, ``oldest`` = that time less :data:`HISTORY_SKEW`,
``include_all_metadata``): found, it is marked sent with the ``ts`` Slack gave it, without posting
again; not found, it is posted. This needs the ``im:history`` and ``mpim:history`` scopes, as
peerbot posts only in DMs and group DMs; where history cannot be read (a channel without the
scope) the sender logs a warning and posts again (at least once).

The other calls need no such check: ``chat.update``, ``views.publish`` and ``conversations.open``
give the same result when repeated, and a repeated ``chat.delete`` answers ``message_not_found``,
which counts as done when the earlier attempt is in doubt. ``chat.postEphemeral`` cannot be
confirmed (ephemeral messages are not in history); a repeat after a crash is possible and
harmless (it is seen once, by one person, and goes away).

A message whose claim expires is counted as one attempt, so a message that crashes the sender
every time ends in the dead letters too. The claim (:data:`CLAIM_FOR`, two minutes) is far longer
than a delivery (one or two calls with slack_sdk's 15 s timeout), so a live sender never loses it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.ports import UNREACHABLE_CODES, Clock, DeliveryError, Messenger
from peerbot.store.db import unit_of_work
from peerbot.store.models import OutboxKind, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIM_FOR = timedelta(minutes=2)
META_KEYS = ("user", "users", "ref", "on_fail", "on_sent", "template", "data")

#: Slack message metadata ``event_type`` of every post the outbox makes.
METADATA_EVENT = "peerbot_outbox"
#: The history search for an unconfirmed post starts this long before its attempt began, for
#: clock skew between this host and Slack.
HISTORY_SKEW = timedelta(minutes=5)
#: ``conversations.history`` page size and how many pages to read at most (a DM holds far fewer
#: of peerbot's messages in a few minutes).
HISTORY_PAGE = 100
HISTORY_MAX_PAGES = 10

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


def outbox_tag(key: str) -> str:
    """The value that marks a post as the outbox message ``key`` in its Slack metadata.

    A digest rather than the key itself: Slack shows message metadata to every app and member
    of the workspace, and keys name internal records.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def message_metadata(key: str) -> dict[str, Any]:
    """The ``metadata`` argument the outbox adds to ``chat.postMessage`` for ``key``."""
    return {"event_type": METADATA_EVENT, "event_payload": {"key": outbox_tag(key)}}


def carries_tag(message: dict[str, Any], tag: str) -> bool:
    """Whether a message from ``conversations.history`` was posted by the outbox as ``tag``."""
    meta = message.get("metadata")
    if not isinstance(meta, dict) or meta.get("event_type") != METADATA_EVENT:
        return False
    payload = meta.get("event_payload")
    return isinstance(payload, dict) and payload.get("key") == tag


@dataclass
class SendReport:
    """What one pass of the sender did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    #: Of ``sent``: found already in Slack after an attempt with an unknown outcome.
    recovered: int = 0
    #: Of ``retried``: answered 429 (not counted as attempts).
    rate_limited: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        """Messages taken from the queue in this pass."""
        return self.sent + self.retried + self.dead + self.deferred

    def add(self, other: SendReport) -> None:
        """Fold another pass into this one."""
        self.sent += other.sent
        self.retried += other.retried
        self.dead += other.dead
        self.deferred += other.deferred
        self.recovered += other.recovered
        self.rate_limited += other.rate_limited
        self.errors += other.errors


class _Defer(Exception):
    """The message depends on one not yet sent; try again when that one is next tried."""

    def __init__(self, until: datetime) -> None:
        super().__init__(until.isoformat())
        self.until = until


@dataclass
class _Job:
    """A claimed message, read in the claim's transaction and sent outside any transaction."""

    id: int
    team_id: str
    key: str
    method: str
    payload: dict[str, Any]
    attempts: int
    #: When an earlier post attempt whose outcome is unknown began (None: there is none).
    unconfirmed_since: datetime | None
    #: The previous holder's claim expired (it crashed or hung) rather than being released.
    lost_claim: bool
    ref_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Pass:
    """State of one :meth:`OutboxSender.run_once`."""

    #: Messages already taken in this pass (a deferred one is not taken again at once).
    skip: set[int] = field(default_factory=set)
    #: Whether to look for messages whose sender's claim expired.
    doubts: bool = True


@dataclass
class _Outcome:
    """What happened to a job in Slack."""

    result: dict[str, Any] | None = None
    recovered: bool = False
    error: DeliveryError | None = None
    #: This attempt's chat.postMessage may have been posted (no clear answer from Slack).
    maybe_posted: bool = False
    #: Earlier unconfirmed attempts are settled (none, or not found in the channel's history).
    prior_settled: bool = True


class OutboxSender:
    """Delivers due outbox messages. Safe to run in several processes at once on PostgreSQL.

    ``batch_size`` messages at most per :meth:`run_once`, each claimed on its own for
    ``claim_for``. A 429 pauses the workspace's deliveries in this sender for ``Retry-After``
    (:meth:`resume_in` says for how long), so a rate limit is not hammered message after
    message. Counters for monitoring: ``dead_letters``, ``recovered``, ``rate_limited``.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        messenger: Messenger,
        clock: Clock,
        *,
        worker_id: str | None = None,
        batch_size: int = 50,
        max_attempts: int = MAX_ATTEMPTS,
        claim_for: timedelta = CLAIM_FOR,
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
        self._claim_for = claim_for
        self._renderer = renderer
        self._on_failure = on_failure
        self._on_sent = on_sent
        self._lock = threading.Lock()
        self._paused: dict[str, datetime] = {}
        self.dead_letters = 0
        self.recovered = 0
        self.rate_limited = 0

    # ----------------------------------------------------------------- pauses (429)

    def _pause(self, team_id: str, until: datetime) -> None:
        current = self._paused.get(team_id)
        if current is None or until > current:
            self._paused[team_id] = until

    def _paused_teams(self, now: datetime) -> list[str]:
        self._paused = {t: u for t, u in self._paused.items() if u > now}
        return sorted(self._paused)

    def resume_in(self) -> float | None:
        """Seconds until the first workspace paused by a 429 may be called again, if any."""
        now = self._clock.now()
        ends = [u for u in dict(self._paused).values() if u > now]
        return (min(ends) - now).total_seconds() if ends else None

    # ----------------------------------------------------------------- claiming

    def _claim(self, pass_: _Pass, report: SendReport) -> _Job | bool:
        """Claim the next due message: a job, True when one was handled without Slack (deferred
        on its ref), False when nothing is due."""
        skip = pass_.skip
        now = self._clock.now()
        paused = self._paused_teams(now)
        with unit_of_work(self._sessions) as session:
            lock = session.get_bind().dialect.name == "postgresql"

            def first(*where: ColumnElement[bool]) -> OutboxMessage | None:
                stmt = select(OutboxMessage).where(*where)
                if paused:
                    stmt = stmt.where(OutboxMessage.team_id.not_in(paused))
                if skip:
                    stmt = stmt.where(OutboxMessage.id.not_in(skip))
                stmt = stmt.order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(1)
                if lock:
                    stmt = stmt.with_for_update(skip_locked=True)
                return session.scalar(stmt)

            # Messages in doubt (their sender's claim expired) first, then the next due one; each
            # an index range scan on (status, next_attempt_at, id) that stops at the first row.
            # Doubts are rare: once none is found, the rest of the pass looks no more.
            msg = None
            if pass_.doubts:
                msg = first(
                    OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claimed_until < now
                )
                pass_.doubts = msg is not None
            if msg is None:
                msg = first(
                    OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.next_attempt_at <= now,
                )
            if msg is None:
                return False
            skip.add(msg.id)
            lost = msg.status == OutboxStatus.SENDING
            if lost:
                msg.attempts += 1
                log.warning(
                    "outbox %s: the claim of %s expired; its attempt's outcome is unknown",
                    msg.idempotency_key,
                    msg.claimed_by,
                    extra={"outbox_key": msg.idempotency_key},
                )
            ref_args: dict[str, Any] = {}
            if "ref" in msg.payload:
                try:
                    ref_args = self._resolve_ref(session, msg.payload["ref"])
                except _Defer as wait:
                    self._release(msg)
                    msg.next_attempt_at = max(now, wait.until)
                    report.deferred += 1
                    return True
                except DeliveryError as err:
                    self._failed(session, msg, err, now, report)
                    return True
            job = _Job(
                id=msg.id,
                team_id=msg.team_id,
                key=msg.idempotency_key,
                method=msg.method,
                payload=dict(msg.payload),
                attempts=msg.attempts,
                unconfirmed_since=msg.unconfirmed_since,
                lost_claim=lost,
                ref_args=ref_args,
            )
            msg.status = OutboxStatus.SENDING
            msg.claimed_by = self.worker_id
            msg.claimed_until = now + self._claim_for
            if msg.method == "chat.postMessage" and msg.unconfirmed_since is None:
                msg.unconfirmed_since = now
            return job

    @staticmethod
    def _release(msg: OutboxMessage) -> None:
        msg.status = OutboxStatus.PENDING
        msg.claimed_by = None
        msg.claimed_until = None

    # ----------------------------------------------------------------- sending

    def run_once(self) -> SendReport:
        """Deliver up to ``batch_size`` due messages, claiming each one on its own."""
        report = SendReport()
        pass_ = _Pass()
        with self._lock:
            for _ in range(self._batch):
                job = self._claim(pass_, report)
                if job is False:
                    break
                if isinstance(job, _Job):
                    self._record(job, self._attempt(job), report)
        return report

    def drain(self, max_passes: int = 1000) -> SendReport:
        """Deliver until nothing is due now (messages waiting on a later retry stay queued)."""
        total = SendReport()
        for _ in range(max_passes):
            r = self.run_once()
            total.add(r)
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

    def _attempt(self, job: _Job) -> _Outcome:
        """Make the job's Slack calls (no transaction is open meanwhile)."""
        out = _Outcome(prior_settled=job.unconfirmed_since is None)
        try:
            out.result = self._perform(job, out)
        except DeliveryError as err:
            out.error = err
        except Exception as exc:  # a bug or an unexpected answer: retry, then dead-letter
            log.exception("outbox %s: unexpected error", job.key)
            out.error = DeliveryError(type(exc).__name__, permanent=False)
        return out

    def _perform(self, job: _Job, out: _Outcome) -> dict[str, Any]:
        payload = job.payload
        args = {k: v for k, v in payload.items() if k not in META_KEYS}
        if "template" in payload:
            if self._renderer is None:
                raise DeliveryError("no_renderer", permanent=True)
            args.update(self._renderer(payload["template"], payload.get("data") or {}))
        args.update(job.ref_args)
        posting = job.method == "chat.postMessage"
        if posting and "users" in payload:
            args["channel"] = self._open(job.team_id, payload["users"])
        elif posting and "user" in payload:
            # A user id as channel posts to the bot's DM with them: no conversations.open
            # (Tier 3) per message, which would bound throughput at Slack's real limits.
            args["channel"] = payload["user"]
        if posting:
            args.setdefault("metadata", message_metadata(job.key))
            if job.unconfirmed_since is not None:
                if "user" in payload:  # the history check needs the DM's channel id
                    args["channel"] = self._open(job.team_id, [payload["user"]])
                found = self._find_posted(job, args)
                if found is not None:
                    out.recovered = True
                    return found
                out.prior_settled = True
        if job.lost_claim and job.attempts >= self._max_attempts:
            raise DeliveryError("crashed_during_delivery", permanent=True)
        out.maybe_posted = posting
        try:
            answer = self._messenger.call(job.team_id, job.method, args)
        except DeliveryError as err:
            if err.permanent or err.rate_limited:
                out.maybe_posted = False  # Slack answered: nothing was posted
            if (
                job.method == "chat.delete"
                and err.code == "message_not_found"
                and (job.lost_claim or job.attempts > 0)
            ):
                return {k: args[k] for k in ("channel", "ts") if k in args}
            raise
        result: dict[str, Any] = {}
        for k in ("channel", "ts"):
            if k in answer:
                result[k] = answer[k]
        if posting and "channel" not in result:
            result["channel"] = args.get("channel")
        if "view" in answer and isinstance(answer["view"], dict):
            result["view_id"] = answer["view"].get("id")
        return result

    def _open(self, team_id: str, users: list[str]) -> str:
        """The DM or group DM with ``users`` (``conversations.open`` is idempotent)."""
        opened = self._messenger.call(team_id, "conversations.open", {"users": ",".join(users)})
        channel = opened.get("channel")
        if not isinstance(channel, dict) or not isinstance(channel.get("id"), str):
            raise DeliveryError("unexpected_answer", permanent=False)
        return str(channel["id"])

    def _find_posted(self, job: _Job, args: dict[str, Any]) -> dict[str, Any] | None:
        """Look for the job's earlier post in its channel; its channel and ts when found.

        A 429 or a transient error propagates (the check is tried again later); when the
        history cannot be read at all, the message is posted again, with a warning.
        """
        assert job.unconfirmed_since is not None
        channel = str(args.get("channel") or "")
        if channel[:1] in ("U", "W"):  # a user id posts into the app's DM with that user
            channel = self._open(job.team_id, [channel])
        tag = outbox_tag(job.key)
        oldest = (job.unconfirmed_since - HISTORY_SKEW).timestamp()
        cursor = ""
        for _ in range(HISTORY_MAX_PAGES):
            query: dict[str, Any] = {
                "channel": channel,
                "oldest": f"{max(oldest, 0.0):.6f}",
                "inclusive": True,
                "limit": HISTORY_PAGE,
                "include_all_metadata": True,
            }
            if cursor:
                query["cursor"] = cursor
            try:
                page = self._messenger.call(job.team_id, "conversations.history", query)
            except DeliveryError as err:
                if err.permanent:
                    log.warning(
                        "outbox %s: cannot read %s's history to confirm an earlier attempt "
                        "(%s); posting again",
                        job.key,
                        channel,
                        err.code,
                        extra={"outbox_key": job.key, "slack_error": err.code},
                    )
                    return None
                raise
            messages = page.get("messages")
            for message in messages if isinstance(messages, list) else []:
                if isinstance(message, dict) and carries_tag(message, tag):
                    log.info(
                        "outbox %s: already in Slack (ts %s), not posting again",
                        job.key,
                        message.get("ts"),
                        extra={"outbox_key": job.key},
                    )
                    return {"channel": channel, "ts": message.get("ts")}
            meta = page.get("response_metadata")
            cursor = str(meta.get("next_cursor") or "") if isinstance(meta, dict) else ""
            if not page.get("has_more") or not cursor:
                return None
        log.warning(
            "outbox %s: %s has too many messages to confirm an earlier attempt; posting again",
            job.key,
            channel,
        )
        return None

    # ----------------------------------------------------------------- recording

    def _record(self, job: _Job, out: _Outcome, report: SendReport) -> None:
        """Write the outcome in a transaction of its own."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            pg = session.get_bind().dialect.name == "postgresql"
            msg = session.get(OutboxMessage, job.id, with_for_update=pg or None)
            if msg is None:
                return
            mine = msg.status == OutboxStatus.SENDING and msg.claimed_by == self.worker_id
            if out.result is not None:
                if msg.status == OutboxStatus.SENT:
                    log.warning("outbox %s: recorded as sent by another sender", job.key)
                    return
                if not mine:
                    log.warning("outbox %s: claim lost while sending; recording it", job.key)
                msg.result = out.result
                msg.status = OutboxStatus.SENT
                msg.sent_at = now
                if not out.recovered:
                    msg.attempts += 1
                msg.claimed_by = None
                msg.claimed_until = None
                msg.unconfirmed_since = None
                report.sent += 1
                if out.recovered:
                    report.recovered += 1
                    self.recovered += 1
                if self._on_sent is not None and "on_sent" in msg.payload:
                    self._on_sent(session, msg)
                return
            if not mine:
                log.warning("outbox %s: claim lost while sending; leaving it", job.key)
                return
            if out.prior_settled and not out.maybe_posted:
                msg.unconfirmed_since = None
            assert out.error is not None
            self._failed(session, msg, out.error, now, report)

    def _failed(
        self,
        session: Session,
        msg: OutboxMessage,
        err: DeliveryError,
        now: datetime,
        report: SendReport,
    ) -> None:
        msg.last_error = err.code
        self._release(msg)
        if err.rate_limited:
            # Slack asked us to wait: not the message's fault, no attempt counted, and nothing
            # more for this workspace from this sender until then.
            until = now + timedelta(seconds=err.retry_after or 1)
            msg.next_attempt_at = until
            self._pause(msg.team_id, until)
            self.rate_limited += 1
            report.rate_limited += 1
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
        msg.next_attempt_at = now + backoff(msg.attempts)
        report.retried += 1


def is_unreachable(code: str) -> bool:
    """True when a Slack error code means the person cannot be messaged."""
    return code in UNREACHABLE_CODES
