"""Deployment-wide counts for monitoring: outbox messages, asks, offers and pairs by status.

Read from the database, so every worker reports the same, whole-deployment numbers. The web layer
formats them (Prometheus text); this module knows the tables, the web layer does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from peerbot.store.models import Ask, Offer, OutboxMessage, Pair, Workspace

#: Counts by status value, ordered by status value.
StatusCounts = dict[str, int]


@dataclass(frozen=True)
class DeploymentCounts:
    """Rows by status in each table that monitoring watches (statuses with no rows are absent)."""

    outbox: StatusCounts
    asks: StatusCounts
    offers: StatusCounts
    pairs: StatusCounts
    #: Workspaces where Slack refuses the app's token, by the error it gave.
    paused_workspaces: StatusCounts


def _by_status(conn: Connection, model: type[Ask | Offer | OutboxMessage | Pair]) -> StatusCounts:
    rows = conn.execute(select(model.status, func.count()).group_by(model.status))
    ordered = sorted(((str(status), int(count)) for status, count in rows), key=lambda r: r[0])
    return dict(ordered)


def _paused(conn: Connection) -> StatusCounts:
    rows = conn.execute(
        select(Workspace.sending_paused_reason, func.count())
        .where(Workspace.sending_paused_reason.is_not(None))
        .group_by(Workspace.sending_paused_reason)
    )
    return dict(sorted((str(reason), int(count)) for reason, count in rows))


class MetricsService:
    """Counts what monitoring needs, in one read-only connection."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def counts(self) -> DeploymentCounts:
        """Outbox messages, asks, offers and pairs by status, right now."""
        with self._engine.connect() as conn:
            return DeploymentCounts(
                outbox=_by_status(conn, OutboxMessage),
                asks=_by_status(conn, Ask),
                offers=_by_status(conn, Offer),
                pairs=_by_status(conn, Pair),
                paused_workspaces=_paused(conn),
            )
