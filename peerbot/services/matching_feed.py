"""The matching change feed: whose helper facts changed since a change number (migration 0015).

Database triggers write one :class:`~peerbot.store.models.MatchingChange` row per change that
matching reads (the person it is about, the workspace's change number at the time), in the same
transaction as the change. :class:`~peerbot.services.matching.HelperFactsCache` remembers the
number its facts were loaded at and reloads only the people named since (:func:`changed_since`,
:func:`changed_people`), instead of every helper. The tick deletes old rows
(:func:`prune_changes`); a cache older than what is kept loads everything again.
"""

from __future__ import annotations

from sqlalchemy import Select, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from peerbot.domain import due_rules
from peerbot.store.db import NO_WRITE_LOCK
from peerbot.store.models import MatchingChange, MatchingVersion

__all__ = [
    "KEEP_VERSIONS",
    "MAX_CHANGED_ROWS",
    "changed_people",
    "changed_since",
    "feed_position",
    "prune_changes",
    "prune_feed",
]

#: Feed rows of the last this many change numbers are kept per workspace (a worker further
#: behind loads everything).
KEEP_VERSIONS = due_rules.KEEP_VERSIONS
#: Feed rows deleted per workspace and tick at most (a short write transaction).
PRUNE_BATCH = 20_000
#: More feed rows than this since a worker's number: a full load is cheaper than the join.
MAX_CHANGED_ROWS = 5_000


def feed_position(session: Session, team_id: str) -> tuple[int, int]:
    """The workspace's change number and the number below which feed rows were deleted."""
    row = session.execute(
        select(MatchingVersion.version, MatchingVersion.pruned_before).where(
            MatchingVersion.team_id == team_id
        )
    ).first()
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


def changed_since(team_id: str, version: int) -> Select[int]:
    """The person ids named by the feed after ``version``, as a subquery to join on (a change
    row carries the number its own change made)."""
    return select(MatchingChange.person_id).where(
        MatchingChange.team_id == team_id, MatchingChange.version > version
    )


def changed_people(session: Session, team_id: str, version: int) -> set[int] | None:
    """The people whose facts changed since ``version``, or ``None`` when the caller must load
    everything: the rows were pruned past ``version``, or more than
    :data:`MAX_CHANGED_ROWS` changed."""
    ids = list(
        session.scalars(changed_since(team_id, version).order_by(None).limit(MAX_CHANGED_ROWS + 1))
    )
    if len(ids) > MAX_CHANGED_ROWS:
        return None
    # Read after the rows: a prune that deleted some of them has committed its mark by then.
    if version < feed_position(session, team_id)[1]:
        return None
    return set(ids)


def _due(session: Session, keep: int) -> list[tuple[str, int]]:
    """(workspace, cut) for every workspace with feed rows to delete or a mark to move."""
    due = []
    for team, version, pruned in session.execute(
        select(MatchingVersion.team_id, MatchingVersion.version, MatchingVersion.pruned_before)
    ).all():
        cut = max(int(version) - keep, int(pruned))
        if cut > int(pruned) or session.scalar(
            select(MatchingChange.id)
            .where(MatchingChange.team_id == team, MatchingChange.version < cut)
            .limit(1)
        ):
            due.append((str(team), cut))
    return due


def prune_changes(session: Session, keep: int = KEEP_VERSIONS) -> int:
    """Delete the feed rows more than ``keep`` change numbers old, per workspace, at most
    :data:`PRUNE_BATCH` rows each call (the tick calls it; the rest go next time). Returns the
    rows deleted."""
    deleted = 0
    for team, cut in _due(session, keep):
        # The mark first: a reader that misses rows sees it when it looks after reading them.
        session.execute(
            update(MatchingVersion)
            .where(MatchingVersion.team_id == team, MatchingVersion.pruned_before < cut)
            .values(pruned_before=cut)
        )
        oldest = (
            select(MatchingChange.id)
            .where(MatchingChange.team_id == team, MatchingChange.version < cut)
            .limit(PRUNE_BATCH)
            .scalar_subquery()
        )
        result = session.execute(delete(MatchingChange).where(MatchingChange.id.in_(oldest)))
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted


def prune_feed(engine: Engine, keep: int = KEEP_VERSIONS) -> int:
    """:func:`prune_changes` in a transaction of its own, only when something is due (the
    tick's step: otherwise one read, and never SQLite's write lock)."""
    with Session(engine) as session:
        session.connection(execution_options={NO_WRITE_LOCK: True})
        if not _due(session, keep):
            return 0
    with Session(engine) as session, session.begin():
        return prune_changes(session, keep)
