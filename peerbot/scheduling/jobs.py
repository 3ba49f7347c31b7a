"""The tick: everything that is due at 'now', read from the tables. Run by APScheduler once a
minute in `peerbot run`/`serve`, or by cron through `peerbot jobs run-due`.

Several processes may tick at once on PostgreSQL: every due row is claimed with
``FOR UPDATE SKIP LOCKED``, so each is handled by exactly one of them. On SQLite one process
runs the tick: :func:`tick_lock` takes an exclusive lock on a file beside the database, and a
tick that finds it taken (another process, or a cron run overlapping the scheduler) is skipped.

The tick needs no composition root: :class:`Tick` names the few services it calls, each by the
one method it uses (Protocols), and ``peerbot.app`` builds one from its services.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.engine import Engine

from peerbot.services.matching_feed import prune_feed
from peerbot.store.db import is_sqlite_memory

log = logging.getLogger(__name__)


class OfferExpirer(Protocol):
    """Expires offers nobody answered in time, and takes on asks saved but never matched (the
    ask service)."""

    def expire_due(self) -> int:
        """Expire what is due; return how many."""
        ...

    def match_stranded(self) -> int:
        """Match asks left saved but unmatched (a crash or an outage in between); how many."""
        ...


class CheckinRunner(Protocol):
    """Sends the check-ins that are due (the pair service)."""

    def run_due(self) -> int:
        """Send what is due; return how many."""
        ...


class EventForgetter(Protocol):
    """Forgets processed Slack event ids after a while (the deduper)."""

    def forget_old(self) -> int:
        """Delete old ids; return how many."""
        ...


class ReachabilityChecker(Protocol):
    """Looks up again the people who could not be messaged (the helper service)."""

    def recheck_unreachable(self) -> int:
        """Re-check who is due; return how many."""
        ...


class RetentionKeeper(Protocol):
    """Redacts what is past its retention period (the privacy service)."""

    def apply_retention(self) -> object:
        """Redact and prune what is due; return a report."""
        ...


class CircleRunner(Protocol):
    """Forms the rounds of peer circles that are due and sends their prompts, pulses and
    close-outs (the circle service)."""

    def run_due(self) -> int:
        """Do what is due; return how many things were done."""
        ...


class DigestRunner(Protocol):
    """Sends the admins' weekly digests that are due (Monday morning, their time)."""

    def run_due(self) -> int:
        """Send what is due; return how many."""
        ...


class RankerTrainer(Protocol):
    """Retrains the workspaces' ranker weights when enough new history arrived (issue 17)."""

    def refresh_due(self) -> int:
        """Retrain what is due; return how many workspaces."""
        ...


class DrainReport(Protocol):
    """What one delivery pass did (read-only counts)."""

    @property
    def sent(self) -> int:
        """Messages delivered."""
        ...

    @property
    def retried(self) -> int:
        """Messages left for a later retry."""
        ...

    @property
    def dead(self) -> int:
        """Messages given up on (dead letters)."""
        ...

    @property
    def recovered(self) -> int:
        """Messages found already posted after a crash."""
        ...


class OutboxDrainer(Protocol):
    """Delivers the due outbox messages (the outbox sender)."""

    def drain(self) -> DrainReport:
        """Deliver until nothing is due now."""
        ...


@dataclass(frozen=True)
class Tick:
    """Everything one tick uses: the engine (for the SQLite tick lock) and the services."""

    engine: Engine
    asks: OfferExpirer
    pairs: CheckinRunner
    deduper: EventForgetter
    sender: OutboxDrainer
    people: ReachabilityChecker
    #: Retention (ended asks' text, old sent messages); None in tests that do not need it.
    retention: RetentionKeeper | None = None
    #: Peer circles; None in tests that do not need them.
    circles: CircleRunner | None = None
    #: The programme admins' weekly digest; None where it is not wired.
    digest: DigestRunner | None = None
    #: Learned ranker weights (issue 17); None in tests that do not need them.
    ranker: RankerTrainer | None = None


@dataclass
class TickReport:
    """What one tick did."""

    offers_expired: int = 0
    asks_matched: int = 0
    checkins_sent: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    recovered: int = 0
    #: Workspaces whose ranker weights were retrained.
    rankers_trained: int = 0
    #: Another process holds the SQLite tick lock; this tick did nothing.
    skipped: bool = False

    def summary(self) -> str:
        """One line for logs and the CLI."""
        if self.skipped:
            return "tick skipped: another process is running one on this SQLite database"
        return (
            f"offers expired {self.offers_expired}, check-ins {self.checkins_sent}, "
            + (f"stranded asks matched {self.asks_matched}, " if self.asks_matched else "")
            + f"messages sent {self.sent}, "
            f"retried {self.retried}, dead {self.dead}"
            + (f", confirmed after a crash {self.recovered}" if self.recovered else "")
            + (f", rankers retrained {self.rankers_trained}" if self.rankers_trained else "")
        )


def tick_lock_path(engine: Engine) -> str | None:
    """The lock file that makes the tick single-process on a SQLite file (None otherwise)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or is_sqlite_memory(url):
        return None
    assert url.database is not None
    return os.path.abspath(os.path.expanduser(url.database)) + ".tick.lock"


@contextmanager
def tick_lock(engine: Engine) -> Iterator[bool]:
    """Yield True when this tick may run: always on PostgreSQL and in-memory SQLite; on a
    SQLite file when the exclusive, non-blocking ``flock`` on :func:`tick_lock_path` is ours.
    The lock goes with the process, so a crashed tick never leaves it behind."""
    path = tick_lock_path(engine)
    if path is None:
        yield True
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run_due(tick: Tick) -> TickReport:
    """Run one tick (or skip it when another process is running one on this SQLite file)."""
    with tick_lock(tick.engine) as ours:
        if not ours:
            report = TickReport(skipped=True)
            log.info("%s", report.summary())
            return report
        report = TickReport()
        report.asks_matched = tick.asks.match_stranded()
        report.offers_expired = tick.asks.expire_due()
        report.checkins_sent = tick.pairs.run_due()
        tick.deduper.forget_old()
        try:  # the matching change feed's old rows (one read when there are none)
            prune_feed(tick.engine)
        except Exception:  # never stops the tick's other work
            log.exception("pruning the matching change feed failed")
        tick.people.recheck_unreachable()
        if tick.retention is not None:
            tick.retention.apply_retention()
        if tick.circles is not None:
            tick.circles.run_due()
        if tick.digest is not None:
            try:
                tick.digest.run_due()
            except Exception:  # the digest never stops the tick's other work
                log.exception("weekly digest failed")
        if tick.ranker is not None:
            report.rankers_trained = tick.ranker.refresh_due()
        sent = tick.sender.drain()
        report.sent, report.retried, report.dead = sent.sent, sent.retried, sent.dead
        report.recovered = sent.recovered
    if report.offers_expired or report.dead or report.recovered or report.asks_matched:
        log.info("tick: %s", report.summary())
    return report
