"""Okapi BM25 over one document per helper, updated incrementally.

Documents live in integer *slots* chosen by the caller (the :class:`~peerbot.matching.index.
HelperIndex` uses its helper slots), so scores come back as one array indexed by slot.
IDF is Lucene's non-negative ``log(1 + (N - n + 0.5) / (n + 0.5))``.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

#: Posting arrays kept for scoring (at 100,000 helpers a common term's take 1.6 MB).
_CACHED_TERMS = 256

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
    """Incremental BM25 (``k1``, ``b``) over documents stored in integer slots.

    Two layers give the same scores as one: a *base* of documents built in bulk
    (:meth:`from_texts`), held in arrays (a term-major posting list of slots and term counts,
    and each document's term ids for removal), and an *overlay* of documents added or changed
    since, held in dictionaries. A base document that changes moves to the overlay.
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._docs: dict[int, Counter[str]] = {}
        self._postings: dict[str, dict[int, int]] = {}
        self._cache: dict[str, tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]] = {}
        self._total_len = 0
        self._lengths = np.zeros(0, dtype=np.float64)
        #: Changes of the lengths so far, and the length normalisation of every slot as of
        #: one of them (see :meth:`_norms`).
        self._length_changes = 0
        self._norm_cache: tuple[tuple[object, ...], npt.NDArray[np.float64]] | None = None
        # The base (empty until from_texts): term ids, term-major postings, per-doc term ids.
        self._vocab: dict[str, int] = {}
        self._terms: list[str] = []
        self._t_ptr = np.zeros(1, dtype=np.int64)
        self._t_slots = np.zeros(0, dtype=np.int32)
        self._t_tfs = np.zeros(0, dtype=np.float64)
        self._d_ptr = np.zeros(1, dtype=np.int64)
        self._d_terms = np.zeros(0, dtype=np.int32)
        self._base_df = np.zeros(0, dtype=np.int64)
        self._base_alive = np.zeros(0, dtype=bool)
        self._n_base = 0
        self._base_dead = 0

    @classmethod
    def from_texts(
        cls,
        slots: npt.ArrayLike,
        texts: Sequence[str],
        k1: float = 1.2,
        b: float = 0.75,
    ) -> BM25Index:
        """An index whose document in slot ``s`` holds the :func:`analyze` terms of every
        ``texts[i]`` with ``slots[i] == s``, tokenised in bulk (one pass over all texts).

        Scores are those of adding each document with :meth:`add`; the texts of one slot
        need not be adjacent. Slots with no text hold no document.
        """
        index = cls(k1, b)
        slot_of = np.asarray(slots, dtype=np.int64).reshape(-1)
        if slot_of.size != len(texts):
            raise ValueError(f"{slot_of.size} slots for {len(texts)} texts")
        if not texts:
            return index
        n_slots = int(slot_of.max()) + 1
        text_of_token, term_of_token, terms, vocab = _bulk_terms(texts)
        n_terms = len(terms)
        doc_slot = slot_of[text_of_token]
        # Every slot with a text is a document (as add() with no tokens makes one).
        has_doc = np.zeros(n_slots, dtype=bool)
        has_doc[slot_of] = True
        lengths = np.bincount(doc_slot, minlength=n_slots).astype(np.float64)
        key = doc_slot * max(1, n_terms) + term_of_token
        pairs, counts = np.unique(key, return_counts=True)
        p_slot = (pairs // max(1, n_terms)).astype(np.int32)
        p_term = (pairs % max(1, n_terms)).astype(np.int32)
        # Doc-major already (sorted by slot, then term).
        index._d_ptr = np.zeros(n_slots + 1, dtype=np.int64)
        np.cumsum(np.bincount(p_slot, minlength=n_slots), out=index._d_ptr[1:])
        index._d_terms = p_term
        by_term = np.argsort(p_term, kind="stable")
        index._t_slots = p_slot[by_term]
        index._t_tfs = counts[by_term].astype(np.float64)
        index._t_ptr = np.zeros(n_terms + 1, dtype=np.int64)
        df = np.bincount(p_term, minlength=n_terms)
        np.cumsum(df, out=index._t_ptr[1:])
        index._base_df = df.astype(np.int64)
        index._vocab = vocab
        index._terms = terms
        index._base_alive = has_doc
        index._n_base = int(has_doc.sum())
        index._lengths = lengths
        index._total_len = int(lengths.sum())
        return index

    def __len__(self) -> int:
        return len(self._docs) + self._n_base

    @property
    def average_length(self) -> float:
        """Mean document length in tokens (0 when empty)."""
        n = len(self)
        return self._total_len / n if n else 0.0

    def _touch(self, term: str) -> None:
        self._cache.pop(term, None)

    def _in_base(self, slot: int) -> bool:
        return slot < self._base_alive.size and bool(self._base_alive[slot])

    def _base_doc(self, slot: int) -> Counter[str]:
        """The term counts of base document ``slot``."""
        lo, hi = int(self._d_ptr[slot]), int(self._d_ptr[slot + 1])
        out: Counter[str] = Counter()
        for tid in self._d_terms[lo:hi].tolist():
            out[self._terms[tid]] = int(self._base_tf(tid, slot))
        return out

    def _base_tf(self, tid: int, slot: int) -> float:
        lo, hi = int(self._t_ptr[tid]), int(self._t_ptr[tid + 1])
        seg = self._t_slots[lo:hi]
        i = int(np.searchsorted(seg, slot))
        return float(self._t_tfs[lo + i]) if i < seg.size and seg[i] == slot else 0.0

    def _drop_base(self, slot: int) -> Counter[str]:
        """Take ``slot`` out of the base; its term counts (length and total unchanged)."""
        doc = self._base_doc(slot)
        lo, hi = int(self._d_ptr[slot]), int(self._d_ptr[slot + 1])
        self._base_df[self._d_terms[lo:hi]] -= 1
        self._base_alive[slot] = False
        self._n_base -= 1
        self._base_dead += 1
        for term in doc:
            self._touch(term)
        return doc

    def add(self, slot: int, tokens: Iterable[str]) -> None:
        """Append ``tokens`` to the document in ``slot`` (creating it when new)."""
        added = Counter(tokens)
        if self._in_base(slot):  # a base document changes: it moves to the overlay
            doc0 = self._drop_base(slot)
            self._docs[slot] = Counter()
            for term, n in doc0.items():
                self._docs[slot][term] = n
                self._postings.setdefault(term, {})[slot] = n
        doc = self._docs.get(slot)
        postings = self._postings
        if doc is None:  # a new document: its counts are the postings
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
        if self._in_base(slot):
            self._drop_base(slot)
            length = int(self._lengths[slot])
            self._total_len -= length
            self._set_length(slot, -length)
            return
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
        if self._in_base(slot):
            return int(self._lengths[slot])
        doc = self._docs.get(slot)
        return sum(doc.values()) if doc else 0

    def _df(self, term: str) -> int:
        tid = self._vocab.get(term)
        base = int(self._base_df[tid]) if tid is not None else 0
        posting = self._postings.get(term)
        return base + (len(posting) if posting else 0)

    def idf(self, term: str) -> float:
        """Inverse document frequency of ``term`` (0 for an unseen term)."""
        n = self._df(term)
        if not n:
            return 0.0
        return math.log(1.0 + (len(self) - n + 0.5) / (n + 0.5))

    def _posting_arrays(
        self, term: str
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]] | None:
        cached = self._cache.get(term)
        if cached is not None:
            return cached
        parts_s: list[npt.NDArray[np.intp]] = []
        parts_t: list[npt.NDArray[np.float64]] = []
        tid = self._vocab.get(term)
        if tid is not None:
            lo, hi = int(self._t_ptr[tid]), int(self._t_ptr[tid + 1])
            s = self._t_slots[lo:hi].astype(np.intp)
            t = self._t_tfs[lo:hi]
            if self._base_dead:
                alive = self._base_alive[s]
                s, t = s[alive], t[alive]
            parts_s.append(s)
            parts_t.append(t)
        posting = self._postings.get(term)
        if posting:
            parts_s.append(np.fromiter(posting.keys(), dtype=np.intp, count=len(posting)))
            parts_t.append(np.fromiter(posting.values(), dtype=np.float64, count=len(posting)))
        if not parts_s or sum(p.size for p in parts_s) == 0:
            return None
        slots = parts_s[0] if len(parts_s) == 1 else np.concatenate(parts_s)
        tfs = parts_t[0] if len(parts_t) == 1 else np.concatenate(parts_t)
        if posting or self._base_dead:  # worth keeping (a base-only read is a slice and a cast)
            if len(self._cache) >= _CACHED_TERMS:  # bounded: a worker serves asks for months
                self._cache.pop(next(iter(self._cache)))
            self._cache[term] = (slots, tfs)
        return slots, tfs

    def score(self, query: Iterable[str], n_slots: int) -> npt.NDArray[np.float64]:
        """BM25 of the query's distinct terms against every slot (0 where no term matches)."""
        out = np.zeros(n_slots, dtype=np.float64)
        if not len(self):
            return out
        norms = self._norms(n_slots)
        for term in set(query):
            arrays = self._posting_arrays(term)
            if arrays is None:
                continue
            slots, tfs = arrays
            out[slots] += self.idf(term) * tfs * (self.k1 + 1.0) / (tfs + norms[slots])
        return out

    def _norms(self, n_slots: int) -> npt.NDArray[np.float64]:
        """``k1 * (1 - b + b * length / average length)`` of every slot, kept until a length
        changes (computed per matching term before: the same values, gathered instead)."""
        avg = self.average_length or 1.0
        key = (id(self._lengths), self._length_changes, n_slots, avg, self.k1, self.b)
        kept = self._norm_cache
        if kept is not None and kept[0] == key:
            return kept[1]
        lengths = self._length_array(n_slots)
        norms: npt.NDArray[np.float64] = self.k1 * (1.0 - self.b + self.b * lengths / avg)
        self._norm_cache = (key, norms)
        return norms

    def _length_array(self, n_slots: int) -> npt.NDArray[np.float64]:
        if self._lengths.size == n_slots:
            return self._lengths
        lengths = np.zeros(n_slots, dtype=np.float64)
        m = min(n_slots, self._lengths.size)
        lengths[:m] = self._lengths[:m]
        return lengths

    def _set_length(self, slot: int, delta: int) -> None:
        self._length_changes += 1
        if slot >= self._lengths.size:
            grown = np.zeros(max(slot + 1, 2 * self._lengths.size, 16), dtype=np.float64)
            grown[: self._lengths.size] = self._lengths
            self._lengths = grown
        self._lengths[slot] += delta

    def term_contributions(self, query: Iterable[str], slot: int) -> dict[str, float]:
        """Each distinct query term's share of ``slot``'s BM25 score (only matching terms)."""
        if self._in_base(slot):
            doc: Counter[str] | None = self._base_doc(slot)
        else:
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

    # --- persistence ----------------------------------------------------------------------
    def export_state(self) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
        """Arrays (the base; those changes write in place are copies) and JSON-able values
        (the overlay, the terms) that :meth:`from_state` rebuilds this index from."""
        arrays: dict[str, npt.NDArray[Any]] = {
            "t_ptr": self._t_ptr,
            "t_slots": self._t_slots,
            "t_tfs": self._t_tfs,
            "d_ptr": self._d_ptr,
            "d_terms": self._d_terms,
            "base_df": self._base_df.copy(),
            "base_alive": self._base_alive.copy(),
            "lengths": self._lengths.copy(),
        }
        meta = {
            "k1": self.k1,
            "b": self.b,
            "terms": list(self._terms),
            "docs": [[slot, dict(doc)] for slot, doc in self._docs.items()],
            "total_len": self._total_len,
            "n_base": self._n_base,
            "base_dead": self._base_dead,
        }
        return arrays, meta

    @classmethod
    def from_state(
        cls, arrays: Mapping[str, npt.NDArray[Any]], meta: Mapping[str, Any]
    ) -> BM25Index:
        """The index :meth:`export_state` described (arrays may be copy-on-write maps)."""
        index = cls(float(meta["k1"]), float(meta["b"]))
        index._t_ptr, index._t_slots = arrays["t_ptr"], arrays["t_slots"]
        index._t_tfs, index._d_ptr = arrays["t_tfs"], arrays["d_ptr"]
        index._d_terms, index._base_df = arrays["d_terms"], arrays["base_df"]
        index._base_alive, index._lengths = arrays["base_alive"], arrays["lengths"]
        index._terms = [str(t) for t in meta["terms"]]
        index._vocab = {t: i for i, t in enumerate(index._terms)}
        if index._t_ptr.size != len(index._terms) + 1 or index._base_df.size != len(index._terms):
            raise ValueError("BM25 postings do not match the terms")
        for slot, doc in meta["docs"]:
            counts = Counter({str(t): int(n) for t, n in doc.items()})
            index._docs[int(slot)] = counts
            for term, n in counts.items():
                index._postings.setdefault(term, {})[int(slot)] = n
        index._total_len = int(meta["total_len"])
        index._n_base = int(meta["n_base"])
        index._base_dead = int(meta["base_dead"])
        return index


