"""A background thread that delivers the outbox as soon as a service kicks it."""

from __future__ import annotations

import logging
import threading

from peerbot.services.outbox import OutboxSender

log = logging.getLogger(__name__)


class OutboxWorker:
    """Drains the outbox when kicked, and every ``idle_seconds`` for retries that came due.

    After a 429 the sender pauses the workspace for ``Retry-After``; the worker then sleeps
    until the pause ends (or a kick, or ``idle_seconds``, whichever comes first) instead of
    polling Slack, so a rate limit costs one refused call, not a loop of them.
    """

    def __init__(self, sender: OutboxSender, idle_seconds: float = 1.0) -> None:
        self._sender = sender
        self._idle = idle_seconds
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

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._timeout())
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                with self._busy:
                    self._sender.drain()
            except Exception:  # keep the worker alive; the message stays queued
                log.exception("outbox pass failed")
