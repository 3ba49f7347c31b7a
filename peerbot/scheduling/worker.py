"""A background thread that delivers the outbox as soon as a service kicks it."""

from __future__ import annotations

import logging
import threading
import time

from peerbot.services.errors import is_outage
from peerbot.services.outbox import OutboxSender

log = logging.getLogger(__name__)


def next_backoff(current: float, start: float, limit: float) -> float:
    """The wait after one more failed pass in an outage: ``start``, then doubling up to
    ``limit`` (``current`` is 0 before the first failure)."""
    return min(limit, current * 2) if current > 0 else min(limit, start)


class OutageLog:
    """Logs a database outage once when it starts (WARNING) and once when it ends (INFO), and
    nothing in between, for the loops that keep trying through one (the worker, the tick)."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self._log = logger
        self._what = what
        self._since: float | None = None
        self.failures = 0

    @property
    def ongoing(self) -> bool:
        """Whether the last attempt failed for lack of a database."""
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        """An attempt failed because the database is unavailable."""
        self.failures += 1
        if self._since is None:
            self._since = time.monotonic()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self._log.warning(
                "%s: the database is unavailable (%s); retrying quietly until it is back",
                self._what,
                first[:200],
            )

    def succeeded(self) -> None:
        """An attempt reached the database (ends an outage, if one was going on)."""
        if self._since is not None:
            self._log.info(
                "%s: the database is back after %.0f s (%d failed attempt%s)",
                self._what,
                time.monotonic() - self._since,
                self.failures,
                "" if self.failures == 1 else "s",
            )
            self._since = None
            self.failures = 0


class OutboxWorker:
    """Drains the outbox when kicked, and every ``idle_seconds`` for retries that came due.

    After a 429 the sender pauses the workspace for ``Retry-After``; the worker then sleeps
    until the pause ends (or a kick, or ``idle_seconds``, whichever comes first) instead of
    polling Slack, so a rate limit costs one refused call, not a loop of them.

    When the database is unavailable the worker logs it once, backs off (``backoff_start``
    seconds, doubling up to ``backoff_max``; kicks do not shorten it) and logs once more when
    the database is back. Messages stay queued meanwhile.
    """

    def __init__(
        self,
        sender: OutboxSender,
        idle_seconds: float = 1.0,
        *,
        backoff_start: float = 1.0,
        backoff_max: float = 30.0,
    ) -> None:
        self._sender = sender
        self._idle = idle_seconds
        self._backoff_start = backoff_start
        self._backoff_max = backoff_max
        self._backoff = 0.0
        self._outage = OutageLog(log, "outbox")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._busy = threading.Lock()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        """Ask for a delivery pass now (cheap; call after every commit that enqueued)."""
        self._wake.set()

    def start(self) -> OutboxWorker:
        """Start the daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="peerbot-outbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _timeout(self) -> float:
        resume = self._sender.resume_in()
        if resume is None:
            return self._idle
        return max(0.01, min(self._idle, resume))

    def run_pass(self) -> None:
        """One delivery pass; a failure is logged (an outage once) and the worker carries on."""
        try:
            with self._busy:
                self._sender.drain()
        except Exception as exc:  # keep the worker alive; the message stays queued
            if is_outage(exc):
                self._outage.failed(exc)
                self._backoff = next_backoff(self._backoff, self._backoff_start, self._backoff_max)
                return
            log.exception("outbox pass failed")
        else:
            self._outage.succeeded()
        self._backoff = 0.0

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._backoff:
                self._stop.wait(self._backoff)
            else:
                self._wake.wait(self._timeout())
            self._wake.clear()
            if self._stop.is_set():
                break
            self.run_pass()
