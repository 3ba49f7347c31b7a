"""A deterministic, dependency-free embedder for tests of plumbing (not of matching quality)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from peerbot.domain.ports import Matrix

_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Bag-of-words feature hashing into ``dimension`` buckets, unit-normalised.

    Texts that share words get similar vectors, so simple routing still behaves sensibly, but this
    is no substitute for the real model where matching quality is under test.
    """

    def __init__(self, dimension: int = 384) -> None:
        self._dim = dimension

    @property
    def model_name(self) -> str:
        """Name stored beside vectors; differs from the real model's so they never mix."""
        return f"hashing-{self._dim}"

    @property
    def dimension(self) -> int:
        """Vector length."""
        return self._dim

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed texts into unit-normalised float32 rows (zero text gives a fixed unit vector)."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for tok in _TOKEN.findall(text.lower()):
                h = hashlib.blake2b(tok.encode(), digest_size=8).digest()
                idx = int.from_bytes(h[:4], "little") % self._dim
                sign = 1.0 if h[4] & 1 else -1.0
                out[i, idx] += sign
            norm = float(np.linalg.norm(out[i]))
            if norm == 0.0:
                out[i, 0] = 1.0
            else:
                out[i] /= norm
        return out
