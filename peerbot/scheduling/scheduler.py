"""The one-a-minute tick in `peerbot run` and `peerbot serve`: an APScheduler
``BackgroundScheduler`` that only says "it is now T" by calling :func:`~peerbot.scheduling.jobs.
run_due`; everything due is read from the tables, so a restart loses nothing.

The job coalesces missed runs into one, never runs twice at once in a process
(``max_instances=1``), and still runs when it is up to :data:`MISFIRE_GRACE_SECONDS` late.
Several processes on PostgreSQL may each tick: rows are claimed with ``SKIP LOCKED``. On SQLite
the tick takes a file lock, so one process runs it. Cron deployments turn the scheduler off
(``SCHEDULER_ENABLED=false``) and call ``peerbot jobs run-due`` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler

from peerbot.scheduling.jobs import Tick, run_due
from peerbot.scheduling.worker import OutageLog
from peerbot.services.errors import is_outage

log = logging.getLogger(__name__)

TICK_JOB_ID = "peerbot-tick"
TICK_SECONDS = 60
MISFIRE_GRACE_SECONDS = 30


class TickScheduler:
    """Runs ``tick`` every ``interval_seconds`` in a background thread (the first run soon
    after :meth:`start`, to catch up on what came due while the process was down)."""

    def __init__(
        self,
        tick: Callable[[], object],
        *,
        interval_seconds: float = TICK_SECONDS,
        first_run_in: float = 1.0,
    ) -> None:
        self._tick = tick
        self._outage = OutageLog(log, "scheduled tick")
        self.interval_seconds = interval_seconds
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.job: Job = self.scheduler.add_job(
            self.run_tick,
            "interval",
            seconds=interval_seconds,
            id=TICK_JOB_ID,
            name="peerbot tick (run_due)",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
            next_run_time=datetime.now(UTC) + timedelta(seconds=first_run_in),
            replace_existing=True,
        )

    def run_tick(self) -> None:
        """One tick; an error is logged and the next tick runs as planned. A database outage is
        logged once when it starts and once when it ends, not on every tick."""
        try:
            self._tick()
        except Exception as exc:
            if is_outage(exc):
                self._outage.failed(exc)
                return
            log.exception("scheduled tick failed; the next one runs as planned")
        else:
            self._outage.succeeded()

    def start(self) -> TickScheduler:
        """Start the scheduler thread."""
        self.scheduler.start()
        log.info("scheduler started: one tick every %ss", self.interval_seconds)
        return self

    def stop(self) -> None:
        """Stop, letting a running tick finish."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    @property
    def running(self) -> bool:
        """Whether the scheduler thread is running."""
        return bool(self.scheduler.running)


def build_scheduler(tick: Tick, **kwargs: float) -> TickScheduler:
    """A :class:`TickScheduler` running :func:`run_due` on ``tick`` (not yet started)."""
    return TickScheduler(lambda: run_due(tick), **kwargs)