def _ascii_table() -> bytes:
    """``bytes.translate`` table: ASCII letters lower-cased, digits kept, all else a space."""
    table = bytearray(b" " * 256)
    for c in range(256):
        ch = chr(c)
        if c < 128 and ch.isalnum():
            table[c] = ord(ch.lower())
    table[0] = ord("Q")  # the separator token (upper case: no folded text holds it)
    return bytes(table)


_ASCII = _ascii_table()
_SEP_TOKEN = "Q"
#: Texts tokenised at a time by the bulk build.
_BULK_TEXTS = 16_384


def _tokens_with_separators(texts: Sequence[str]) -> list[str]:
    """:func:`tokenize` of every text, in order, with :data:`_SEP_TOKEN` between texts.

    ASCII texts are joined and split at C speed (``bytes.translate``: what the regular
    expression and ``casefold`` do for ASCII); the others go through :func:`tokenize`.
    """
    ascii_ok = all(map(str.isascii, texts))
    joined = " \x00 ".join(texts)
    if ascii_ok and joined.count("\x00") == len(texts) - 1:
        return joined.encode("ascii").translate(_ASCII).decode("ascii").split()
    out: list[str] = []
    for i, text in enumerate(texts):
        if i:
            out.append(_SEP_TOKEN)
        if text.isascii() and "\x00" not in text:
            out.extend(text.encode("ascii").translate(_ASCII).decode("ascii").split())
        else:
            out.extend(tokenize(text))
    return out


