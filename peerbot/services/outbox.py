"""The outbox sender: delivers the notices services record, with the delivery policy.

A service records a notice in its unit of work (``peerbot.store.outbox.enqueue``, through
``peerbot.services.messages``); :class:`OutboxSender` claims what is due, one message at a time,
hands each to the :class:`~peerbot.domain.ports.Deliverer` (the Slack surface renders and posts
it) and records the outcome. The policy lives here, one rule per kind of failure
(``peerbot.domain.ports.Failure``, classified by the Slack surface):

- a 429 pauses the workspace in this sender for ``Retry-After`` (no attempt counted);
- a workspace-wide refusal (the token or scopes) pauses sending there for every sender, logs one
  ERROR saying what to fix, shows in ``/metrics``, and probes again every :data:`WORKSPACE_PROBE`
  (no attempt counted, nobody is blamed);
- a transient failure (5xx, timeout, connection) is retried with backoff (capped at
  :data:`MAX_BACKOFF`) until :data:`RETRY_BUDGET` has passed since the failures began;
- anything else (the recipient cannot be messaged, Slack refused the message itself, what it is
  about is gone) and a spent budget end the message as a dead letter (logged and counted) and
  hand it to the failure handler, so the use-case can react: skip a helper, fail an
  introduction and tell both people, reach the asker by another route.

Exactly once
------------
Each message is claimed on its own in a short transaction; the Slack calls run outside any
transaction and their outcome is recorded in a second one. A crash therefore leaves at most the
one message in flight in doubt: a post's ``outbox.unconfirmed_since`` is set at the claim and
cleared once Slack's answer is recorded. A message found with it still set is looked for in Slack
before it is posted again (``peerbot.slack.delivery``). A message whose claim expires is counted
as one attempt, so a message that crashes the sender every time ends in the dead letters too.
The claim (:data:`CLAIM_FOR`, two minutes) is far longer than a delivery, so a live sender never
loses it.

In order
--------
Updates of one Slack message (``chat.update``; an update of an update changes the same message)
are applied in the order they were queued. Each carries the whole message, so the newest queued
is the one that matters: the message's row records the newest update claimed for it, an older
update claimed after that is superseded (settled without a call, however it got behind: a
backoff, a lost claim), and a newer one claimed while an older one is in flight waits for it
(``peerbot.store.outbox``, "updates in order").
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.notices import Audience, Notice, Replacing, ToPerson
from peerbot.domain.ports import Clock, Deliverer, DeliveryOutcome, Failure, OutboxJob, SentRef
from peerbot.store import outbox as queue
from peerbot.store.db import unit_of_work
from peerbot.store.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

#: Transient failures (5xx, timeouts, connection errors) are retried for this long.
RETRY_BUDGET = timedelta(hours=24)
#: Longest wait between two retries.
MAX_BACKOFF = timedelta(minutes=10)
#: A message whose senders died holding it this many times is given up on (a poison message).
MAX_LOST_CLAIMS = 5
#: While Slack refuses the app's token for a workspace, one message probes it this often.
WORKSPACE_PROBE = timedelta(minutes=5)
CLAIM_FOR = timedelta(minutes=2)

#: Called in the recording transaction when a message is given up on.
FailureHandler = Callable[[Session, Notice, DeliveryOutcome], None]
#: Called in the recording transaction when a message was delivered.
SentHandler = Callable[[Session, Notice, SentRef], None]


def backoff(attempts: int) -> timedelta:
    """Delay before the next attempt after ``attempts`` failures: 2 s doubling, capped at
    :data:`MAX_BACKOFF`."""
    return min(MAX_BACKOFF, timedelta(seconds=2 ** min(max(1, attempts), 20)))


@dataclass
class SendReport:
    """What one pass of the sender did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    #: Updates settled without a call: a newer update of the same message was queued after.
    superseded: int = 0
    #: Of ``sent``: found already in Slack after an attempt with an unknown outcome.
    recovered: int = 0
    #: Of ``retried``: answered 429 (not counted as attempts).
    rate_limited: int = 0
    #: Put back because Slack refused the app's token for their workspace.
    paused: int = 0
    errors: list[str] = field(default_factory=list)
    #: The pass ended because nothing more was due (not at its batch size).
    exhausted: bool = False

    @property
    def handled(self) -> int:
        """Messages taken from the queue in this pass."""
        return self.sent + self.retried + self.dead + self.deferred + self.paused + self.superseded

    def add(self, other: SendReport) -> None:
        """Fold another pass into this one."""
        self.sent += other.sent
        self.retried += other.retried
        self.dead += other.dead
        self.deferred += other.deferred
        self.superseded += other.superseded
        self.recovered += other.recovered
        self.rate_limited += other.rate_limited
        self.paused += other.paused
        self.errors += other.errors


