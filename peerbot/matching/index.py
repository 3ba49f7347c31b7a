"""In-memory, per-workspace index of helpers: vectors, texts and facts, ready to rank.

Built from plain records (the database layer stores the vectors; this module never does I/O).

Vector search
-------------
Every expertise vector and every past-help vector is a *row*. Rows live in partitions:

* **exact** (up to ``exact_max_rows`` rows, the default for small workspaces): one partition,
  every row is scored, so results do not depend on how the index was built.
* **IVF** (above that): rows are grouped by their nearest of ``n_lists`` k-means centroids; a
  query scores only the rows of the ``n_probe`` partitions whose centroids are nearest. The
  per-helper aggregation weights a past ask by ``exp(T * (cos - 1))``, so far rows add almost
  nothing and skipping them changes little; helpers with no row scored fall to the floor.

Keeping several worker processes current
----------------------------------------
The database keeps a monotonically increasing change number (a sequence, or ``updated_at`` with
the row id as tie-break) on each change to a helper's profile, vectors, facts or past helps. Each
worker holds one index per workspace and, before ranking (or every few seconds), reads the
changes with a number above :attr:`HelperIndex.generation` and calls :meth:`HelperIndex.apply`.
Changes at or below the generation are ignored, so replaying a feed is harmless. A change of
embedding model is a rebuild, never an ``apply``: :meth:`HelperIndex.apply` refuses vectors whose
``model_name`` differs from the index's.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from peerbot.matching.bm25 import BM25Index, analyze
from peerbot.matching.facts import HelperFacts

try:  # Optional: multi-threaded OpenBLAS stalls on many small matrix-vector products.
    from threadpoolctl import ThreadpoolController

    _BLAS: Any = ThreadpoolController()
except ImportError:  # pragma: no cover - threadpoolctl absent
    _BLAS = None


def _one_blas_thread() -> AbstractContextManager[object]:
    """Single-threaded BLAS for the duration (a no-op without threadpoolctl)."""
    if _BLAS is None:
        return nullcontext()
    ctx: AbstractContextManager[object] = _BLAS.limit(limits=1, user_api="blas")
    return ctx


KIND_PAST = 0
#: :meth:`HelperIndex.past_help_sums` counts each vector component in units of 1/SUM_SCALE.
SUM_SCALE = 2**15
KIND_EXPERTISE = 1

#: The facts :meth:`HelperIndex.fact_columns` holds as float columns (``helps_given`` first:
#: when unknown it counts the helper's past helps).
FACT_COLUMNS = (
    "helps_given",
    "rating_mean",
    "rating_count",
    "years_managing",
    "capacity_total",
    "capacity_used",
    "utc_offset_minutes",
    "offers_received",
    "offers_accepted",
    "median_accept_hours",
    "recent_offers",
)
_FACT_VALUES = operator.attrgetter(*FACT_COLUMNS)


@dataclass(frozen=True, slots=True)
class PastHelp:
    """One ask the helper helped on before: its id, vector, text and when (aware UTC) it was."""

    ask_id: str
    vector: npt.NDArray[np.float32]
    text: str
    helped_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HelperRecord:
    """Everything the index holds about one helper."""

    helper_id: str
    expertise_vector: npt.NDArray[np.float32] | None = None
    expertise_text: str = ""
    past_helps: Sequence[PastHelp] = ()
    facts: HelperFacts = field(default_factory=HelperFacts)


@dataclass(frozen=True, slots=True)
class HelperColumns:
    """Many helpers in columns: the bulk build's input, without an object per past help.

    Helper ``i`` has id ``helper_ids[i]``, expertise text ``expertise_texts[i]`` and facts
    ``facts[i]`` (empty facts when ``facts`` is ``None``); the helpers listed (ascending) in
    ``expertise_of`` have the expertise vectors of ``expertise_vectors``, row by row. Past
    helps are listed helper by helper, each helper's in its order: helper ``i`` has
    ``help_counts[i]`` of them. Past help ``j`` has ask id ``help_ask_ids[j]``, text
    ``help_texts[j]``, POSIX time ``help_times[j]`` (``NaN``: undated) and the vector
    ``help_vectors[help_vector_rows[j]]`` (``help_vectors[j]`` without ``help_vector_rows``):
    a loader may keep its rows in the order it read them. Vectors need not be unit length.
    """

    helper_ids: Sequence[str]
    expertise_texts: Sequence[str]
    expertise_of: npt.NDArray[np.intp]
    expertise_vectors: npt.NDArray[np.float32]
    help_counts: npt.NDArray[np.int64]
    help_vectors: npt.NDArray[np.float32] | Sequence[npt.NDArray[np.float32]]
    help_ask_ids: Sequence[str]
    help_texts: Sequence[str]
    help_times: npt.NDArray[np.float64]
    help_vector_rows: npt.NDArray[np.intp] | None = None
    facts: Sequence[HelperFacts] | None = None

    def __post_init__(self) -> None:
        n, k = len(self.helper_ids), len(self.help_texts)
        if len(self.expertise_texts) != n or self.help_counts.shape != (n,):
            raise ValueError("one expertise text and one help count per helper")
        if self.facts is not None and len(self.facts) != n:
            raise ValueError("one set of facts per helper")
        if len(self.expertise_of) != len(self.expertise_vectors):
            raise ValueError("one expertise vector per helper listed in expertise_of")
        sizes = {int(self.help_counts.sum()), len(self.help_ask_ids), len(self.help_times)}
        rows = len(self.help_vectors) if self.help_vector_rows is None else None
        if sizes != {k} or (rows is not None and rows != k):
            raise ValueError("past-help columns of different lengths")

    @classmethod
    def from_records(cls, records: Sequence[HelperRecord]) -> HelperColumns:
        """The columns of ``records`` (distinct helper ids); vectors are not copied here."""
        helps = [h for r in records for h in r.past_helps]
        exp_of = np.fromiter(
            (s for s, r in enumerate(records) if r.expertise_vector is not None), dtype=np.intp
        )
        exp_vecs = [records[s].expertise_vector for s in exp_of.tolist()]
        dims = {np.shape(v)[-1] for v in exp_vecs} if exp_vecs else {0}
        if len(dims) != 1:
            raise ValueError("expertise vectors of different dimensions")
        return cls(
            helper_ids=[r.helper_id for r in records],
            expertise_texts=[r.expertise_text for r in records],
            expertise_of=exp_of,
            expertise_vectors=_stack(exp_vecs, dims.pop()),
            help_counts=np.fromiter(
                (len(r.past_helps) for r in records), dtype=np.int64, count=len(records)
            ),
            help_vectors=[h.vector for h in helps],
            help_ask_ids=[h.ask_id for h in helps],
            help_texts=[h.text for h in helps],
            help_times=np.fromiter(
                (math.nan if h.helped_at is None else h.helped_at.timestamp() for h in helps),
                dtype=np.float64,
                count=len(helps),
            ),
            facts=[r.facts for r in records],
        )

    @property
    def n_rows(self) -> int:
        """Vectors held: expertise plus past helps."""
        return len(self.expertise_of) + len(self.help_texts)

    def help_block(self, lo: int, hi: int, dimension: int) -> npt.NDArray[np.float32]:
        """The vectors of past helps ``lo:hi`` as rows of a float32 matrix."""
        if self.help_vector_rows is not None:
            return self.help_rows_at(np.arange(lo, hi), dimension)
        src = self.help_vectors
        if isinstance(src, np.ndarray):
            if src.ndim != 2 or src.shape[1] != dimension:
                raise ValueError(f"vector has dimension {src.shape[-1]}, index expects {dimension}")
            return np.asarray(src[lo:hi], dtype=np.float32)
        return _stack(src[lo:hi], dimension)

    def help_rows_at(self, at: npt.NDArray[np.intp], dimension: int) -> npt.NDArray[np.float32]:
        """The vectors of the past helps numbered ``at``."""
        rows = at if self.help_vector_rows is None else self.help_vector_rows[at]
        src = self.help_vectors
        if isinstance(src, np.ndarray):
            if src.ndim != 2 or src.shape[1] != dimension:
                raise ValueError(f"vector has dimension {src.shape[-1]}, index expects {dimension}")
            return np.asarray(src[rows], dtype=np.float32)
        return _stack([src[i] for i in rows.tolist()], dimension)


@dataclass(frozen=True, slots=True)
class UpsertHelper:
    """Replace (or create) a helper with ``record`` (past helps included)."""

    version: int
    record: HelperRecord


@dataclass(frozen=True, slots=True)
class UpdateFacts:
    """Replace a helper's facts only (capacity, offers, ratings change often; vectors do not)."""

    version: int
    helper_id: str
    facts: HelperFacts


@dataclass(frozen=True, slots=True)
class RemoveHelper:
    """Drop a helper (opted out, left the workspace, deleted their data)."""

    version: int
    helper_id: str


@dataclass(frozen=True, slots=True)
class AddPastHelp:
    """Append one past help to an existing helper."""

    version: int
    helper_id: str
    help: PastHelp


IndexChange = UpsertHelper | UpdateFacts | RemoveHelper | AddPastHelp


@dataclass(frozen=True, slots=True)
class Hits:
    """Rows scored for one query: cosine, owning helper slot, kind, past-help position."""

    sims: npt.NDArray[np.float32]
    owners: npt.NDArray[np.intp]
    kinds: npt.NDArray[np.int8]
    refs: npt.NDArray[np.intp]


def _checked(vec: npt.ArrayLike, dim: int) -> npt.NDArray[np.float32]:
    """``vec`` as a float32 vector of dimension ``dim`` (``ValueError`` otherwise)."""
    v = np.asarray(vec, dtype=np.float32).reshape(-1)
    if v.shape[0] != dim:
        raise ValueError(f"vector has dimension {v.shape[0]}, index expects {dim}")
    return v


