"""Telling a database outage from a bug, for the callers that ride an outage out quietly."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class StoreUnavailable(RuntimeError):
    """The database could not be reached (or answered "try again later"); nothing was saved."""


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` says the database is unreachable or briefly unable to serve, not that a
    statement was wrong: a lost or refused connection, a locked SQLite file, a pool timeout.

    Constraint violations and programming errors are bugs or races the caller handles; they are
    never an outage.
    """
    if isinstance(exc, StoreUnavailable | PoolTimeout | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
