"""Reading many rows at once for the index and topic loads: rows in partitions, without a
result row object per row on SQLite, and stored times as POSIX seconds in bulk."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Select


def partitions(conn: Connection, stmt: Select[*tuple[Any, ...]], size: int) -> Iterator[list[Any]]:
    """The rows of ``stmt`` as lists of at most ``size`` value tuples, read on ``conn`` (its
    transaction). On SQLite straight from the driver's cursor (the statement compiled with
    its values inline: the result rows of SQLAlchemy cost more than SQLite's own reading over
    a million rows); elsewhere through SQLAlchemy, streamed (a server-side cursor on
    PostgreSQL). The statement's columns must need no result processing (plain types)."""
    if conn.dialect.name != "sqlite":
        for part in conn.execution_options(yield_per=size).execute(stmt).partitions():
            yield list(part)
        return
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(size):
            yield rows
    finally:
        cursor.close()


#: Times converted at a time (each piece one C call holding the interpreter).
TIME_PIECE = 16_384


def timestamps(created: list[datetime | None] | list[str | None]) -> npt.NDArray[np.float64]:
    """POSIX seconds of each time (``NaN``: none); naive times are UTC (as SQLite stores).
    Times may also be SQLite's stored text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), parsed in
    bulk by numpy (a datetime object per row is not made)."""
    if created and any(isinstance(c, str) for c in created):
        texts = cast("list[str | None]", created)
        try:
            return _text_timestamps(texts)
        except (ValueError, Warning):  # not the stored format: through datetimes
            created = [None if c is None else parse_time(c) for c in texts]
    times = cast("list[datetime | None]", created)
    if not any(c is not None and c.tzinfo is not None for c in times):
        # In pieces: numpy converts a list of datetimes in one C call that keeps the
        # interpreter (7 s for 1.1 million under load: every other thread waited for it).
        parts = []
        for lo in range(0, len(times), TIME_PIECE):
            stamps = np.array(times[lo : lo + TIME_PIECE], dtype="datetime64[us]")
            part = stamps.astype(np.int64) / 1e6
            part[np.isnat(stamps)] = np.nan
            parts.append(part)
        return np.concatenate(parts) if parts else np.zeros(0)
    return np.fromiter(
        (math.nan if c is None else _utc(c).timestamp() for c in times),
        dtype=np.float64,
        count=len(times),
    )


def _text_timestamps(created: list[str | None]) -> npt.NDArray[np.float64]:
    """:func:`timestamps` of times stored as text without an offset (UTC), in pieces."""
    parts = []
    for lo in range(0, len(created), TIME_PIECE):
        piece = created[lo : lo + TIME_PIECE]
        if any(c is not None and ("+" in c or c.endswith("Z")) for c in piece):
            raise ValueError("a time with an offset")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy only warns about some odd forms
            stamps = np.array(piece, dtype="datetime64[us]")
        part = stamps.astype(np.int64) / 1e6
        part[np.isnat(stamps)] = np.nan
        parts.append(part)
    return np.concatenate(parts) if parts else np.zeros(0)


def parse_time(text: str) -> datetime:
    """A time stored as text (naive: UTC) as an aware datetime."""
    when = datetime.fromisoformat(text)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _utc(when: datetime) -> datetime:
    """``when`` as an aware UTC datetime (naive: UTC, as SQLite stores)."""
    if when.tzinfo is UTC:
        return when
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
