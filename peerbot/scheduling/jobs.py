"""The tick: everything that is due at 'now', read from the tables. Run by APScheduler once a
minute in `peerbot run`/`serve`, or by cron through `peerbot jobs run-due`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peerbot.app import Container

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    """What one tick did."""

    offers_expired: int = 0
    checkins_sent: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"offers expired {self.offers_expired}, check-ins {self.checkins_sent}, "
            f"messages sent {self.sent}, "
            f"retried {self.retried}, dead {self.dead}"
        )


def run_due(container: Container) -> TickReport:
    """Run one tick."""
    report = TickReport()
    report.offers_expired = container.asks.expire_due()
    report.checkins_sent = container.pairs.run_due()
    sent = container.sender.drain()
    report.sent, report.retried, report.dead = sent.sent, sent.retried, sent.dead
    if report.offers_expired or report.dead:
        log.info("tick: %s", report.summary())
    return report
