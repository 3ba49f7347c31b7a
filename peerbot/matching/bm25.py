"""Okapi BM25 over one document per helper, updated incrementally.

Documents live in integer *slots* chosen by the caller (the :class:`~peerbot.matching.index.
HelperIndex` uses its helper slots), so scores come back as one array indexed by slot.
IDF is Lucene's non-negative ``log(1 + (N - n + 0.5) / (n + 0.5))``.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

#: Words never shown in explanations (they still count in scores, where IDF discounts them).
_STOP = """a an and are as at be but by can do does for from have how i if in into is it its my
of on or our so that the their them there they this to was we what when where which who why will
with you your me not no any all has had been am should would could get"""
STOPWORDS = frozenset(_STOP.split())


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens (letters and digits; punctuation and underscores split)."""
    return _TOKEN.findall(text.casefold())


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A light English suffix stripper: hire, hired, hiring → 'hir'; interviews → 'interview'."""
    w = word
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            w = w[: -len(suffix)]
            break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w


def analyze(text: str) -> list[str]:
    """Terms for peerbot's lexical signal: tokens without stopwords, lightly stemmed.

    (The BM25 *baseline* of the evaluation keeps plain :func:`tokenize`.)
    """
    return [stem(t) for t in tokenize(text) if t not in STOPWORDS]


def surface_forms(text: str) -> dict[str, str]:
    """Each analysed term of ``text`` mapped to the first word it came from (for explanations)."""
    out: dict[str, str] = {}
    for t in tokenize(text):
        if t not in STOPWORDS:
            out.setdefault(stem(t), t)
    return out


class BM25Index:
    """Incremental BM25 (``k1``, ``b``) over documents stored in integer slots."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._docs: dict[int, Counter[str]] = {}
        self._postings: dict[str, dict[int, int]] = {}
        self._cache: dict[str, tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]] = {}
        self._total_len = 0
        self._lengths = np.zeros(0, dtype=np.float64)

    def __len__(self) -> int:
        return len(self._docs)

    @property
    def average_length(self) -> float:
        """Mean document length in tokens (0 when empty)."""
        return self._total_len / len(self._docs) if self._docs else 0.0

    def _touch(self, term: str) -> None:
        self._cache.pop(term, None)

    def add(self, slot: int, tokens: Iterable[str]) -> None:
        """Append ``tokens`` to the document in ``slot`` (creating it when new)."""
        added = Counter(tokens)
        doc = self._docs.get(slot)
        postings = self._postings
        if doc is None:  # a new document (the bulk build): its counts are the postings
            self._docs[slot] = added
            for term, n in added.items():
                posting = postings.get(term)
                if posting is None:
                    postings[term] = {slot: n}
                else:
                    posting[slot] = n
        else:
            for term, n in added.items():
                doc[term] += n
                postings.setdefault(term, {})[slot] = doc[term]
        if self._cache:
            for term in added:
                self._touch(term)
        total = sum(added.values())
        self._total_len += total
        self._set_length(slot, total)

    def remove(self, slot: int) -> None:
        """Drop the document in ``slot`` (no-op when absent)."""
        doc = self._docs.pop(slot, None)
        if doc is None:
            return
        for term in doc:
            posting = self._postings.get(term)
            if posting is not None:
                posting.pop(slot, None)
                if not posting:
                    del self._postings[term]
            self._touch(term)
        self._total_len -= sum(doc.values())
        self._set_length(slot, -sum(doc.values()))

    def replace(self, slot: int, tokens: Iterable[str]) -> None:
        """Set the document in ``slot`` to exactly ``tokens``."""
        self.remove(slot)
        self.add(slot, tokens)

    def doc_length(self, slot: int) -> int:
        """Token count of the document in ``slot``."""
        doc = self._docs.get(slot)
        return sum(doc.values()) if doc else 0

    def idf(self, term: str) -> float:
        """Inverse document frequency of ``term`` (0 for an unseen term)."""
        posting = self._postings.get(term)
        if not posting:
            return 0.0
        n = len(posting)
        return math.log(1.0 + (len(self._docs) - n + 0.5) / (n + 0.5))

    def _posting_arrays(
        self, term: str
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]] | None:
        cached = self._cache.get(term)
        if cached is not None:
            return cached
        posting = self._postings.get(term)
        if not posting:
            return None
        slots = np.fromiter(posting.keys(), dtype=np.intp, count=len(posting))
        tfs = np.fromiter(posting.values(), dtype=np.float64, count=len(posting))
        self._cache[term] = (slots, tfs)
        return slots, tfs

    def score(self, query: Iterable[str], n_slots: int) -> npt.NDArray[np.float64]:
        """BM25 of the query's distinct terms against every slot (0 where no term matches)."""
        out = np.zeros(n_slots, dtype=np.float64)
        if not self._docs:
            return out
        avg = self.average_length or 1.0
        lengths = self._length_array(n_slots)
        for term in set(query):
            arrays = self._posting_arrays(term)
            if arrays is None:
                continue
            slots, tfs = arrays
            norm = self.k1 * (1.0 - self.b + self.b * lengths[slots] / avg)
            out[slots] += self.idf(term) * tfs * (self.k1 + 1.0) / (tfs + norm)
        return out

    def _length_array(self, n_slots: int) -> npt.NDArray[np.float64]:
        lengths = np.zeros(n_slots, dtype=np.float64)
        m = min(n_slots, self._lengths.size)
        lengths[:m] = self._lengths[:m]
        return lengths

    def _set_length(self, slot: int, delta: int) -> None:
        if slot >= self._lengths.size:
            grown = np.zeros(max(slot + 1, 2 * self._lengths.size, 16), dtype=np.float64)
            grown[: self._lengths.size] = self._lengths
            self._lengths = grown
        self._lengths[slot] += delta

    def term_contributions(self, query: Iterable[str], slot: int) -> dict[str, float]:
        """Each distinct query term's share of ``slot``'s BM25 score (only matching terms)."""
        doc = self._docs.get(slot)
        if not doc:
            return {}
        avg = self.average_length or 1.0
        dl = sum(doc.values())
        out: dict[str, float] = {}
        for term in set(query):
            tf = doc.get(term, 0)
            if tf:
                norm = self.k1 * (1.0 - self.b + self.b * dl / avg)
                out[term] = self.idf(term) * tf * (self.k1 + 1.0) / (tf + norm)
        return out