def _bulk_terms(
    texts: Sequence[str],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[str], dict[str, int]]:
    """:func:`analyze` of many texts at once: for every kept token, the index of its text and
    its term id; then the terms by id and the id of each term.

    Tokens come from :func:`_tokens_with_separators`; stopwords and stems are looked up once
    per distinct token, not once per token.
    """
    # Token ids in order of first appearance, in one pass per chunk (a defaultdict numbers a
    # new token as it is met); chunks keep the token strings of only a few texts alive.
    ids_of: defaultdict[str, int] = defaultdict(itertools.count().__next__)
    sep = ids_of[_SEP_TOKEN]
    id_parts: list[npt.NDArray[np.int64]] = []
    text_parts: list[npt.NDArray[np.int64]] = []
    for lo in range(0, len(texts), _BULK_TEXTS):
        toks = _tokens_with_separators(texts[lo : lo + _BULK_TEXTS])
        ids = np.fromiter(map(ids_of.__getitem__, toks), dtype=np.int64, count=len(toks))
        id_parts.append(ids)
        text_parts.append(lo + np.cumsum(ids == sep))
        del toks
    tok_ids = np.concatenate(id_parts) if id_parts else np.zeros(0, np.int64)
    text_of = np.concatenate(text_parts) if text_parts else np.zeros(0, np.int64)
    del id_parts, text_parts
    vocab: dict[str, int] = {}
    term_of = np.empty(len(ids_of), dtype=np.int64)
    for tok, i in ids_of.items():
        if tok == _SEP_TOKEN or tok in STOPWORDS:
            term_of[i] = -1
        else:
            term_of[i] = vocab.setdefault(stem(tok), len(vocab))
    terms = term_of[tok_ids]
    keep = terms >= 0
    return text_of[keep], terms[keep], list(vocab), vocab
