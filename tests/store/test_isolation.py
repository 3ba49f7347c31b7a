"""The db_session fixture: each test's writes disappear at its end, commits included.

Every test here sets up what it checks, so each passes alone and in any order: the "earlier
test" is played inside the test with :func:`rolled_back_session`, the context manager the
``db_session`` fixture is made of, and what others can see is read on a second connection.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from peerbot.store.models import Workspace
from tests.fixtures.db import DatabaseFactory, rolled_back_session
from tests.store.builders import NOW


def _count(bind: Session | Engine, prefix: str) -> int:
    query = select(func.count()).select_from(Workspace).where(Workspace.team_id.like(prefix + "%"))
    if isinstance(bind, Session):
        return int(bind.scalar(query) or 0)
    # A plain engine on the same database: peerbot's SQLite engines BEGIN IMMEDIATE even to read,
    # which would wait for the test's open write transaction; a plain reader sees the committed
    # state (WAL on SQLite, READ COMMITTED on PostgreSQL) without waiting.
    observer = create_engine(bind.url, poolclass=NullPool)
    try:
        with observer.connect() as conn:
            return int(conn.scalar(query) or 0)
    finally:
        observer.dispose()


def test_a_tests_commits_stay_inside_its_transaction(
    db_session: Session, db_backend: str, db_factory: DatabaseFactory
) -> None:
    """Inside the test a commit is visible; to any other connection it is not (only a
    SAVEPOINT of the test's transaction was released)."""
    db_session.add(Workspace(team_id="T_ISOLATION_A", installed_at=NOW))
    db_session.commit()
    db_session.add(Workspace(team_id="T_ISOLATION_A2", installed_at=NOW))
    db_session.flush()
    assert db_session.get(Workspace, "T_ISOLATION_A") is not None
    assert _count(db_session, "T_ISOLATION_A") == 2
    assert _count(db_factory.shared_engine(db_backend), "T_ISOLATION_A") == 0


def test_what_a_test_committed_is_gone_after_it(
    db_backend: str, db_factory: DatabaseFactory
) -> None:
    """An earlier test writes and commits; the next one, and everybody else, see nothing."""
    shared = db_factory.shared_engine(db_backend)
    with rolled_back_session(shared) as earlier:
        earlier.add(Workspace(team_id="T_ISOLATION_B", installed_at=NOW))
        earlier.commit()
        earlier.add(Workspace(team_id="T_ISOLATION_B2", installed_at=NOW))
        earlier.flush()
        assert _count(earlier, "T_ISOLATION_B") == 2  # the writes did happen
    with rolled_back_session(shared) as later:
        assert _count(later, "T_ISOLATION_B") == 0
    assert _count(shared, "T_ISOLATION_B") == 0


def test_a_test_starts_on_a_clean_shared_database(db_session: Session) -> None:
    """Whatever ran before (in any order), no isolation test's rows are left behind."""
    assert _count(db_session, "T_ISOLATION") == 0
    assert _count(db_session, "T_KEEP") == 0


def test_rollback_inside_a_test_keeps_earlier_writes(db_session: Session) -> None:
    db_session.add(Workspace(team_id="T_KEEP", installed_at=NOW))
    db_session.commit()
    db_session.add(Workspace(team_id="T_DROP", installed_at=NOW))
    db_session.flush()
    db_session.rollback()
    assert db_session.get(Workspace, "T_KEEP") is not None
    assert db_session.get(Workspace, "T_DROP") is None
