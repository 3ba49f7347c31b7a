"""Erasures of the text the matching index copies, counted in the database (migration 0017).

An index (and its snapshot on disk) holds copies of past asks' text and vectors. When text is
erased (a person forgotten, retention, a workspace purged), :func:`record_erasure` adds one to
the workspace's count (:class:`~peerbot.store.models.IndexErasure`) in the erasure's own
transaction. Whoever builds an index reads the count first (:func:`erasure_count`, or with the
change number in one statement: :func:`~peerbot.services.ranking.matching_position`) and the
index carries it: the index holds nothing erased by then. An index (or snapshot) that carries
a lower count than the database's may hold erased text:

- a snapshot of it is never loaded (and its files are deleted), nor written;
- a worker holding it deletes its host's snapshot files of the workspace and replaces it in the
  background (:class:`~peerbot.services.ranking.HelperIndexes`), which also lets go of the
  deleted files it still reads (memory maps and open files keep their bytes on disk).

Why a count and not a time: the count is read in the same transaction order as the data. A
build that read the count before an erasure committed carries the lower number even when its
reads ran while the erasure was in flight, whatever the hosts' clocks say; a time stamped in
the erasure's transaction precedes its commit, so a build reading in between would pass.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ScalarSelect, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from peerbot.store.models import IndexErasure

__all__ = ["erasure_count", "erasure_count_of", "record_erasure"]


def record_erasure(session: Session, team_id: str, now: datetime) -> int:
    """Count one erasure in ``team_id`` (call it in the erasure's transaction); the new count.

    The row is locked until the transaction ends (two erasures at once count two)."""
    done = session.execute(
        update(IndexErasure)
        .where(IndexErasure.team_id == team_id)
        .values(erasures=IndexErasure.erasures + 1, erased_at=now)
        .returning(IndexErasure.erasures)
    ).scalar()
    if done is not None:
        return int(done)
    # The first one: insert, in a savepoint (another transaction may insert it meanwhile:
    # then count on its row).
    try:
        with session.begin_nested():
            session.add(IndexErasure(team_id=team_id, erasures=1, erased_at=now))
    except IntegrityError:  # inserted by another erasure meanwhile: count on its row
        return record_erasure(session, team_id, now)
    return 1


def erasure_count_of(team_id: str) -> ScalarSelect[int]:
    """The workspace's erasure count as a scalar subquery (0 when it never had one), to read
    beside something else in one statement."""
    return (
        select(func.coalesce(func.max(IndexErasure.erasures), 0))
        .where(IndexErasure.team_id == team_id)
        .scalar_subquery()
    )


def erasure_count(session: Session, team_id: str) -> int:
    """The workspace's erasure count (0 when it never had one). One primary-key read."""
    return int(session.scalar(select(erasure_count_of(team_id))) or 0)