class _Defer(Exception):
    """The message updates one not yet sent, or one an older update is being sent to; try
    again when that one is next tried (or at once)."""

    def __init__(self, until: datetime) -> None:
        super().__init__(until.isoformat())
        self.until = until


class _Superseded(Exception):
    """The message is an update of a message a newer update (``newer``) is in Slack or on its
    way to: sending it now would put the older state back."""

    def __init__(self, newer: int) -> None:
        super().__init__(str(newer))
        self.newer = newer


@dataclass(frozen=True)
class _Claimed:
    """A claimed message: the job for the deliverer and what recording needs."""

    id: int
    job: OutboxJob
    #: Its workspace was marked paused when it was claimed (sent: sending resumes there).
    marked: bool = False


@dataclass
class _Pass:
    """State of one :meth:`OutboxSender.run_once`."""

    #: Messages already taken in this pass (a deferred one is not taken again at once).
    skip: set[int] = field(default_factory=set)
    #: Whether to look for messages whose sender's claim expired.
    doubts: bool = True


class OutboxSender:
    """Delivers due outbox messages. Safe to run in several processes at once on PostgreSQL.

    ``batch_size`` messages at most per :meth:`run_once`, each claimed on its own for
    ``claim_for``. A 429 pauses the workspace's deliveries in this sender for ``Retry-After``
    (:meth:`resume_in` says for how long), so a rate limit is not hammered message after
    message. Counters for monitoring: ``dead_letters``, ``recovered``, ``rate_limited``,
    ``superseded``.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        deliverer: Deliverer,
        clock: Clock,
        *,
        worker_id: str | None = None,
        batch_size: int = 50,
        retry_budget: timedelta = RETRY_BUDGET,
        max_lost_claims: int = MAX_LOST_CLAIMS,
        claim_for: timedelta = CLAIM_FOR,
        on_failure: FailureHandler | None = None,
        on_sent: SentHandler | None = None,
    ) -> None:
        self._sessions = sessions
        self._deliverer = deliverer
        self._clock = clock
        self.worker_id = worker_id or f"sender-{uuid.uuid4().hex[:8]}"
        self._batch = batch_size
        self._budget = retry_budget
        self._max_lost_claims = max_lost_claims
        self._claim_for = claim_for
        self._on_failure = on_failure
        self._on_sent = on_sent
        self._lock = threading.Lock()
        self._paused: dict[str, datetime] = {}
        self.dead_letters = 0
        self.recovered = 0
        self.rate_limited = 0
        self.superseded = 0

    # ----------------------------------------------------------------- pauses (429)

    def _pause(self, team_id: str, until: datetime) -> None:
        current = self._paused.get(team_id)
        if current is None or until > current:
            self._paused[team_id] = until

    def _paused_teams(self, now: datetime) -> list[str]:
        """Workspaces not to send to now: paused by a 429 in this sender (those paused for
        every sender because Slack refused the app's token there are left out by the claim's
        query, :func:`~peerbot.store.outbox.next_due`)."""
        self._paused = {t: u for t, u in self._paused.items() if u > now}
        return sorted(self._paused)

    def resume_in(self) -> float | None:
        """Seconds until the first workspace paused by a 429 may be called again, if any."""
        now = self._clock.now()
        ends = [u for u in dict(self._paused).values() if u > now]
        return (min(ends) - now).total_seconds() if ends else None

    # ----------------------------------------------------------------- claiming

    def _claim(self, pass_: _Pass, report: SendReport) -> _Claimed | bool:
        """Claim the next due message: a claim, True when one was handled without Slack
        (deferred on the message it updates, or undeliverable), False when nothing is due."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            flt = queue.ClaimFilter(now=now, paused=self._paused_teams(now), skip=pass_.skip)
            # Messages in doubt (their sender's claim expired) first, then the next due one.
            # Doubts are rare: once none is found, the rest of the pass looks no more.
            found = None
            if pass_.doubts:
                found = queue.next_in_doubt(session, flt)
                pass_.doubts = found is not None
            if found is None:
                found = queue.next_due(session, flt)
            if found is None:
                return False
            msg = found.msg
            pass_.skip.add(msg.id)
            lost = msg.status == OutboxStatus.SENDING
            if lost:
                msg.attempts += 1
                msg.lost_claims += 1
                log.warning(
                    "outbox %s: the claim of %s expired; its attempt's outcome is unknown",
                    msg.idempotency_key,
                    msg.claimed_by,
                    extra={"outbox_key": msg.idempotency_key},
                )
            try:
                notice = queue.notice_of(msg)
                audience, replace = self._resolve_ref(session, msg, queue.audience_of(msg), now)
            except _Defer as wait:
                queue.release(msg, max(now, wait.until))
                report.deferred += 1
                return True
            except _Superseded as newer:
                queue.mark_superseded(msg, newer.newer, now)
                self.superseded += 1
                report.superseded += 1
                log.info(
                    "outbox %s: not sent, a newer update of the same message was queued after it",
                    msg.idempotency_key,
                    extra={"outbox_key": msg.idempotency_key},
                )
                return True
            except (KeyError, TypeError, ValueError) as exc:
                # A payload that does not decode, or an update of a message that was never
                # delivered: nothing to send.
                self._give_up(
                    session, msg, DeliveryOutcome(failure=Failure.GONE, code=str(exc)), report
                )
                return True
            job = OutboxJob(
                team_id=msg.team_id,
                key=msg.idempotency_key,
                notice=notice,
                audience=audience,
                replace=replace,
                unconfirmed_since=msg.unconfirmed_since,
                last_chance=lost and msg.lost_claims >= self._max_lost_claims,
            )
            posting = not isinstance(audience, Replacing)
            queue.take(msg, self.worker_id, now + self._claim_for, now, posting=posting)
            return _Claimed(id=msg.id, job=job, marked=found.marked)

    def _resolve_ref(
        self, session: Session, msg: OutboxMessage, audience: Audience, now: datetime
    ) -> tuple[Audience, SentRef | None]:
        """Who gets the message and, for an update, where the message it replaces is.

        An update of a message that was never delivered goes to its fallback recipient as a new
        message (so an asker whose receipt failed still hears the answer), or nowhere.

        Updates of one Slack message go out in the order they were queued (each carries the
        whole message): one older than the newest already claimed for that message is
        superseded (:class:`_Superseded`), and one claimed while an older one is in flight
        waits for it (:class:`_Defer`). Updates of an update change the same message.
        """
        if not isinstance(audience, Replacing):
            return audience, None
        ref = queue.replaced_message(session, audience.key)
        if ref is None:
            raise KeyError(f"replaced message never recorded: {audience.key}")
        if ref.status == OutboxStatus.DEAD:
            if audience.fallback:
                return ToPerson(audience.fallback), None
            raise ValueError(f"replaced message never delivered: {audience.key}")
        where = queue.sent_ref(ref)
        if ref.status != OutboxStatus.SENT or where is None:
            raise _Defer(ref.next_attempt_at)
        self._in_order(session, msg, queue.target_of(session, ref), now)
        return audience, where

    @staticmethod
    def _in_order(
        session: Session, msg: OutboxMessage, target: OutboxMessage, now: datetime
    ) -> None:
        """Let the update ``msg`` of ``target`` go only if no newer update of it was claimed
        before, and none older is in flight; record it as the newest claimed."""
        locked = queue.lock_target(session, target)
        if locked is None:
            raise _Defer(now)  # another sender is claiming an update of it this moment
        newest = queue.newest_update(locked)
        if newest is not None and newest > msg.id:
            raise _Superseded(newest)
        if newest is not None and newest != msg.id:
            prior = session.get(OutboxMessage, newest, populate_existing=True)
            if prior is not None and prior.status == OutboxStatus.SENDING:
                raise _Defer(now)  # the older update is in flight: this one goes after it
        queue.set_newest_update(locked, msg.id)

    # ----------------------------------------------------------------- sending

    def run_once(self) -> SendReport:
        """Deliver up to ``batch_size`` due messages, claiming each one on its own."""
        report = SendReport()
        pass_ = _Pass()
        with self._lock:
            for _ in range(self._batch):
                claimed = self._claim(pass_, report)
                if claimed is False:
                    report.exhausted = True
                    break
                if isinstance(claimed, _Claimed):
                    self._record(claimed, self._attempt(claimed.job), report, pass_)
        return report

    def drain(self, max_passes: int = 1000) -> SendReport:
        """Deliver until nothing is due now (messages waiting on a later retry stay queued)."""
        total = SendReport()
        for _ in range(max_passes):
            r = self.run_once()
            total.add(r)
            if r.handled == 0 or r.sent + r.dead + r.superseded == 0:
                break
            if r.exhausted and not r.deferred:
                # Nothing was due at the pass's last claim, and nothing it put back is due
                # again: another pass would find nothing (a commit that enqueues since wakes
                # the worker for one).
                break
        return total

    def _attempt(self, job: OutboxJob) -> DeliveryOutcome:
        """Hand the job to the deliverer (no transaction is open meanwhile)."""
        try:
            return self._deliverer.deliver(job)
        except Exception as exc:  # a bug or an unexpected answer: retry, then dead-letter
            log.exception("outbox %s: unexpected error", job.key)
            return DeliveryOutcome(
                failure=Failure.TRANSIENT,
                code=type(exc).__name__,
                prior_settled=job.unconfirmed_since is None,
            )

    # ----------------------------------------------------------------- recording

    def _record(
        self, claimed: _Claimed, out: DeliveryOutcome, report: SendReport, pass_: _Pass
    ) -> None:
        """Write the outcome in a transaction of its own."""
        now = self._clock.now()
        key = claimed.job.key
        with unit_of_work(self._sessions) as session:
            if out.sent is not None and queue.mark_sent_if_claimed(
                session, claimed.id, self.worker_id, out.sent, now, counted=not out.recovered
            ):
                # Delivered and still ours (the usual case): recorded in one statement.
                self._sent(session, claimed, out, report, pass_, claimed.job.team_id)
                return
            msg = queue.for_record(session, claimed.id)
            if msg is None:
                return
            mine = msg.status == OutboxStatus.SENDING and msg.claimed_by == self.worker_id
            if out.sent is not None:
                if msg.status == OutboxStatus.SENT:
                    log.warning("outbox %s: recorded as sent by another sender", key)
                    return
                if not mine:
                    log.warning("outbox %s: claim lost while sending; recording it", key)
                queue.mark_sent(msg, out.sent, now, counted=not out.recovered)
                self._sent(session, claimed, out, report, pass_, msg.team_id)
                return
            if not mine:
                log.warning("outbox %s: claim lost while sending; leaving it", key)
                return
            if out.prior_settled and not out.maybe_posted:
                msg.unconfirmed_since = None
            self._failed(session, msg, out, now, report)

    def _sent(
        self,
        session: Session,
        claimed: _Claimed,
        out: DeliveryOutcome,
        report: SendReport,
        pass_: _Pass,
        team_id: str,
    ) -> None:
        """What follows a delivery recorded as sent: a paused workspace resumed, counters,
        the use-case's ``on_sent``."""
        assert out.sent is not None
        was = queue.resume_workspace(session, team_id) if claimed.marked else None
        if was is not None:
            log.info(
                "workspace %s: Slack accepts messages again (%s); sending resumed", team_id, was
            )
        report.sent += 1
        if out.recovered:
            report.recovered += 1
            self.recovered += 1
        if self._on_sent is not None:
            self._on_sent(session, claimed.job.notice, out.sent)

    def _failed(
        self,
        session: Session,
        msg: OutboxMessage,
        out: DeliveryOutcome,
        now: datetime,
        report: SendReport,
    ) -> None:
        msg.last_error = out.code[:2000]
        if out.failure == Failure.RATE_LIMITED:
            # Slack asked us to wait: not the message's fault, no attempt counted, and nothing
            # more for this workspace from this sender until then.
            until = now + timedelta(seconds=out.retry_after or 1)
            queue.release(msg, until)
            self._pause(msg.team_id, until)
            self.rate_limited += 1
            report.rate_limited += 1
            report.retried += 1
            return
        if out.failure == Failure.WORKSPACE:
            # The app's token or scopes: nobody in the workspace can be messaged until an
            # operator acts. Not the message's fault nor the person's: it waits, and one message
            # probes the workspace every WORKSPACE_PROBE.
            until = now + WORKSPACE_PROBE
            queue.release(msg, until)
            self._pause(msg.team_id, until)
            if queue.pause_workspace(session, msg.team_id, until, out.code):
                log.error(
                    "workspace %s: Slack refuses peerbot's token (%s); nothing is sent there "
                    "until it is fixed: check SLACK_BOT_TOKEN and the app's scopes, or reinstall "
                    "the app. Messages wait and are sent once Slack accepts them.",
                    msg.team_id,
                    out.code,
                    extra={"slack_error": out.code, "team_id": msg.team_id},
                )
            report.paused += 1
            return
        msg.attempts += 1
        if out.failure == Failure.TRANSIENT:
            msg.failing_since = msg.failing_since or now
            if now - msg.failing_since < self._budget:
                queue.release(msg, now + backoff(msg.attempts))
                report.retried += 1
                return
            out = DeliveryOutcome(
                failure=Failure.TRANSIENT,
                code=f"{out.code} (still failing after {self._budget})",
            )
        self._give_up(session, msg, out, report)

    def _give_up(
        self, session: Session, msg: OutboxMessage, out: DeliveryOutcome, report: SendReport
    ) -> None:
        queue.mark_dead(msg, out.code)
        self.dead_letters += 1
        report.dead += 1
        report.errors.append(f"{msg.idempotency_key}: {out.code}")
        log.warning(
            "outbox %s dead after %d attempt(s): %s",
            msg.idempotency_key,
            msg.attempts,
            out.code,
            extra={"outbox_key": msg.idempotency_key, "slack_error": out.code},
        )
        if self._on_failure is not None and msg.payload.get("notice"):
            try:
                notice = queue.notice_of(msg)
            except (KeyError, TypeError, ValueError):
                return
            self._on_failure(session, notice, out)