def _unit(vec: npt.ArrayLike, dim: int) -> npt.NDArray[np.float32]:
    return _normalised(_checked(vec, dim)[None, :])[0]  # as the bulk build does, bit for bit


def _next(parts: Iterator[int] | None) -> int | None:
    return None if parts is None else next(parts)


def _assign(
    rows: npt.NDArray[np.float32], centroids: npt.NDArray[np.float32], chunk: int = 65_536
) -> npt.NDArray[np.intp]:
    """Index of the nearest centroid (by cosine) of each row."""
    out = np.empty(rows.shape[0], dtype=np.intp)
    for start in range(0, rows.shape[0], chunk):
        out[start : start + chunk] = np.argmax(rows[start : start + chunk] @ centroids.T, axis=1)
    return out


def default_lists(rows: int) -> int:
    """IVF partitions for ``rows`` vectors: ``sqrt(rows) / 8`` between 64 and 1024.

    Assigning every row to its partition costs ``rows x lists x dimension``, the largest part
    of the build: at 1.1 million rows, 4 sqrt(rows) lists (a former default) took a minute,
    sqrt(rows) / 4 about 13 s under load, sqrt(rows) / 8 (131 lists) half that. Finer
    partitions did not raise the ranking's recall (``peerbot bench match``).
    """
    return int(min(1024, max(64, round(math.sqrt(rows) / 8))))


def train_centroids(
    rows: npt.NDArray[np.float32],
    n_lists: int,
    iterations: int = 6,
    seed: int = 0,
    sample: int = 32_000,
) -> npt.NDArray[np.float32]:
    """Spherical k-means centroids (unit rows) of ``rows``, on a deterministic sample."""
    rng = np.random.default_rng(seed)
    if rows.shape[0] > sample:
        rows = rows[np.sort(rng.choice(rows.shape[0], sample, replace=False))]
    n_lists = max(1, min(n_lists, rows.shape[0]))
    cent = rows[rng.choice(rows.shape[0], n_lists, replace=False)].astype(np.float32)
    previous: npt.NDArray[np.intp] | None = None
    for _ in range(iterations):
        assign = np.argmax(rows @ cent.T, axis=1)
        if previous is not None and np.array_equal(assign, previous):
            break  # converged: ``cent`` came from this very assignment, so would come again
        previous = assign
        # Sum the rows of each centroid: sorted once, each run added as one block (2.5x
        # faster than np.add.reduceat over the runs; np.add.at is slower still).
        order = np.argsort(assign, kind="stable")
        grouped = rows[order]
        bounds = np.searchsorted(assign[order], np.arange(n_lists + 1)).tolist()
        sums = np.zeros_like(cent)
        for c in range(n_lists):
            if bounds[c + 1] > bounds[c]:
                sums[c] = grouped[bounds[c] : bounds[c + 1]].sum(axis=0)
        del grouped
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        empty = norms[:, 0] == 0
        sums[empty] = cent[empty]
        norms[empty] = 1.0
        cent = (sums / norms).astype(np.float32)
    return cent


_BLOCK = 1024


