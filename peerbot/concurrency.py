"""A listener thread pool that knows when it is idle (for the demo and the tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class CountingExecutor(ThreadPoolExecutor):
    """A thread pool that counts the tasks still running (Bolt's listener executor)."""

    def __init__(self, max_workers: int = 8) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="bolt-listener")
        self._count_lock = threading.Lock()
        self.in_flight = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn`` in the pool, counting it until it returns."""
        with self._count_lock:
            self.in_flight += 1

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._count_lock:
                    self.in_flight -= 1

        return super().submit(run)
