"""Column types shared by the models: aware UTC datetimes, portable JSON, float32 vectors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import JSON, DateTime, Dialect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

#: JSON on every backend, JSONB on PostgreSQL.
JSONType: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")

#: Byte order and width of stored vectors: float32, little-endian.
VECTOR_DTYPE = np.dtype("<f4")


class NaiveDatetimeError(ValueError):
    """A naive datetime was about to be written; storage only accepts aware datetimes."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    * On write it refuses naive datetimes (:class:`NaiveDatetimeError`) and converts aware ones
      to UTC.
    * On read it returns aware datetimes in UTC, on SQLite (which stores no offset: the value is
      written as naive UTC text) and on PostgreSQL (``timestamp with time zone``) alike.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        """Values are :class:`datetime.datetime`."""
        return datetime

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        """Validate and normalise a value on its way to the database."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime needs a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetimeError(
                f"naive datetime {value.isoformat()} refused: pass a timezone-aware datetime "
                "(e.g. from the Clock, or datetime.now(UTC))"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite's DATETIME text has no offset: store naive UTC, re-attach UTC on read.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime read from the database."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def vector_to_bytes(vector: npt.ArrayLike) -> bytes:
    """Serialise a one-dimensional vector as float32 little-endian bytes."""
    arr = np.asarray(vector)
    if arr.ndim != 1:
        raise ValueError(f"a vector must be one-dimensional, got shape {arr.shape}")
    return arr.astype(VECTOR_DTYPE, copy=False).tobytes()


def vector_from_bytes(data: bytes, dim: int | None = None) -> npt.NDArray[np.float32]:
    """Read float32 little-endian bytes back into a (native float32) numpy vector.

    When ``dim`` is given, the length is checked against it.
    """
    if len(data) % VECTOR_DTYPE.itemsize:
        raise ValueError(f"vector bytes must be a multiple of 4 long, got {len(data)}")
    arr = np.frombuffer(data, dtype=VECTOR_DTYPE)
    if dim is not None and arr.shape[0] != dim:
        raise ValueError(f"vector has {arr.shape[0]} values, expected {dim}")
    return arr.astype(np.float32)  # native byte order, writable copy
