"""Making a database unavailable in a test, on SQLite and PostgreSQL alike.

:class:`Outage` hooks the engine's ``do_connect``: while it is down every new connection is
refused with the driver's own ``OperationalError`` (what a stopped server or an unreadable file
gives), and pooled connections are dropped when it goes down, so every statement needs a new one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


class Outage:
    """A switch for ``engine``'s database: :meth:`down`, :meth:`up`, or down for ``n`` attempts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.refused = 0
        self._down = False
        self._remaining: int | None = None
        self._lock = threading.Lock()
        event.listen(engine, "do_connect", self._connect)

    def _connect(self, dialect: Any, _rec: Any, _cargs: Any, _cparams: Any) -> None:
        with self._lock:
            if not self._down:
                return None
            self.refused += 1
            if self._remaining is not None:
                self._remaining -= 1
                if self._remaining <= 0:
                    self._down = False
                    self._remaining = None
        raise dialect.loaded_dbapi.OperationalError("connection refused: the database is down")

    def down(self, attempts: int | None = None) -> None:
        """Refuse connections (only the next ``attempts`` when given), dropping pooled ones."""
        with self._lock:
            self._down = True
            self._remaining = attempts
        self.engine.dispose()

    def up(self) -> None:
        """Accept connections again."""
        with self._lock:
            self._down = False
            self._remaining = None

    @property
    def is_down(self) -> bool:
        """Whether connections are refused now."""
        return self._down

    @contextmanager
    def during(self) -> Iterator[None]:
        """Down inside the block, up after it."""
        self.down()
        try:
            yield
        finally:
            self.up()
