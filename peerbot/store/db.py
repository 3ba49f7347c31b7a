"""Engines, sessions and the unit of work.

One unit of work per listener or job (:func:`unit_of_work`); repositories take the
:class:`~sqlalchemy.orm.Session` it yields and never commit.
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

#: Milliseconds a SQLite connection waits for a lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000

#: Execution option for read-only probes (health checks): on SQLite the transaction begins with
#: a plain deferred ``BEGIN`` instead of ``BEGIN IMMEDIATE``, so it never waits for the write lock.
#: ``conn.execution_options(**{NO_WRITE_LOCK: True})``; other backends ignore it.
NO_WRITE_LOCK = "peerbot_no_write_lock"


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL and pick peerbot's drivers.

    ``postgresql://`` and ``postgres://`` (Heroku style) map to psycopg 3
    (``postgresql+psycopg://``); anything else is returned as parsed.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_sqlite_memory(url: URL) -> bool:
    """True for an in-memory SQLite URL (``sqlite://`` or ``sqlite:///:memory:``)."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def safe_url(url: str | URL) -> str:
    """The URL as text with any password masked (for messages and logs)."""
    return normalize_url(url).render_as_string(hide_password=True)


def create_engine_for(url: str | URL, **kwargs: Any) -> Engine:
    """Create an :class:`~sqlalchemy.Engine` configured for peerbot.

    SQLite
        Creates the file's parent directory; ``check_same_thread=False``; on every new
        connection ``PRAGMA foreign_keys=ON``, ``busy_timeout=5000``, ``secure_delete=ON``
        (deleted text is zeroed) and, for files, ``journal_mode=WAL``. Transactions start with
        ``BEGIN IMMEDIATE`` (the write lock is taken up front, so concurrent writers wait for
        ``busy_timeout`` instead of failing on a lock upgrade) and SAVEPOINTs work as on other
        databases. In-memory databases share one connection across threads.
        A connection with the :data:`NO_WRITE_LOCK` execution option begins with a deferred
        ``BEGIN`` instead (health probes).
    PostgreSQL
        ``postgresql://`` means psycopg 3. A pooled connection is checked before use without a
        round trip (:func:`_check_alive`): one the server closed (a restart, an idle timeout,
        ``pg_terminate_backend``) is replaced; one idle for :data:`PING_IDLE_S` or more is pinged
        as well (a network that dropped it silently).

    Both backends hide SQL parameters in log lines and exception texts
    (``hide_parameters=True``): a failed INSERT must not write an anonymous ask into the log.
    Extra keyword arguments go to :func:`sqlalchemy.create_engine`.
    """
    kwargs.setdefault("hide_parameters", True)
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    if kwargs.get("pool_pre_ping"):  # asked for explicitly: a ping at every checkout
        return create_engine(parsed, **kwargs)
    engine = create_engine(parsed, **kwargs)
    event.listen(engine, "checkout", _check_alive)
    event.listen(engine, "checkin", _checked_in)
    return engine


#: A pooled PostgreSQL connection idle this long is pinged before use (a round trip); one used
#: more recently is only checked locally (:func:`_check_alive`).
PING_IDLE_S = 30.0
_CHECKED_IN = "peerbot_checked_in"


def _checked_in(_dbapi_connection: Any, record: Any) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _check_alive(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Instead of ``pool_pre_ping``'s ``SELECT 1`` at every checkout (a round trip, on PostgreSQL
    two with the ``BEGIN`` psycopg sends first, for each unit of work): an idle connection
    has nothing to read, so a socket that is readable holds what a closed connection leaves
    (the server's "terminating connection" error, or the end of the stream). Such a connection,
    one psycopg knows is closed or broken, and one idle for :data:`PING_IDLE_S` whose ping
    fails are replaced (``DisconnectionError``: the pool reconnects and retries the checkout)."""
    if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
        raise exc.DisconnectionError("the connection is closed")
    try:
        fd = dbapi_connection.fileno()
    except Exception as e:  # no socket any more
        raise exc.DisconnectionError(str(e)) from e
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        raise exc.DisconnectionError("the server closed the connection")
    last = record.info.get(_CHECKED_IN)
    if last is not None and time.monotonic() - last >= PING_IDLE_S:
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as e:
            raise exc.DisconnectionError(f"ping failed: {e}") from e


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    memory = is_sqlite_memory(url)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)
    if memory:
        kwargs.setdefault("poolclass", StaticPool)
    else:
        assert url.database is not None
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # Deleted or overwritten text is zeroed, not left in free space (privacy: forget).
            cursor.execute("PRAGMA secure_delete=ON")
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(NO_WRITE_LOCK):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine``.

    ``expire_on_commit=False`` so that objects loaded in a unit of work can still be read (for
    rendering a reply) after it commits.
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit when the block succeeds, roll back when it raises, always close.

    ::

        with unit_of_work(sessions) as session:
            asks.add(session, ...)
            outbox.enqueue(session, ...)
    """
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_only(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that only reads: on SQLite a deferred ``BEGIN`` (never the write lock, so
    a long read such as ranking or building the matching index blocks no writer); always rolled
    back and closed."""
    session = factory()
    try:
        session.connection(execution_options={NO_WRITE_LOCK: True})
        yield session
    finally:
        session.rollback()
        session.close()
