"""Engines, sessions and the unit of work."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from peerbot.store.db import create_engine_for, normalize_url, session_factory, unit_of_work
from peerbot.store.models import ProcessedSlackId, SlackIdKind, Workspace
from tests.store.builders import NOW


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_postgresql_urls_use_psycopg3(scheme: str) -> None:
    engine = create_engine_for(f"{scheme}://bot:pw@db.example/peerbot")  # does not connect
    try:
        assert engine.dialect.name == "postgresql"
        assert engine.dialect.driver == "psycopg"
        # Pooled connections are checked without a round trip (see the test below).
        assert not engine.pool._pre_ping
    finally:
        engine.dispose()
    assert normalize_url(f"{scheme}://x@h/d").drivername == "postgresql+psycopg"


def test_sqlite_file_engine_creates_the_directory_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "peerbot.db"
    engine = create_engine_for(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert path.exists()
    finally:
        engine.dispose()


def test_sqlite_memory_engine_is_one_database_across_threads() -> None:
    engine = create_engine_for("sqlite://")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        seen: list[int] = []

        def read() -> None:
            with engine.connect() as conn:
                seen.append(conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one())

        worker = threading.Thread(target=read)
        worker.start()
        worker.join(timeout=30)
        assert seen == [1]
    finally:
        engine.dispose()


def _count_workspaces(engine: Engine) -> int:
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(Workspace)) or 0


def test_unit_of_work_commits_on_success(engine: Engine) -> None:
    factory = session_factory(engine)
    with unit_of_work(factory) as session:
        session.add(Workspace(team_id="T1", installed_at=NOW))
    assert _count_workspaces(engine) == 1


def test_unit_of_work_rolls_back_on_error_and_closes(engine: Engine) -> None:
    factory = session_factory(engine)
    seen: list[Session] = []

    def failing_work() -> None:
        with unit_of_work(factory) as session:
            seen.append(session)
            session.add(Workspace(team_id="T1", installed_at=NOW))
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_work()
    assert _count_workspaces(engine) == 0
    assert not seen[0].in_transaction()
    assert len(seen[0].identity_map) == 0  # closed: nothing left attached


def test_objects_stay_readable_after_the_unit_of_work(engine: Engine) -> None:
    with unit_of_work(session_factory(engine)) as session:
        ws = Workspace(team_id="T1", name="Acme", installed_at=NOW)
        session.add(ws)
    assert ws.name == "Acme"
    assert ws.installed_at == NOW


def test_concurrent_duplicate_claims_let_exactly_one_through(engine: Engine) -> None:
    """Two workers record the same Slack retry at once: one wins, one gets IntegrityError."""
    factory = session_factory(engine)
    barrier = threading.Barrier(2, timeout=30)
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            with unit_of_work(factory) as session:
                session.add(
                    ProcessedSlackId(
                        team_id="T1", kind=SlackIdKind.EVENT, slack_id="Ev1", processed_at=NOW
                    )
                )
            outcome = "ok"
        except IntegrityError:
            outcome = "duplicate"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["duplicate", "ok"]
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(ProcessedSlackId)) == 1


def test_read_then_write_claims_do_not_fail_on_locks(engine: Engine) -> None:
    """Check-then-insert from two workers: no 'database is locked', one row, one winner.

    Worker A reads and then writes; worker B starts its own read-then-write while A's
    transaction is open. On SQLite the write lock is taken at BEGIN, so B waits for A and then
    sees A's row; on PostgreSQL B's insert waits on the unique index and fails cleanly.
    """
    factory = session_factory(engine)
    key = {"team_id": "T1", "kind": SlackIdKind.ACTION, "slack_id": "A1"}
    a_has_read = threading.Event()
    b_is_starting = threading.Event()
    results: dict[str, str] = {}

    def claim(name: str, before_write: threading.Event | None) -> None:
        try:
            with unit_of_work(factory) as session:
                if name == "B":
                    b_is_starting.set()
                seen = session.get(ProcessedSlackId, tuple(key.values()))
                if name == "A":
                    a_has_read.set()
                if before_write is not None:
                    assert before_write.wait(timeout=30)
                if seen is not None:
                    results[name] = "seen"
                    return
                session.add(ProcessedSlackId(**key, processed_at=NOW))
            results[name] = "ok"
        except IntegrityError:
            results[name] = "duplicate"
        except Exception as exc:  # pragma: no cover - the failure being tested for
            results[name] = f"error: {exc}"

    a = threading.Thread(target=claim, args=("A", b_is_starting))
    b = threading.Thread(target=claim, args=("B", None))
    a.start()
    assert a_has_read.wait(timeout=30)
    b.start()
    a.join(timeout=60)
    b.join(timeout=60)
    assert results["A"] == "ok"
    assert results["B"] in {"seen", "duplicate"}, results
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(ProcessedSlackId)) == 1


def test_postgresql_replaces_a_pooled_connection_the_server_closed(
    engine: Engine, db_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``SELECT 1`` before each unit of work, and yet a connection the server terminated
    while it sat in the pool (a restart, an idle timeout) is replaced before use: the next
    unit of work succeeds. A ping would be one more round trip per unit of work."""
    if db_backend != "postgresql":
        pytest.skip("PostgreSQL's pooled connections")
    from sqlalchemy import event, text

    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    pings: list[object] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or ping(c))
    sessions = session_factory(engine)
    with unit_of_work(sessions) as s:
        pid = s.scalar(text("SELECT pg_backend_pid()"))
    with unit_of_work(sessions) as s:  # the same pooled connection, no ping
        assert s.scalar(text("SELECT pg_backend_pid()")) == pid
    other = create_engine_for(engine.url, poolclass=NullPool)  # not from the pool above
    try:
        with other.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
            assert admin.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            deadline = time.monotonic() + 10
            while (
                admin.scalar(  # the server closes the terminated connection's socket
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
                )
                and time.monotonic() < deadline
            ):
                time.sleep(0.02)
    finally:
        other.dispose()
    with unit_of_work(sessions) as s:
        assert s.scalar(text("SELECT pg_backend_pid()")) != pid
        s.add(Workspace(team_id="TALIVE", installed_at=NOW, settings={}))
    with unit_of_work(sessions) as s:
        assert s.get(Workspace, "TALIVE") is not None
    assert "SELECT 1" not in sent and not pings
