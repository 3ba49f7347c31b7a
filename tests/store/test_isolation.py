"""The db_session fixture: each test's writes disappear at its end, commits included."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from peerbot.store.models import Workspace
from tests.store.builders import NOW

#: Backends on which the writing test below has run (and committed) in this session.
_WRITTEN: set[str] = set()


def test_a_writes_and_commits(db_session: Session, db_backend: str) -> None:
    db_session.add(Workspace(team_id="T_ISOLATION", installed_at=NOW))
    db_session.commit()  # only releases a SAVEPOINT of the test's transaction
    db_session.add(Workspace(team_id="T_ISOLATION_2", installed_at=NOW))
    db_session.flush()
    assert db_session.get(Workspace, "T_ISOLATION") is not None
    _WRITTEN.add(db_backend)


def test_b_sees_nothing_of_test_a(db_session: Session, db_backend: str) -> None:
    count = db_session.scalar(
        select(func.count()).select_from(Workspace).where(Workspace.team_id.like("T_ISOLATION%"))
    )
    assert count == 0
    # Run alone this only checks a clean database; with test_a before it, it checks isolation.
    assert db_backend in _WRITTEN or len(_WRITTEN) == 0


def test_rollback_inside_a_test_keeps_earlier_writes(db_session: Session) -> None:
    db_session.add(Workspace(team_id="T_KEEP", installed_at=NOW))
    db_session.commit()
    db_session.add(Workspace(team_id="T_DROP", installed_at=NOW))
    db_session.flush()
    db_session.rollback()
    assert db_session.get(Workspace, "T_KEEP") is not None
    assert db_session.get(Workspace, "T_DROP") is None