class _TextColumn:
    """Many strings held in blocks of one joined string each (a separate Python string per
    item costs ~50 bytes beyond its text; blocks keep one non-ASCII text from widening all)."""

    __slots__ = ("_blocks", "_ends")

    def __init__(self, items: Sequence[str]) -> None:
        n = len(items)
        self._blocks = ["".join(items[i : i + _BLOCK]) for i in range(0, n, _BLOCK)]
        # Lengths in pieces: one C loop over a million texts keeps the interpreter ~0.4 s.
        lengths = [
            np.fromiter(map(len, items[i : i + 64 * _BLOCK]), dtype=np.int64)
            for i in range(0, n, 64 * _BLOCK)
        ]
        ends = np.cumsum(np.concatenate(lengths) if lengths else np.zeros(0, np.int64))
        starts = np.concatenate([[0], ends[_BLOCK - 1 :: _BLOCK]])[: len(self._blocks)]
        self._ends = (ends - np.repeat(starts, _BLOCK)[:n]).astype(np.int64)

    def __len__(self) -> int:
        return int(self._ends.size)

    def __getitem__(self, i: int) -> str:
        start = int(self._ends[i - 1]) if i % _BLOCK else 0
        return self._blocks[i // _BLOCK][start : int(self._ends[i])]

    def nbytes(self) -> int:
        """Characters held."""
        return sum(map(len, self._blocks))

    def utf8(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        """All items as one UTF-8 buffer and the byte offset where each ends."""
        data: list[bytes] = []
        ends: list[npt.NDArray[np.int64]] = []
        at = 0
        for b, block in enumerate(self._blocks):
            lo = b * _BLOCK
            char_ends = self._ends[lo : lo + _BLOCK]
            if block.isascii():
                raw = block.encode("ascii")
                byte_ends = char_ends
            else:
                items = [self[i].encode("utf-8") for i in range(lo, lo + char_ends.size)]
                raw = b"".join(items)
                byte_ends = np.cumsum(np.fromiter(map(len, items), np.int64, len(items)))
            data.append(raw)
            ends.append(at + byte_ends)
            at += len(raw)
        flat = np.frombuffer(b"".join(data), dtype=np.uint8)
        return flat, (np.concatenate(ends) if ends else np.zeros(0, np.int64)).astype(np.int64)


class _BytesColumn:
    """Many strings in one UTF-8 buffer (e.g. memory-mapped from a snapshot), decoded on
    access: what :class:`_TextColumn` offers, without holding the texts as Python strings."""

    __slots__ = ("_data", "_ends")

    def __init__(self, data: npt.NDArray[np.uint8], ends: npt.NDArray[np.int64]) -> None:
        self._data = data
        self._ends = ends

    def __len__(self) -> int:
        return int(self._ends.size)

    def __getitem__(self, i: int) -> str:
        start = int(self._ends[i - 1]) if i else 0
        return bytes(self._data[start : int(self._ends[i])]).decode("utf-8")

    def nbytes(self) -> int:
        """Bytes held."""
        return int(self._data.nbytes)

    def utf8(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        """The UTF-8 buffer and the byte offset where each item ends."""
        return self._data, self._ends

    def items(self) -> list[str]:
        """Every item, decoded."""
        raw = bytes(self._data)
        ends = self._ends.tolist()
        return [raw[a:b].decode("utf-8") for a, b in zip([0, *ends[:-1]], ends, strict=True)]


#: One past help held outside the bulk columns: ask id, text, time, row of its vector.
_Help = tuple[str, str, "datetime | None", int]

#: Vector storage: ``float32`` (exact products), ``float16`` (half the memory) or ``int8``
#: (a quarter; one float32 scale per row). Products are always float32, block by block.
STORAGE = ("float32", "float16", "int8")
#: Rows converted to float32 at a time for a product: a piece that stays in the CPU's cache
#: (32,768 rows, a fresh 48 MB each time, made the 100,000-helper ranking 154 ms instead of 92).
_CHUNK = 1024
#: Up to this many vectors the index scores every row (one matrix product: ~10 ms per 100k rows,
#: recall 1.0, nothing to train at build time); above it, IVF partitions. The production
#: default (``peerbot bench match`` uses it too, so its figures are production's).
EXACT_MAX_ROWS = 400_000
#: Default :attr:`HelperIndex.prior_shortlist`. At 100,000 helpers (1.1 million rows, 131
#: lists) the exact top 10 the probe missed (recall@10 0.981 over 100 asks, at 4 to 12
#: probes alike) ranked 54th to 8,981st on the other signals, 15 of 19 within 2,048.
PRIOR_SHORTLIST = 2048
#: Fact changes journalled before a new epoch starts (see ``HelperIndex.facts_changed_since``):
#: past this many, making the ranker's kept values again in full costs less than updating them.
_FACT_LOG_MAX = 4096
#: Slots, rows, copies of the stored rows and their scales (see ``HelperIndex._also_rows``).
#: (slots, rows, their stored copy, scales, (owner, kind, ref) of each row).
_AlsoRows = tuple[
    npt.NDArray[np.intp],
    npt.NDArray[np.intp],
    npt.NDArray[Any],
    npt.NDArray[np.float32],
    tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]],
]
#: Rows the bulk build reads, assigns and encodes at a time.
_BUILD_ROWS = 8192
#: Rows encoded at a time (the same values as all at once, row by row).
_ENCODE_ROWS = 1024


def _to_float32(arr: npt.ArrayLike) -> npt.NDArray[np.float32]:
    return np.asarray(arr, dtype=np.float32).reshape(-1)


def _stack(vectors: Sequence[npt.ArrayLike], dimension: int) -> npt.NDArray[np.float32]:
    """The vectors as rows of one float32 matrix (one C-level copy when they are float32)."""
    if not vectors:
        return np.zeros((0, dimension), dtype=np.float32)
    try:
        fast = set(map(_DTYPE, vectors)) == {_F32} and set(map(_SHAPE, vectors)) == {(dimension,)}
    except AttributeError:  # not arrays
        fast = False
    if fast:
        try:
            raw = b"".join(vectors)  # type: ignore[arg-type]  # numpy arrays are buffers
            return np.frombuffer(raw, dtype=np.float32).reshape(-1, dimension)
        except (BufferError, TypeError):  # pragma: no cover - non-contiguous views
            pass
    try:
        mat = np.stack([_to_float32(v) for v in vectors])
    except ValueError as err:
        raise ValueError(f"vectors of different dimensions: {err}") from err
    if mat.shape[1] != dimension:
        raise ValueError(f"vector has dimension {mat.shape[1]}, index expects {dimension}")
    return mat


_DTYPE = operator.attrgetter("dtype")
_SHAPE = operator.attrgetter("shape")
_F32 = np.dtype(np.float32)


def _normalised(mat: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.sqrt(np.einsum("ij,ij->i", mat, mat))
    out = np.zeros(mat.shape, dtype=np.float32)
    np.divide(mat, norms[:, None], out=out, where=norms[:, None] > 0)
    return out


class HelperIndex:
    """All helpers of one workspace, ready for :class:`~peerbot.matching.ranker.HybridRanker`.

    Vectors are rows of one matrix in the chosen :data:`STORAGE`; a row keeps its number for
    life (removal frees it; the matrix is compacted when a quarter is free), so a helper's
    rows are found by number, never by a view that compaction could move.
    """

    def __init__(
        self,
        dimension: int,
        model_name: str = "",
        *,
        centroids: npt.NDArray[np.float32] | None = None,
        n_probe: int = 4,
        storage: str = "float32",
        shortlist: int = 256,
    ) -> None:
        if storage not in STORAGE:
            raise ValueError(f"storage must be one of {', '.join(STORAGE)}")
        self.dimension = dimension
        self.model_name = model_name
        self.generation = 0
        #: Bumped on every in-memory change (caches of derived values key on it).
        self.revision = 0
        #: Bumped when helpers are added or removed (slots move); not when facts change.
        self.layout = 0
        #: IVF partitions probed per query.
        self.n_probe = n_probe
        #: IVF: helpers re-scored on all their rows after the probe (best partial first).
        self.shortlist = shortlist
        #: IVF: how many of the helpers ranked best on everything but the ask's text the ranker
        #: has scored on all their rows too (``also`` of :meth:`search`), whatever the probe
        #: found: a helper strong on the rest needs only a moderately related past help to
        #: enter the top 10, and such a row can sit in a partition the probe skips.
        self.prior_shortlist = PRIOR_SHORTLIST
        self._also_cache: tuple[tuple[int, int, int], _AlsoRows] | None = None
        #: :attr:`revision` less the changes of facts alone (the rows' caches key on it).
        self._rows_revision = 0
        #: The slots whose facts changed, in order, since the journal began (its epoch), each
        #: with its values of :data:`FACT_COLUMNS` before the change: what the ranker's kept
        #: ask-independent values are brought up to date from (see
        #: :meth:`facts_changed_since`). Any other change starts a new epoch.
        self._fact_log: list[tuple[int, list[float]]] = []
        self._fact_epoch = 0
        self.storage = storage
        self._centroids = None if centroids is None else np.asarray(centroids, np.float32)
        n_parts = 1 if self._centroids is None else self._centroids.shape[0]
        # Rows.
        # Rows ``0:len(_mat)`` (the bulk build's, or a loaded snapshot's: maybe a read-only
        # memory map, never written) and, after them, rows appended since, in ``_tail``.
        self._mat = np.zeros((0, dimension), dtype=np.dtype(storage))
        self._tail = np.zeros((0, dimension), dtype=np.dtype(storage))
        self._scale = np.zeros(0, dtype=np.float32)
        self._own = np.zeros(0, dtype=np.intp)
        self._kind = np.zeros(0, dtype=np.int8)
        self._ref = np.zeros(0, dtype=np.intp)
        self._part = np.zeros(0, dtype=np.int32)
        self._hw = 0
        self._holes = 0
        # Partitions: a contiguous range of rows from the bulk build, then appended rows.
        self._p_lo = np.zeros(n_parts, dtype=np.int64)
        self._p_hi = np.zeros(n_parts, dtype=np.int64)
        self._p_extra: list[list[int]] = [[] for _ in range(n_parts)]
        # Helpers.
        self._slot_of: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._free: list[int] = []
        # Per slot: facts (``None`` in free slots), expertise text, and the facts the ranker
        # reads as float columns (``NaN`` = unknown), kept current on every change.
        self._facts: list[HelperFacts | None] = []
        self._exp_text: list[str] = []
        self._fcols = np.full((len(FACT_COLUMNS), 0), np.nan)
        self._fcols_stale = False
        self._exp_row = np.zeros(0, dtype=np.int64)
        # Past helps of the bulk build, by slot, in columns; later ones in lists per slot.
        self._hb_ptr = np.zeros(1, dtype=np.int64)
        self._hb_ok = np.zeros(0, dtype=bool)
        self._hb_ask: _TextColumn | _BytesColumn = _TextColumn([])
        self._hb_text: _TextColumn | _BytesColumn = _TextColumn([])
        self._hb_time = np.zeros(0, dtype=np.float64)
        self._hb_row = np.zeros(0, dtype=np.int64)
        self._ho: dict[int, list[_Help]] = {}
        self.bm25 = BM25Index()
        self._help_cache: tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]] | None = None
        self._slots_cache: tuple[npt.NDArray[np.intp], npt.NDArray[np.object_]] | None = None
        self._recency_cache: dict[float, tuple[float, npt.NDArray[np.float64]]] = {}

    # --- building -------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        records: Iterable[HelperRecord] | HelperColumns,
        dimension: int,
        model_name: str = "",
        *,
        exact_max_rows: int = EXACT_MAX_ROWS,
        n_lists: int | None = None,
        n_probe: int = 4,
        centroids: npt.NDArray[np.float32] | None = None,
        generation: int = 0,
        storage: str | None = None,
        shortlist: int = 256,
    ) -> HelperIndex:
        """An index of ``records`` (or of the same held in :class:`HelperColumns`, the cheaper
        input at scale); IVF partitions when there are more than ``exact_max_rows`` rows.

        ``centroids`` reuses a trained partitioning (so a rebuild ranks like the index it
        replaces); otherwise they are trained here when needed, deterministically.
        ``storage`` (see :data:`STORAGE`) defaults to float32 for exact search (every row is
        scored: no conversion) and int8 for IVF (a quarter of the memory; only the probed
        partitions and the shortlist are converted, block by block).
        """
        if isinstance(records, HelperColumns):
            cols = records
            if len(set(cols.helper_ids)) != len(cols.helper_ids):
                raise ValueError("HelperColumns holds a helper id twice")
        else:
            records = list(records)
            if len({r.helper_id for r in records}) != len(records):
                # Later records replace earlier ones: upsert one by one.
                return cls._build_upserting(
                    records, dimension, model_name, exact_max_rows, n_lists, n_probe,
                    centroids, generation, storage, shortlist,
                )  # fmt: skip
            cols = HelperColumns.from_records(records)
        rows = cols.n_rows
        ivf = centroids is not None or rows > exact_max_rows
        store = storage or ("int8" if ivf else "float32")
        index = cls._build_bulk(
            cols, dimension, model_name, n_probe, centroids, n_lists, ivf, store, shortlist
        )
        index.generation = generation
        return index

    @classmethod
    def _build_upserting(
        cls,
        records: list[HelperRecord],
        dimension: int,
        model_name: str,
        exact_max_rows: int,
        n_lists: int | None,
        n_probe: int,
        centroids: npt.NDArray[np.float32] | None,
        generation: int,
        storage: str | None,
        shortlist: int,
    ) -> HelperIndex:
        """:meth:`build` of records that name a helper more than once (the last one wins)."""
        rows = sum(len(r.past_helps) + (r.expertise_vector is not None) for r in records)
        ivf = centroids is not None or rows > exact_max_rows
        if centroids is None and ivf:
            vecs = [
                v
                for r in records
                for v in (
                    ([r.expertise_vector] if r.expertise_vector is not None else [])
                    + [h.vector for h in r.past_helps]
                )
            ]
            centroids = train_centroids(
                _normalised(_stack(vecs, dimension)), n_lists or default_lists(rows)
            )
        index = cls(
            dimension,
            model_name,
            centroids=centroids,
            n_probe=n_probe,
            storage=storage or ("int8" if ivf else "float32"),
            shortlist=shortlist,
        )
        for r in records:
            index._upsert(r)
        index.generation = generation
        return index

    @classmethod
    def _build_bulk(
        cls,
        cols: HelperColumns,
        dimension: int,
        model_name: str,
        n_probe: int,
        centroids: npt.NDArray[np.float32] | None,
        n_lists: int | None,
        ivf: bool,
        storage: str,
        shortlist: int,
    ) -> HelperIndex:
        """:meth:`build` in bulk (distinct helper ids): vectors normalised, assigned and
        encoded block by block straight into their final rows (no copy of the matrix), texts
        tokenised in one pass, rows sorted into their partitions with array operations (the
        result ranks as upserting one by one does)."""
        n = len(cols.helper_ids)
        n_helps = cols.help_counts
        exp_slots = cols.expertise_of
        n_exp = exp_slots.size
        k = int(n_helps.sum())
        total = n_exp + k
        if cols.expertise_vectors.shape[1:] not in ((dimension,), (0,)) and n_exp:
            raise ValueError(
                f"vector has dimension {cols.expertise_vectors.shape[1]}, index expects {dimension}"
            )

        help_first = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(n_helps, out=help_first[1:])
        help_owner = np.repeat(np.arange(n, dtype=np.intp), n_helps)
        # The texts are tokenised in a thread meanwhile: the vector work below spends its
        # time in numpy, which lets the interpreter run the tokeniser on another core.
        with ThreadPoolExecutor(1, thread_name_prefix="bm25-build") as pool:
            bm25 = pool.submit(
                BM25Index.from_texts,
                np.concatenate([np.arange(n), help_owner]),
                [*cols.expertise_texts, *cols.help_texts],
            )
            # One BLAS thread: the tokeniser has the other core, and multi-threaded OpenBLAS
            # on a busy machine spins (a product took 10x the wall time on 2 threads).
            with _one_blas_thread():
                index = cls._build_vectors(
                    cols, dimension, model_name, n_probe, centroids, n_lists, ivf, storage,
                    shortlist,
                )  # fmt: skip
            index.bm25 = bm25.result()
        index._own = np.concatenate([exp_slots.astype(np.intp), help_owner])
        index._kind = np.concatenate(
            [np.full(n_exp, KIND_EXPERTISE, np.int8), np.full(k, KIND_PAST, np.int8)]
        )
        index._ref = np.concatenate(
            [np.full(n_exp, -1, np.intp), np.arange(k) - help_first[help_owner]]
        )
        row_of = index._hb_row
        if index._centroids is not None:
            order = np.empty_like(row_of)
            order[row_of] = np.arange(total)
            index._own, index._kind = index._own[order], index._kind[order]
            index._ref = index._ref[order]
            del order
        index._exp_row = np.full(n, -1, dtype=np.int64)
        index._exp_row[exp_slots] = row_of[:n_exp]
        # Helpers and their past helps, in columns.
        index._ids = list(cols.helper_ids)
        index._slot_of = dict(zip(cols.helper_ids, range(n), strict=True))
        index._facts = list(cols.facts) if cols.facts is not None else [HelperFacts()] * n
        index._exp_text = list(cols.expertise_texts)
        index._fcols_stale = True
        index._hb_ptr = help_first
        index._hb_ok = np.ones(n, dtype=bool)
        index._hb_ask = _TextColumn(cols.help_ask_ids)
        index._hb_text = _TextColumn(cols.help_texts)
        index._hb_time = np.asarray(cols.help_times, dtype=np.float64)
        index._hb_row = row_of[n_exp:].astype(np.int64)
        index.layout += 1
        index._invalidate()
        return index

    @classmethod
    def _build_vectors(
        cls,
        cols: HelperColumns,
        dimension: int,
        model_name: str,
        n_probe: int,
        centroids: npt.NDArray[np.float32] | None,
        n_lists: int | None,
        ivf: bool,
        storage: str,
        shortlist: int,
    ) -> HelperIndex:
        """An index holding the vectors of ``cols`` (and nothing else yet), each in its final
        row; ``_hb_row`` holds the row of every vector (expertise ones first) for the caller."""
        n_exp = cols.expertise_of.size
        total = cols.n_rows
        step = _BUILD_ROWS

        def pieces() -> Iterator[tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]]:
            """Every vector once, a block at a time: ``(positions, rows)``, positions numbering
            expertise vectors first, then past helps. A matrix read through a permutation is
            read in its own order (no gathered copy); rows are not normalised (``_encode``
            does, and the nearest centroid does not depend on it)."""
            for lo in range(0, n_exp, step):
                hi = min(n_exp, lo + step)
                exp = np.asarray(cols.expertise_vectors[lo:hi], dtype=np.float32)
                yield np.arange(lo, hi), exp.reshape(-1, dimension)
            src, perm = cols.help_vectors, cols.help_vector_rows
            k = total - n_exp
            if k == 0:
                return
            if perm is None or not isinstance(src, np.ndarray):
                for lo in range(0, k, step):
                    hi = min(k, lo + step)
                    yield np.arange(n_exp + lo, n_exp + hi), cols.help_block(lo, hi, dimension)
                return
            if src.ndim != 2 or src.shape[1] != dimension:
                raise ValueError(f"vector has dimension {src.shape[-1]}, index expects {dimension}")
            position = np.full(src.shape[0], -1, dtype=np.intp)
            position[perm] = np.arange(n_exp, total)
            for lo in range(0, src.shape[0], step):
                at = position[lo : lo + step]
                used = at >= 0
                rows = np.asarray(src[lo : lo + step], dtype=np.float32)
                yield (at, rows) if used.all() else (at[used], rows[used])

        if ivf and centroids is None:
            rng = np.random.default_rng(0)
            lists = n_lists or default_lists(total)
            # 256 rows per centroid and 12 iterations: at 1.1 million rows, 128 and 6 left
            # partitions that missed 15% of the rows above the similarity floor at 12 probes
            # (1.5% now); training stays a few seconds.
            pick = np.sort(rng.choice(total, min(total, 256 * lists), replace=False))
            e_pick = pick[pick < n_exp]
            sample = np.concatenate(
                [
                    np.asarray(cols.expertise_vectors[e_pick], np.float32).reshape(-1, dimension),
                    cols.help_rows_at(pick[pick >= n_exp] - n_exp, dimension),
                ]
            )
            centroids = train_centroids(
                _normalised(sample), lists, iterations=12, sample=256 * lists
            )
            del sample
        index = cls(
            dimension,
            model_name,
            centroids=centroids,
            n_probe=n_probe,
            storage=storage,
            shortlist=shortlist,
        )
        cent = index._centroids
        row_of: npt.NDArray[np.intp]
        if cent is not None:  # rows in partition order: each partition one contiguous range
            assign = np.empty(total, dtype=np.int32)
            for at, rows in pieces():
                assign[at] = np.argmax(rows @ cent.T, axis=1)
            order = np.argsort(assign, kind="stable")
            bounds = np.searchsorted(assign[order], np.arange(cent.shape[0] + 1))
            index._p_lo, index._p_hi = bounds[:-1].astype(np.int64), bounds[1:].astype(np.int64)
            row_of = np.empty(total, dtype=np.intp)
            row_of[order] = np.arange(total)
            index._part = assign[order]
        else:
            row_of = np.arange(total)
            index._p_lo[0], index._p_hi[0] = 0, total
            index._part = np.zeros(total, dtype=np.int32)
        mat = np.empty((total, dimension), dtype=index._mat.dtype)
        scale = np.ones(total, dtype=np.float32)
        for at, rows in pieces():
            enc, sc = index._encode(rows)
            dest = at if cent is None else row_of[at]
            mat[dest], scale[dest] = enc, sc
            del enc
        index._mat, index._scale, index._hw = mat, scale, total
        index._hb_row = row_of
        return index

    def _encode(
        self, rows: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.float32]]:
        """Rows (any length) as unit vectors in the storage type, and the scale of each
        (int8: the unit vector is ``code * scale``; otherwise 1)."""
        if rows.shape[0] > _ENCODE_ROWS:  # pieces that stay in the CPU's cache: twice as fast
            codes = np.empty(rows.shape, dtype=self._mat.dtype)
            scales = np.empty(rows.shape[0], dtype=np.float32)
            for a in range(0, rows.shape[0], _ENCODE_ROWS):
                b = a + _ENCODE_ROWS
                codes[a:b], scales[a:b] = self._encode(rows[a:b])
            return codes, scales
        if self.storage == "int8":
            if not rows.size:
                return np.zeros(rows.shape, np.int8), np.ones(rows.shape[0], np.float32)
            peak = np.maximum(rows.max(axis=1), -rows.min(axis=1))
            norm = np.sqrt(np.einsum("ij,ij->i", rows, rows))
            ok = peak > 0
            mult = np.divide(127.0, peak, out=np.zeros_like(peak), where=ok)
            codes = rows * mult[:, None]
            np.rint(codes, out=codes)
            scale = np.divide(peak, 127.0 * norm, out=np.ones_like(peak), where=ok)
            return codes.astype(np.int8), scale.astype(np.float32)
        return _normalised(rows).astype(self._mat.dtype, copy=False), np.ones(
            rows.shape[0], np.float32
        )

    def _decode(self, row: int) -> npt.NDArray[np.float32]:
        """Row ``row`` as a float32 vector (a copy)."""
        v = self._block(row, row + 1)[0].astype(np.float32)
        if self.storage == "int8":
            v *= self._scale[row]
        return v

    def _dots(self, lo: int, hi: int, q: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Cosines of rows ``lo:hi`` to the unit query (converted to float32 block by block)."""
        span = _CHUNK * 16
        if self.storage == "float32":
            if isinstance(self._mat, np.ndarray) or hi - lo <= span:
                out: npt.NDArray[np.float32] = self._block(lo, hi) @ q
                return out
            # Read from a snapshot's file: a span at a time, not the whole matrix at once
            # (spans aligned on whole chunks: the same products as one call).
            out = np.empty(hi - lo, dtype=np.float32)
            for s in range(lo, hi, span):
                e = min(hi, s + span)
                out[s - lo : e - lo] = self._block(s, e) @ q
            return out
        out = np.empty(hi - lo, dtype=np.float32)
        # Rows fetched a span of chunks at a time (one read when the matrix is a snapshot's
        # file), converted a chunk at a time.
        for s in range(lo, hi, span):
            rows = self._block(s, min(hi, s + span))
            for a in range(s, min(hi, s + span), _CHUNK):
                b = min(hi, a + _CHUNK)
                out[a - lo : b - lo] = rows[a - s : b - s].astype(np.float32) @ q
        if self.storage == "int8":
            out *= self._scale[lo:hi]
        return out

    def _dots_at(
        self, rows: npt.NDArray[np.intp], q: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """Cosines of the rows numbered ``rows`` to the unit query."""
        blk = self._take(rows)
        out: npt.NDArray[np.float32] = (
            blk if self.storage == "float32" else blk.astype(np.float32)
        ) @ q
        if self.storage == "int8":
            out *= self._scale[rows]
        return out

    @property
    def centroids(self) -> npt.NDArray[np.float32] | None:
        """The IVF centroids (``None`` in exact mode)."""
        return self._centroids

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, helper_id: object) -> bool:
        return helper_id in self._slot_of

    @property
    def n_rows(self) -> int:
        """Number of vectors held (expertise plus past helps)."""
        return self._hw - self._holes

    @property
    def n_slots(self) -> int:
        """Size of slot-indexed arrays (helpers plus free slots)."""
        return len(self._ids)

    def nbytes(self) -> int:
        """Bytes held in arrays by the vectors, their row data and the bulk columns."""
        arrays = [self._mat, self._tail, self._scale, self._own, self._kind, self._ref, self._part]
        cols = self._hb_ask.nbytes() + self._hb_text.nbytes()
        return int(sum(a.nbytes for a in arrays) + self._hb_time.nbytes + cols)

    def has_expertise(self) -> npt.NDArray[np.bool_]:
        """Per slot: whether the helper there has an expertise vector."""
        out = np.zeros(self.n_slots, dtype=bool)
        m = min(self.n_slots, self._exp_row.size)
        out[:m] = self._exp_row[:m] >= 0
        return out

    def helper_ids(self) -> list[str]:
        """Ids of all helpers, in slot order."""
        return [h for h in self._ids if h is not None]

    def slot(self, helper_id: str) -> int | None:
        """The slot of ``helper_id`` or ``None``."""
        return self._slot_of.get(helper_id)

    def id_at(self, slot: int) -> str:
        """The helper id in ``slot``."""
        hid = self._ids[slot]
        if hid is None:
            raise KeyError(slot)
        return hid

    def _helps(self, slot: int) -> list[_Help]:
        """Past helps of ``slot``: ask id, text, time, row."""
        over = self._ho.get(slot)
        if over is not None:
            return over
        if slot >= self._hb_ok.size or not self._hb_ok[slot]:
            return []
        lo, hi = int(self._hb_ptr[slot]), int(self._hb_ptr[slot + 1])
        out: list[_Help] = []
        for k in range(lo, hi):
            t = float(self._hb_time[k])
            at = None if math.isnan(t) else datetime.fromtimestamp(t, UTC)
            out.append((self._hb_ask[k], self._hb_text[k], at, int(self._hb_row[k])))
        return out

    def _n_helps(self, slot: int) -> int:
        over = self._ho.get(slot)
        if over is not None:
            return len(over)
        if slot >= self._hb_ok.size or not self._hb_ok[slot]:
            return 0
        return int(self._hb_ptr[slot + 1] - self._hb_ptr[slot])

    def _rows_of(self, slot: int) -> list[int]:
        """Row numbers of ``slot``: its expertise row (if any), then its past helps'."""
        exp = int(self._exp_row[slot]) if slot < self._exp_row.size else -1
        rows = [h[3] for h in self._ho[slot]] if slot in self._ho else []
        if slot not in self._ho and slot < self._hb_ok.size and self._hb_ok[slot]:
            rows = self._hb_row[self._hb_ptr[slot] : self._hb_ptr[slot + 1]].tolist()
        return ([exp] if exp >= 0 else []) + rows

    def _rows_of_many(self, slots: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
        """Row numbers of all of ``slots`` (array operations for those of the bulk build)."""
        n_base = self._hb_ok.size
        inb = slots < n_base
        base = slots[inb]
        base = base[self._hb_ok[base]]
        lo, hi = self._hb_ptr[base], self._hb_ptr[base + 1]
        lens = hi - lo
        starts = np.repeat(lo - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
        help_rows = self._hb_row[starts + np.arange(int(lens.sum()))]
        exp = self._exp_row[slots[slots < self._exp_row.size]]
        others = [r for s in slots.tolist() if s in self._ho for h in self._ho[s] for r in (h[3],)]
        return np.concatenate(
            [exp[exp >= 0], help_rows, np.asarray(others, dtype=np.int64)]
        ).astype(np.intp)

    def record(self, helper_id: str) -> HelperRecord:
        """The current record of ``helper_id`` (past helps included, vectors unit length)."""
        slot = self._slot_of[helper_id]
        exp = int(self._exp_row[slot]) if slot < self._exp_row.size else -1
        return HelperRecord(
            helper_id,
            self._decode(exp) if exp >= 0 else None,
            self._exp_text[slot],
            tuple(self.past_helps(slot)),
            self.facts_at(slot),
        )

    def past_help(self, slot: int, ref: int) -> PastHelp:
        """The ``ref``-th past help of the helper in ``slot``."""
        ask_id, text, at, row = self._helps(slot)[ref]
        return PastHelp(ask_id, self._decode(row), text, at)

    def past_helps(self, slot: int) -> Sequence[PastHelp]:
        """All past helps of the helper in ``slot``."""
        return [PastHelp(a, self._decode(r), t, at) for a, t, at, r in self._helps(slot)]

    def past_help_texts(self, slot: int) -> list[tuple[str, datetime | None]]:
        """Text and time of each past help of ``slot`` (as :meth:`past_helps`, in the same
        order), without decoding their vectors: what an explanation quotes."""
        return [(t, at) for _a, t, at, _r in self._helps(slot)]

    def latest_help_at(self, slot: int) -> datetime | None:
        """When ``slot``'s latest dated past help was (``None``: none dated), without making
        every past help's text and time."""
        if slot in self._ho or slot >= self._hb_ok.size or not self._hb_ok[slot]:
            times = [at for _text, at in self.past_help_texts(slot) if at is not None]
            return max(times) if times else None
        t = self._hb_time[int(self._hb_ptr[slot]) : int(self._hb_ptr[slot + 1])]
        t = t[~np.isnan(t)]
        return datetime.fromtimestamp(float(t.max()), UTC) if t.size else None

    def past_help_text(self, slot: int, ref: int) -> tuple[str, datetime | None]:
        """``past_help_texts(slot)[ref]`` without making the others (an explanation quotes
        one past help)."""
        over = self._ho.get(slot)
        if over is not None or ref < 0 or slot >= self._hb_ok.size or not self._hb_ok[slot]:
            return self.past_help_texts(slot)[ref]
        k = int(self._hb_ptr[slot]) + ref
        if k >= int(self._hb_ptr[slot + 1]):
            raise IndexError(ref)
        t = float(self._hb_time[k])
        return self._hb_text[k], None if math.isnan(t) else datetime.fromtimestamp(t, UTC)

    # --- changes --------------------------------------------------------------------------
    def apply(self, changes: Iterable[IndexChange]) -> int:
        """Apply changes newer than :attr:`generation`, in version order; returns how many."""
        applied = 0
        for ch in sorted(changes, key=lambda c: c.version):
            if ch.version <= self.generation:
                continue
            if isinstance(ch, UpsertHelper):
                self.upsert(ch.record)
            elif isinstance(ch, RemoveHelper):
                self.remove(ch.helper_id)
            elif ch.helper_id not in self._slot_of:
                pass  # a later change removed the helper, or it is not indexed: nothing to do
            elif isinstance(ch, UpdateFacts):
                self.update_facts(ch.helper_id, ch.facts)
            else:
                self.add_past_help(ch.helper_id, ch.help)
            self.generation = ch.version
            applied += 1
        return applied

    def upsert(self, record: HelperRecord) -> None:
        """Create or replace a helper."""
        self._upsert(record)

    def remove(self, helper_id: str) -> None:
        """Drop a helper (no-op when absent)."""
        slot = self._slot_of.pop(helper_id, None)
        if slot is None:
            return
        rows = self._rows_of(slot)
        if rows:
            self._own[rows] = -1
            self._holes += len(rows)
        if slot < self._exp_row.size:
            self._exp_row[slot] = -1
        if slot < self._hb_ok.size:
            self._hb_ok[slot] = False
        self._ho.pop(slot, None)
        self._facts[slot] = None
        self._exp_text[slot] = ""
        if not self._fcols_stale:
            self._fcols[:, slot] = np.nan
        self.bm25.remove(slot)
        self._ids[slot] = None
        self._free.append(slot)
        self.layout += 1
        if self._holes > max(4096, self._hw // 4):
            self._compact()
        self._invalidate()

    def update_facts(self, helper_id: str, facts: HelperFacts) -> None:
        """Replace a helper's facts."""
        self._set_facts(self._slot_of[helper_id], facts)
        self._invalidate(facts_only=True)

    def facts(self, helper_id: str) -> HelperFacts:
        """The facts held for ``helper_id``."""
        return self.facts_at(self._slot_of[helper_id])

    def facts_at(self, slot: int) -> HelperFacts:
        """The facts of the helper in ``slot``."""
        f = self._facts[slot]
        if f is None:
            raise KeyError(slot)
        return f

    def expertise_text_at(self, slot: int) -> str:
        """The stated expertise of the helper in ``slot`` (as indexed)."""
        return self._exp_text[slot]

    def _set_facts(self, slot: int, facts: HelperFacts) -> None:
        """Hold ``facts`` for ``slot`` (its fact columns too, when they are built)."""
        if len(self._fact_log) >= _FACT_LOG_MAX:  # a new epoch: who changed is not kept
            self._new_fact_epoch()
        else:
            before = self._fact_row(slot) if self._fcols_stale else self._fcols[:, slot].tolist()
            self._fact_log.append((slot, before))
        self._facts[slot] = facts
        if not self._fcols_stale:
            self._fcols[:, slot] = self._fact_row(slot)

    def _fact_row(self, slot: int) -> list[float]:
        """``slot``'s values of :data:`FACT_COLUMNS` (``NaN``: unknown or free slot)."""
        f = self._facts[slot]
        if f is None:
            return [math.nan] * len(FACT_COLUMNS)
        row = [math.nan if v is None else float(v) for v in _FACT_VALUES(f)]
        if f.helps_given is None:
            row[0] = float(self._n_helps(slot))
        return row

    def sync_facts(self, facts: Mapping[str, HelperFacts]) -> int:
        """Replace the facts of the indexed helpers in ``facts`` that differ; returns how many.

        Helpers absent from the index are ignored. Caches are dropped once, and only when
        something changed, so syncing unchanged facts before every ranking costs nothing.
        """
        changed = 0
        for helper_id, new in facts.items():
            slot = self._slot_of.get(helper_id)
            if slot is None:
                continue
            old = self._facts[slot]
            if old is not new and old != new:
                self._set_facts(slot, new)
                changed += 1
        if changed:
            self._invalidate(facts_only=True)
        return changed

    def add_past_help(self, helper_id: str, help_: PastHelp) -> None:
        """Append a past help to an existing helper (its vector, text and time)."""
        slot = self._slot_of[helper_id]
        vec = _checked(help_.vector, self.dimension)
        helps = self._helps(slot)
        if slot not in self._ho:  # out of the bulk columns: the helper's list from now on
            self._ho[slot] = helps
            self._hb_ok[slot] = False
        row = self._add_row(vec, slot, KIND_PAST, len(helps))
        helps.append((help_.ask_id, help_.text, help_.helped_at, row))
        self.bm25.add(slot, analyze(help_.text))
        if not self._fcols_stale:
            self._fcols[:, slot] = self._fact_row(slot)  # helps_given may count past helps
        self._invalidate()

    def _upsert(self, record: HelperRecord) -> None:
        # Validate every vector before changing anything: nothing is half-written.
        exp_vec = (
            None
            if record.expertise_vector is None
            else _checked(record.expertise_vector, self.dimension)
        )
        help_vecs = [_checked(h.vector, self.dimension) for h in record.past_helps]
        self.remove(record.helper_id)
        slot = self._free.pop() if self._free else len(self._ids)
        if slot == len(self._ids):
            self._ids.append(record.helper_id)
            self._facts.append(None)
            self._exp_text.append("")
            if self._fcols.shape[1] < len(self._ids):
                wider = np.full((len(FACT_COLUMNS), max(16, 2 * len(self._ids))), np.nan)
                wider[:, : self._fcols.shape[1]] = self._fcols
                self._fcols = wider
        else:
            self._ids[slot] = record.helper_id
        self._slot_of[record.helper_id] = slot
        self.layout += 1
        self._facts[slot] = record.facts
        self._exp_text[slot] = record.expertise_text
        if slot >= self._exp_row.size:
            grown = np.full(max(16, 2 * self._exp_row.size, slot + 1), -1, dtype=np.int64)
            grown[: self._exp_row.size] = self._exp_row
            self._exp_row = grown
        self._exp_row[slot] = -1
        helps: list[_Help] = []
        self._ho[slot] = helps
        tokens = analyze(record.expertise_text)
        if exp_vec is not None:
            self._exp_row[slot] = self._add_row(exp_vec, slot, KIND_EXPERTISE, -1)
        for h, vec in zip(record.past_helps, help_vecs, strict=True):
            row = self._add_row(vec, slot, KIND_PAST, len(helps))
            helps.append((h.ask_id, h.text, h.helped_at, row))
            tokens.extend(analyze(h.text))
        self.bm25.add(slot, tokens)
        if not self._fcols_stale:
            self._fcols[:, slot] = self._fact_row(slot)
        self._invalidate()

    def _add_row(self, vec: npt.NDArray[np.float32], slot: int, kind: int, ref: int) -> int:
        """Append one vector (normalised here) as a new row; its number. The vector goes to
        the tail (the base matrix is never written: it may be a memory-mapped snapshot)."""
        nb = self._mat.shape[0]
        if self._hw - nb == self._tail.shape[0]:
            cap = max(16, 2 * self._tail.shape[0])
            tail = np.zeros((cap, self.dimension), dtype=self._mat.dtype)
            tail[: self._hw - nb] = self._tail[: self._hw - nb]
            self._tail = tail
        if self._hw == self._own.shape[0]:
            cap = max(16, 2 * self._own.shape[0])
            for name in ("_scale", "_own", "_kind", "_ref", "_part"):
                old = getattr(self, name)
                arr = np.zeros(cap, dtype=old.dtype)
                arr[: self._hw] = old[: self._hw]
                setattr(self, name, arr)
        row = self._hw
        enc, scale = self._encode(vec[None, :])
        self._tail[row - nb], self._scale[row] = enc[0], scale[0]
        self._own[row], self._kind[row], self._ref[row] = slot, kind, ref
        part = 0 if self._centroids is None else int(np.argmax(self._centroids @ vec))
        self._part[row] = part
        if self._centroids is not None:
            self._p_extra[part].append(row)
        self._hw += 1
        if self._centroids is None:
            self._p_hi[0] = self._hw
        return row

    def adopt_rows(self, rows: Any, source: object) -> bool:
        """Hold the stored rows ``0:len(rows)`` as ``rows`` from now on (an array-like of the
        same rows, e.g. the snapshot file just written from this index: see
        :class:`~peerbot.services.file_rows.FileRows`) in place of the base matrix, when that
        is still ``source`` (no compaction renumbered the rows since) and ``rows`` covers it;
        rows of the tail that ``rows`` holds leave the tail. Whether it did (the old base is
        then freed once nothing else holds it)."""
        nb, n = self._mat.shape[0], int(rows.shape[0])
        if (
            self._mat is not source
            or not nb <= n <= self._hw
            or tuple(rows.shape[1:]) != (self.dimension,)
            or np.dtype(rows.dtype) != self._mat.dtype
        ):
            return False
        self._tail = self._tail[n - nb :].copy()
        self._mat = rows
        return True

    def _block(self, a: int, b: int) -> npt.NDArray[Any]:
        """Stored rows ``a:b`` (a view unless they span the base and the tail)."""
        nb = self._mat.shape[0]
        if b <= nb:
            return self._mat[a:b]
        if a >= nb:
            return self._tail[a - nb : b - nb]
        return np.concatenate([self._mat[a:nb], self._tail[: b - nb]])

    def _take(self, rows: npt.NDArray[np.intp]) -> npt.NDArray[Any]:
        """Stored rows numbered ``rows`` (a copy)."""
        nb = self._mat.shape[0]
        if not self._hw - nb or not rows.size or int(rows.max()) < nb:
            return self._mat[rows]
        out = np.empty((rows.size, self.dimension), dtype=self._mat.dtype)
        base = rows < nb
        out[base] = self._mat[rows[base]]
        out[~base] = self._tail[rows[~base] - nb]
        return out

    def _compact(self) -> None:
        """Drop the freed rows (renumbering the rest; partitions contiguous again)."""
        live = np.flatnonzero(self._own[: self._hw] >= 0)
        if self._centroids is not None:
            live = live[np.argsort(self._part[live], kind="stable")]
        new_of = np.full(self._hw, -1, dtype=np.int64)
        new_of[live] = np.arange(live.size)
        self._mat = self._take(live)
        self._tail = np.zeros((0, self.dimension), dtype=self._mat.dtype)
        for name in ("_scale", "_own", "_kind", "_ref", "_part"):
            setattr(self, name, getattr(self, name)[live])
        self._hw, self._holes = live.size, 0
        n_parts = self._p_lo.size
        bounds = np.searchsorted(self._part, np.arange(n_parts + 1))
        if self._centroids is None:
            bounds = np.array([0, live.size])
        self._p_lo, self._p_hi = bounds[:-1].astype(np.int64), bounds[1:].astype(np.int64)
        self._p_extra = [[] for _ in range(n_parts)]
        ok = self._exp_row >= 0
        self._exp_row[ok] = new_of[self._exp_row[ok]]
        self._hb_row = new_of[self._hb_row]  # rows of removed helpers: -1, never read
        for slot, helps in self._ho.items():
            self._ho[slot] = [(a, t, at, int(new_of[r])) for a, t, at, r in helps]

    def facts_mark(self) -> tuple[int, int]:
        """Where the journal of fact changes stands now (for :meth:`facts_changed_since`)."""
        return (self._fact_epoch, len(self._fact_log))

    def facts_changed_since(
        self, mark: tuple[int, int]
    ) -> tuple[npt.NDArray[np.intp], dict[str, npt.NDArray[np.float64]]] | None:
        """The slots whose facts were replaced since ``mark`` (a :meth:`facts_mark`), sorted,
        each once, and their values of :data:`FACT_COLUMNS` at ``mark`` (as
        :meth:`fact_columns` held them then: one entry per slot returned); ``None`` when more
        than facts changed since (rows, helpers added or removed, a load) or the journal of
        changes was cut: then anything may have changed."""
        epoch, pos = mark
        if epoch != self._fact_epoch or pos > len(self._fact_log):
            return None
        first: dict[int, list[float]] = {}
        for slot, before in self._fact_log[pos:]:
            first.setdefault(slot, before)
        slots = np.asarray(sorted(first), dtype=np.intp)
        rows = np.asarray([first[int(s)] for s in slots], dtype=np.float64)
        rows = rows.reshape(slots.size, len(FACT_COLUMNS))
        return slots, {name: rows[:, c].copy() for c, name in enumerate(FACT_COLUMNS)}

    def _new_fact_epoch(self) -> None:
        self._fact_epoch += 1
        self._fact_log = []

    def _invalidate(self, *, facts_only: bool = False) -> None:
        """Drop derived values after a change (only the fact-dependent ones: ``facts_only``)."""
        self.revision += 1
        if facts_only:
            return
        self._new_fact_epoch()
        self._rows_revision += 1
        self._help_cache = None
        self._slots_cache = None
        self._recency_cache = {}

    def live(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.object_]]:
        """Slots in use and the slot-indexed array of helper ids (``None`` in free slots)."""
        if self._slots_cache is None:
            ids = np.empty(len(self._ids), dtype=object)
            ids[:] = self._ids
            live = np.fromiter((s for s, h in enumerate(self._ids) if h is not None), dtype=np.intp)
            self._slots_cache = (live, ids)
        return self._slots_cache

    def log_activity(self, timescale_days: float) -> tuple[float, npt.NDArray[np.float64]]:
        """``(t_ref, a)``: per slot ``a = log(sum_j exp(-(t_ref - t_j) / timescale))`` over dated
        past helps (POSIX seconds; ``-inf`` when none), so that at any later ``now`` the value
        is ``a - (now - t_ref) / timescale`` without touching every past help again."""
        cached = self._recency_cache.get(timescale_days)
        if cached is None:
            owners, times = self.help_times()
            dated = ~np.isnan(times)
            t_ref = float(times[dated].max()) if dated.any() else 0.0
            scale = max(timescale_days, 1e-9) * 86400.0
            acc = np.bincount(
                owners[dated],
                weights=np.exp((times[dated] - t_ref) / scale),
                minlength=self.n_slots,
            ).astype(np.float64)
            with np.errstate(divide="ignore"):
                cached = (t_ref, np.log(acc))
            self._recency_cache[timescale_days] = cached
        return cached

    # --- queries --------------------------------------------------------------------------
    def search(
        self,
        query: npt.ArrayLike,
        *,
        n_probe: int | None = None,
        also: npt.NDArray[np.intp] | None = None,
    ) -> Hits:
        """Cosine of ``query`` to the rows of the probed partitions (all rows in exact mode).

        IVF: the :attr:`shortlist` helpers with the best partial score from the probe, and the
        helpers in the slots ``also``, are then scored on *all* their rows, so none of them is
        judged on part of its history (exact search ignores ``also``: every row is scored).
        """
        with _one_blas_thread():
            return self._search(_unit(query, self.dimension), n_probe, also)

    def _search(
        self,
        q: npt.NDArray[np.float32],
        n_probe: int | None,
        also: npt.NDArray[np.intp] | None = None,
    ) -> Hits:
        if self._centroids is None:
            return self._hits(np.arange(self._hw), self._dots(0, self._hw, q))
        cs = self._centroids @ q
        k = min(n_probe or self.n_probe, cs.shape[0])
        probe = np.argpartition(-cs, k - 1)[:k] if k < cs.shape[0] else np.arange(cs.shape[0])
        rows_l, sims_l = [], []
        for p in probe.tolist():
            lo, hi = int(self._p_lo[p]), int(self._p_hi[p])
            if hi > lo:
                rows_l.append(np.arange(lo, hi))
                sims_l.append(self._dots(lo, hi, q))
            extra = self._p_extra[p]
            if extra:
                ex = np.asarray(extra, dtype=np.intp)
                rows_l.append(ex)
                sims_l.append(self._dots_at(ex, q))
        if not rows_l:
            rows_l, sims_l = [np.zeros(0, np.intp)], [np.zeros(0, np.float32)]
        rows = np.concatenate(rows_l)
        sims = np.concatenate(sims_l)
        if k >= cs.shape[0]:
            return self._hits(rows, sims)
        if self.shortlist <= 0 and (also is None or not also.size):
            return self._hits(rows, sims)
        return self._rescored(rows, sims, q, also)

    def _rescored(
        self,
        rows: npt.NDArray[np.intp],
        sims: npt.NDArray[np.float32],
        q: npt.NDArray[np.float32],
        also: npt.NDArray[np.intp] | None = None,
    ) -> Hits:
        """The probe's hits, with the best :attr:`shortlist` helpers (and those in the slots
        ``also``) scored on all their rows."""
        own = self._own[rows]
        keep = own >= 0
        rows, sims, own = rows[keep], sims[keep], own[keep]
        # Partial soft count per helper (the semantic-history aggregation's shape).
        partial = np.bincount(own, weights=np.exp(20.0 * (sims - 1.0)), minlength=self.n_slots)
        # (``!= 0``: the same slots; nonzero of a boolean array is ~15x faster than of floats)
        touched = np.flatnonzero(partial != 0) if self.shortlist > 0 else np.zeros(0, np.intp)
        if touched.size > self.shortlist:
            best = np.argpartition(-partial[touched], self.shortlist - 1)[: self.shortlist]
            touched = touched[best]
        short = np.zeros(self.n_slots, dtype=bool)
        parts_s = []
        tail = None
        if also is not None and also.size:
            a_slots, _a_rows, a_block, a_scale, tail = self._also_rows(also)
            short[a_slots] = True
            touched = touched[~short[touched]]
            parts_s.append(self._block_dots(a_block, a_scale, q))
        short[touched] = True
        all_rows = self._rows_of_many(touched)
        rest = ~short[own]
        return self._hits(
            np.concatenate([rows[rest], all_rows]),
            np.concatenate([sims[rest], self._dots_at(all_rows, q), *parts_s]),
            tail,
        )

    def _also_rows(self, also: npt.NDArray[np.intp]) -> _AlsoRows:
        """The live slots of ``also``, their rows, and a contiguous copy of those rows with
        their scales: kept until the index's rows change (the ranker passes the same helpers
        ask after ask, and gathering their scattered rows cost more than scoring them; a
        change of facts alone, after every offer, keeps them)."""
        key = (self._rows_revision, self._hw, hash(also.tobytes()))
        cached = self._also_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        wanted = np.asarray(also, dtype=np.intp)
        wanted = wanted[(wanted >= 0) & (wanted < self.n_slots)]
        mark = np.zeros(self.n_slots, dtype=bool)
        mark[wanted] = True
        slots = np.flatnonzero(mark)
        rows = np.sort(self._rows_of_many(slots))
        # A contiguous copy in the storage type (2,048 helpers: 8.6 MB of int8), converted a
        # chunk at a time at each ask: faster than products over a float32 copy (34 MB read).
        block = None
        if cached is not None and cached[0][:2] == key[:2] and cached[1][1].size:
            # The same rows, other helpers (a change of facts moved a few in or out of the
            # prior shortlist): the rows already copied are taken from the old copy (5x as
            # fast as from the whole matrix), only the others from the matrix.
            o_rows, o_block = cached[1][1], cached[1][2]
            pos = np.minimum(np.searchsorted(o_rows, rows), o_rows.size - 1)
            found = o_rows[pos] == rows
            block = np.empty((rows.size, self.dimension), dtype=o_block.dtype)
            block[found] = o_block[pos[found]]
            if not found.all():
                block[~found] = self._take(rows[~found])
        value = (
            slots,
            rows,
            block if block is not None else self._take(rows),
            self._scale[rows].copy(),
            (self._own[rows], self._kind[rows], self._ref[rows]),
        )
        self._also_cache = (key, value)
        return value

    def _block_dots(
        self, block: npt.NDArray[Any], scale: npt.NDArray[np.float32], q: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """Cosines to the unit query of the stored rows ``block`` (copies, with their
        ``scale``), converted to float32 a chunk at a time."""
        if self.storage == "float32":
            out: npt.NDArray[np.float32] = block @ q
            return out
        res = np.empty(block.shape[0], dtype=np.float32)
        for a in range(0, block.shape[0], _CHUNK):
            res[a : a + _CHUNK] = block[a : a + _CHUNK].astype(np.float32) @ q
        if self.storage == "int8":
            res *= scale
        return res

    def _hits(
        self,
        rows: npt.NDArray[np.intp],
        sims: npt.NDArray[np.float32],
        tail: tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]] | None = None,
    ) -> Hits:
        """Hits of ``rows`` (then of the rows whose (owner, kind, ref) are ``tail``, kept with
        their copy by :meth:`_also_rows`) scored ``sims``; rows of removed helpers left out."""
        own, kind, ref = self._own[rows], self._kind[rows], self._ref[rows]
        if tail is not None:
            t_own, t_kind, t_ref = tail
            own = np.concatenate([own, t_own])
            kind = np.concatenate([kind, t_kind])
            ref = np.concatenate([ref, t_ref])
        if self._holes:
            keep = own >= 0
            sims, own, kind, ref = sims[keep], own[keep], kind[keep], ref[keep]
        return Hits(sims.astype(np.float32, copy=False), own, kind, ref)

    def fact_columns(self) -> dict[str, npt.NDArray[np.float64]]:
        """Facts as slot-indexed float arrays (``NaN`` = unknown), keyed by the names of
        :data:`FACT_COLUMNS`. Views of columns kept current on every change: read them, do
        not keep them past the next change."""
        n = self.n_slots
        if self._fcols_stale:
            self._fcols = np.full((len(FACT_COLUMNS), n), np.nan)
            live = [s for s, f in enumerate(self._facts) if f is not None]
            if live:
                values = np.array(
                    [_FACT_VALUES(self._facts[s]) for s in live], dtype=object
                ).T  # None where unknown
                known = values != None  # noqa: E711 - elementwise
                for c in range(len(FACT_COLUMNS)):
                    col = np.full(len(live), np.nan)
                    col[known[c]] = values[c][known[c]].astype(np.float64)
                    self._fcols[c, live] = col
                unknown = np.asarray(live)[~known[0]]
                self._fcols[0, unknown] = [float(self._n_helps(int(s))) for s in unknown]
            self._fcols_stale = False
        return {name: self._fcols[c, :n] for c, name in enumerate(FACT_COLUMNS)}

    def help_times(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """Owner slot and POSIX time (``NaN`` when undated) of every past help."""
        if self._help_cache is None:
            n_base = self._hb_ok.size
            base_owner = np.repeat(np.arange(n_base, dtype=np.intp), np.diff(self._hb_ptr))
            ok = self._hb_ok[base_owner]
            owners: list[int] = []
            times: list[float] = []
            for slot, helps in self._ho.items():
                for h in helps:
                    owners.append(slot)
                    times.append(h[2].timestamp() if h[2] else math.nan)
            self._help_cache = (
                np.concatenate([base_owner[ok], np.asarray(owners, np.intp)]),
                np.concatenate([self._hb_time[ok], np.asarray(times, np.float64)]),
            )
        return self._help_cache

    def past_help_sums(
        self, since_row: int = 0, slots: npt.NDArray[np.intp] | None = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
        """Per slot, over the live past-help rows numbered ``since_row`` and above (of the
        ``slots`` given, or of all): the sum of their unit vectors, each component in units of
        ``1 / SUM_SCALE`` (integers: a sum is the same in whatever groups it is added), and how
        many there are; and the row number the next call may start from (rows are only
        appended between two changes of :attr:`layout`). For :mod:`peerbot.matching.profiles`
        (the ``semantic_profile`` signal)."""
        n, hw = self.n_slots, self._hw
        lo = min(max(since_row, 0), hw)
        live = (self._own[lo:hw] >= 0) & (self._kind[lo:hw] == KIND_PAST)
        if slots is not None:
            wanted = np.zeros(n + 1, dtype=bool)
            wanted[np.asarray(slots, dtype=np.intp)] = True
            live &= wanted[self._own[lo:hw]]
        rows = lo + np.flatnonzero(live)
        owners = self._own[rows]
        sums = np.zeros((n, self.dimension), dtype=np.int64)
        if not rows.size:  # nothing to add: every ranking asks whether rows were appended
            return sums, np.zeros(n, dtype=np.int64), hw
        if isinstance(self._mat, np.ndarray):
            # Rows in memory: taken in owner order (each helper's rows, scattered over the
            # partitions, summed within a block before one add per helper).
            by_owner = np.argsort(owners, kind="stable")
            rows, owners = rows[by_owner], owners[by_owner]
            sorted_blocks = True
        else:
            # Rows read from a file: blocks in row order (each a narrow range of the file,
            # read once), sorted by owner within the block.
            sorted_blocks = False
        # Each component times SUM_SCALE (for int8: code * (scale * SUM_SCALE), the same
        # float32 values as (code * scale) * SUM_SCALE: SUM_SCALE is a power of two), rounded;
        # integer sums are the same in whatever groups they are added.
        mult = (
            self._scale * np.float32(SUM_SCALE)
            if self.storage == "int8"
            else np.full(self._scale.shape, SUM_SCALE, np.float32)
        )
        step = _ENCODE_ROWS * 8
        for a in range(0, rows.size, step):
            r = rows[a : a + step]
            o = owners[a : a + step]
            if not sorted_blocks:
                order = np.argsort(o, kind="stable")
                r, o = r[order], o[order]
            block = np.multiply(self._take(r), mult[r][:, None], dtype=np.float32)
            np.rint(block, out=block)
            # int32: a block's sum per helper is at most ``step * SUM_SCALE`` (< 2**31).
            fixed = block.astype(np.int32)
            del block
            starts = np.flatnonzero(np.concatenate([[True], o[1:] != o[:-1]]))
            sums[o[starts]] += np.add.reduceat(fixed, starts, axis=0)
        counts = np.bincount(owners, minlength=n).astype(np.int64)[:n]
        return sums, counts, hw

    def past_help_marks(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
        """Per slot: how many live past-help rows it has and the highest of their numbers (-1:
        none); and the next row number. A helper replaced (new rows), given a help, or removed
        changes them, and so does a compaction (rows renumbered): what
        :mod:`peerbot.matching.profiles` compares to recompute only the helpers that changed."""
        n, hw = self.n_slots, self._hw
        rows = np.flatnonzero((self._own[:hw] >= 0) & (self._kind[:hw] == KIND_PAST))
        owners = self._own[rows]
        last = np.full(n, -1, dtype=np.int64)
        last[owners] = rows  # ascending rows: the last write per slot is its highest row
        return np.bincount(owners, minlength=n).astype(np.int64)[:n], last, hw

    # --- persistence ----------------------------------------------------------------------
    def export_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Everything needed to rebuild this index without computing anything: large arrays
        (by name) and small JSON-able values. Arrays that later changes write in place are
        copies; the others (never written, only replaced) are shared, so a caller may take
        the state under the index's lock and write it out after releasing it."""
        hw = self._hw
        nb = self._mat.shape[0]
        # hw < nb never holds (rows are appended to the tail); the whole base is passed as
        # it is (it may be read from a snapshot's file: not read here).
        mat = (
            self._mat
            if hw == nb
            else (self._mat[:hw] if hw < nb else (self._mat, self._tail[: hw - nb]))
        )
        ids = [h or "" for h in self._ids]
        free = [s for s, h in enumerate(self._ids) if h is None]
        ask_data, ask_ends = self._hb_ask.utf8()
        text_data, text_ends = self._hb_text.utf8()
        id_data, id_ends = _TextColumn(ids).utf8()
        exp_data, exp_ends = _TextColumn(self._exp_text).utf8()
        arrays: dict[str, Any] = {
            "mat": mat,
            "scale": self._scale[:hw].copy(),
            "own": self._own[:hw].copy(),
            "kind": self._kind[:hw].copy(),
            "ref": self._ref[:hw].copy(),
            "part": self._part[:hw].copy(),
            "p_lo": self._p_lo.copy(),
            "p_hi": self._p_hi.copy(),
            "exp_row": self._exp_row.copy(),
            "hb_ptr": self._hb_ptr,
            "hb_ok": self._hb_ok.copy(),
            "hb_time": self._hb_time,
            "hb_row": self._hb_row,
            "hb_ask_data": ask_data,
            "hb_ask_ends": ask_ends,
            "hb_text_data": text_data,
            "hb_text_ends": text_ends,
            "id_data": id_data,
            "id_ends": id_ends,
            "exp_data": exp_data,
            "exp_ends": exp_ends,
        }
        if self._centroids is not None:
            arrays["centroids"] = self._centroids
        bm25_arrays, bm25_meta = self.bm25.export_state()
        arrays.update({f"bm25_{k}": v for k, v in bm25_arrays.items()})
        meta = {
            "dimension": self.dimension,
            "model_name": self.model_name,
            "generation": self.generation,
            "n_probe": self.n_probe,
            "shortlist": self.shortlist,
            "storage": self.storage,
            "hw": hw,
            "holes": self._holes,
            "free": free,
            "p_extra": [list(p) for p in self._p_extra],
            "ho": [
                [slot, a, t, None if at is None else at.timestamp(), r]
                for slot, helps in self._ho.items()
                for a, t, at, r in helps
            ],
            "ho_slots": list(self._ho),
            "bm25": bm25_meta,
        }
        return arrays, meta

    @classmethod
    def from_state(cls, arrays: Mapping[str, Any], meta: Mapping[str, Any]) -> HelperIndex:
        """The index :meth:`export_state` described. ``arrays`` may be memory-mapped: the
        vector matrix is only read (rows added later go to a separate tail); the other arrays
        are written by later changes, so map them copy-on-write (``mmap_mode="c"``) or pass
        copies. Facts are empty (as after a build): the next ranking's snapshot brings them."""
        index = cls(
            int(meta["dimension"]),
            str(meta["model_name"]),
            centroids=arrays.get("centroids"),
            n_probe=int(meta["n_probe"]),
            storage=str(meta["storage"]),
            shortlist=int(meta["shortlist"]),
        )
        hw = int(meta["hw"])
        mat = arrays["mat"]
        if mat.shape != (hw, index.dimension) or mat.dtype != np.dtype(index.storage):
            raise ValueError("the vector matrix does not match the index's shape or storage")
        index.generation = int(meta["generation"])
        index._mat = mat
        index._tail = np.zeros((0, index.dimension), dtype=mat.dtype)
        for name in ("scale", "own", "kind", "ref", "part"):
            arr = arrays[name]
            if arr.shape != (hw,):
                raise ValueError(f"row column {name} has {arr.shape[0]} rows, not {hw}")
            setattr(index, f"_{name}", arr)
        index._hw, index._holes = hw, int(meta["holes"])
        index._p_lo, index._p_hi = arrays["p_lo"], arrays["p_hi"]
        index._p_extra = [list(map(int, p)) for p in meta["p_extra"]]
        if not index._p_lo.shape == index._p_hi.shape == (len(index._p_extra),):
            raise ValueError("partition bounds do not match the partitions")
        ids = _BytesColumn(arrays["id_data"], arrays["id_ends"]).items()
        free = set(map(int, meta["free"]))
        index._ids = [None if s in free else h for s, h in enumerate(ids)]
        index._free = sorted(free, reverse=True)
        index._slot_of = {h: s for s, h in enumerate(index._ids) if h is not None}
        index._facts = [None if h is None else HelperFacts() for h in index._ids]
        index._exp_text = _BytesColumn(arrays["exp_data"], arrays["exp_ends"]).items()
        index._fcols_stale = True
        index._exp_row = arrays["exp_row"]
        index._hb_ptr, index._hb_ok = arrays["hb_ptr"], arrays["hb_ok"]
        index._hb_time, index._hb_row = arrays["hb_time"], arrays["hb_row"]
        index._hb_ask = _BytesColumn(arrays["hb_ask_data"], arrays["hb_ask_ends"])
        index._hb_text = _BytesColumn(arrays["hb_text_data"], arrays["hb_text_ends"])
        if len(index._exp_text) != len(index._ids) or index._hb_ptr.size != index._hb_ok.size + 1:
            raise ValueError("per-helper columns of different lengths")
        ho: dict[int, list[_Help]] = {int(s): [] for s in meta["ho_slots"]}
        for slot, a, t, at, r in meta["ho"]:
            when = None if at is None else datetime.fromtimestamp(at, UTC)
            ho[int(slot)].append((str(a), str(t), when, int(r)))
        index._ho = ho
        prefix = "bm25_"
        index.bm25 = BM25Index.from_state(
            {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)},
            meta["bm25"],
        )
        index.layout += 1
        index._invalidate()
        return index


def release_free_memory() -> None:
    """Give memory freed by a build's inputs back to the operating system (glibc's
    ``malloc_trim``; a no-op elsewhere). Call it once the records a build read are dropped:
    at 100,000 helpers it took the process's RSS down by several hundred MB."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass
