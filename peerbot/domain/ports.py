"""Protocols the domain and services depend on; adapters implement them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-normalised float32 vectors."""

    @property
    def model_name(self) -> str:
        """A stable name of the model that made the vectors (stored beside each vector)."""
        ...

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        ...

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed texts; returns shape (len(texts), dimension), float32, rows of norm 1."""
        ...


class Clock(Protocol):
    """The source of 'now'. Always timezone-aware UTC."""

    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...
