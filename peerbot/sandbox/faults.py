"""Rate limits and injected failures for the emulator (chaos for retry and backoff tests)."""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field

from peerbot.sandbox.methods import SlackError


@dataclass
class _Chaos429:
    method: str | None
    ratio: float
    retry_after: int
    rng: random.Random


@dataclass
class _Injected:
    method: str | None
    error: str
    status: int
    remaining: int | None
    retry_after: int | None


@dataclass
class Faults:
    """Per-method sliding-window rate limits, random 429s and injected errors. Not locked."""

    limits: dict[str, int] = field(default_factory=dict)
    windows: dict[str, deque[float]] = field(default_factory=dict)
    chaos: list[_Chaos429] = field(default_factory=list)
    injected: list[_Injected] = field(default_factory=list)

    def set_rate_limit(self, method: str, per_minute: int | None) -> None:
        """Allow ``per_minute`` calls of ``method`` in any 60 s window (None removes the limit)."""
        if per_minute is None:
            self.limits.pop(method, None)
            self.windows.pop(method, None)
        else:
            if per_minute < 1:
                raise ValueError("per_minute must be at least 1")
            self.limits[method] = per_minute
            self.windows.setdefault(method, deque())

    def fail_with_429(
        self, method: str | None, ratio: float, retry_after: int, seed: int | None
    ) -> None:
        """Answer a random share ``ratio`` of calls (of ``method``, or all) with HTTP 429."""
        if not 0.0 <= ratio <= 1.0:
            raise ValueError("ratio must be within [0, 1]")
        self.chaos.append(_Chaos429(method, ratio, retry_after, random.Random(seed)))

    def inject(
        self,
        method: str | None,
        error: str,
        status: int,
        times: int | None,
        retry_after: int | None,
    ) -> None:
        """Answer the next ``times`` calls (None: all) of ``method`` (None: any) with ``error``."""
        self.injected.append(_Injected(method, error, status, times, retry_after))

    def clear(self) -> None:
        """Remove every limit and injected failure."""
        self.limits.clear()
        self.windows.clear()
        self.chaos.clear()
        self.injected.clear()

    def before_auth(self, method: str) -> None:
        """Raise an injected error or a random 429 for this call, if one applies."""
        for inj in self.injected:
            if inj.method not in (None, method):
                continue
            if inj.remaining is not None:
                if inj.remaining <= 0:
                    continue
                inj.remaining -= 1
            headers = {"Retry-After": str(inj.retry_after)} if inj.retry_after is not None else {}
            raise SlackError(inj.error, status=inj.status, headers=headers)
        self.injected = [i for i in self.injected if i.remaining is None or i.remaining > 0]
        for chaos in self.chaos:
            if chaos.method not in (None, method):
                continue
            if chaos.rng.random() < chaos.ratio:
                raise _ratelimited(chaos.retry_after)

    def after_auth(self, method: str, now: float) -> None:
        """Count the call against ``method``'s window; raise 429 when the window is full."""
        limit = self.limits.get(method)
        if limit is None:
            return
        window = self.windows.setdefault(method, deque())
        while window and now - window[0] >= 60.0:
            window.popleft()
        if len(window) >= limit:
            wait = max(1, math.ceil(window[0] + 60.0 - now))
            raise _ratelimited(wait)
        window.append(now)


def _ratelimited(retry_after: int) -> SlackError:
    return SlackError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})
