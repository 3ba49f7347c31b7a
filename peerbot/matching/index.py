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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
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
KIND_EXPERTISE = 1


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


class _Partition:
    """Rows of one partition in growable contiguous arrays (capacity doubles when full)."""

    __slots__ = ("kinds", "mat", "n", "owners", "refs")

    def __init__(self, dim: int) -> None:
        self.n = 0
        self.mat = np.zeros((0, dim), dtype=np.float32)
        self.owners = np.zeros(0, dtype=np.intp)
        self.kinds = np.zeros(0, dtype=np.int8)
        self.refs = np.zeros(0, dtype=np.intp)

    def _grow(self) -> None:
        cap = max(16, 2 * self.mat.shape[0])
        mat = np.zeros((cap, self.mat.shape[1]), dtype=np.float32)
        mat[: self.n] = self.mat[: self.n]
        self.mat = mat
        for name in ("owners", "kinds", "refs"):
            old = getattr(self, name)
            arr = np.zeros(cap, dtype=old.dtype)
            arr[: self.n] = old[: self.n]
            setattr(self, name, arr)

    def add(self, vec: npt.NDArray[np.float32], owner: int, kind: int, ref: int) -> None:
        if self.n == self.mat.shape[0]:
            self._grow()
        i = self.n
        self.mat[i] = vec
        self.owners[i] = owner
        self.kinds[i] = kind
        self.refs[i] = ref
        self.n += 1

    def drop_owner(self, owner: int) -> None:
        keep = np.flatnonzero(self.owners[: self.n] != owner)
        m = keep.size
        self.mat[:m] = self.mat[keep]
        self.owners[:m] = self.owners[keep]
        self.kinds[:m] = self.kinds[keep]
        self.refs[:m] = self.refs[keep]
        self.n = m

    def view(
        self,
    ) -> tuple[
        npt.NDArray[np.float32], npt.NDArray[np.intp], npt.NDArray[np.int8], npt.NDArray[np.intp]
    ]:
        n = self.n
        return self.mat[:n], self.owners[:n], self.kinds[:n], self.refs[:n]


@dataclass(frozen=True, slots=True)
class Hits:
    """Rows scored for one query: cosine, owning helper slot, kind, past-help position."""

    sims: npt.NDArray[np.float32]
    owners: npt.NDArray[np.intp]
    kinds: npt.NDArray[np.int8]
    refs: npt.NDArray[np.intp]


def _unit(vec: npt.ArrayLike, dim: int) -> npt.NDArray[np.float32]:
    v = np.asarray(vec, dtype=np.float32).reshape(-1)
    if v.shape[0] != dim:
        raise ValueError(f"vector has dimension {v.shape[0]}, index expects {dim}")
    n = math.sqrt(float(v @ v))
    return v / n if n > 0 else v


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
    """IVF partitions for ``rows`` vectors: ``sqrt(rows) / 4`` between 64 and 1024.

    Assigning every row to its partition costs ``rows x lists x dimension``: at 1.1 million
    rows, 4 sqrt(rows) lists (the former default) took a minute, a quarter of sqrt(rows) a
    few seconds. Finer partitions did not raise the ranking's recall (``peerbot bench match``).
    """
    return int(min(1024, max(64, round(math.sqrt(rows) / 4))))


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
    for _ in range(iterations):
        assign = np.argmax(rows @ cent.T, axis=1)
        # Sum the rows of each centroid: sorted once, added by runs (np.add.at is slow).
        order = np.argsort(assign, kind="stable")
        ordered = assign[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        sums = np.zeros_like(cent)
        sums[ordered[starts]] = np.add.reduceat(rows[order], starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        empty = norms[:, 0] == 0
        sums[empty] = cent[empty]
        norms[empty] = 1.0
        cent = (sums / norms).astype(np.float32)
    return cent


class HelperIndex:
    """All helpers of one workspace, ready for :class:`~peerbot.matching.ranker.HybridRanker`."""

    def __init__(
        self,
        dimension: int,
        model_name: str = "",
        *,
        centroids: npt.NDArray[np.float32] | None = None,
        n_probe: int = 32,
    ) -> None:
        self.dimension = dimension
        self.model_name = model_name
        self.generation = 0
        #: Bumped on every in-memory change (caches of derived values key on it).
        self.revision = 0
        #: Bumped when helpers are added or removed (slots move); not when facts change.
        self.layout = 0
        self.n_probe = n_probe
        self._centroids = None if centroids is None else np.asarray(centroids, np.float32)
        n_parts = 1 if self._centroids is None else self._centroids.shape[0]
        self._parts = [_Partition(dimension) for _ in range(n_parts)]
        self._slot_of: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._free: list[int] = []
        self._records: dict[int, HelperRecord] = {}
        self._help_lists: dict[int, list[PastHelp]] = {}
        self._parts_of: dict[int, set[int]] = {}
        self.bm25 = BM25Index()
        self._facts_cache: dict[str, npt.NDArray[np.float64]] | None = None
        self._help_cache: tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]] | None = None
        self._slots_cache: tuple[npt.NDArray[np.intp], npt.NDArray[np.object_]] | None = None
        self._recency_cache: dict[float, tuple[float, npt.NDArray[np.float64]]] = {}

    # --- building -------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        records: Iterable[HelperRecord],
        dimension: int,
        model_name: str = "",
        *,
        exact_max_rows: int = 50_000,
        n_lists: int | None = None,
        n_probe: int = 32,
        centroids: npt.NDArray[np.float32] | None = None,
        generation: int = 0,
    ) -> HelperIndex:
        """An index of ``records``; IVF partitions when there are more than ``exact_max_rows`` rows.

        ``centroids`` reuses a trained partitioning (so a rebuild ranks like the index it
        replaces); otherwise they are trained here when needed, deterministically.
        """
        records = list(records)
        rows = sum(len(r.past_helps) + (r.expertise_vector is not None) for r in records)
        distinct = len({r.helper_id for r in records}) == len(records)
        if not distinct:  # later records replace earlier ones: upsert one by one
            if centroids is None and rows > exact_max_rows:
                mat = np.vstack(
                    [
                        _unit(v, dimension)
                        for r in records
                        for v in (
                            ([r.expertise_vector] if r.expertise_vector is not None else [])
                            + [h.vector for h in r.past_helps]
                        )
                    ]
                )
                lists = n_lists or default_lists(rows)
                centroids = train_centroids(mat, lists)
            index = cls(dimension, model_name, centroids=centroids, n_probe=n_probe)
            for r in records:
                index._upsert(r)
            index.generation = generation
            return index
        ivf = centroids is not None or rows > exact_max_rows
        index = cls._build_bulk(
            records, dimension, model_name, n_probe, centroids, n_lists if ivf else None, ivf
        )
        index.generation = generation
        return index

    @classmethod
    def _build_bulk(
        cls,
        records: list[HelperRecord],
        dimension: int,
        model_name: str,
        n_probe: int,
        centroids: npt.NDArray[np.float32] | None,
        n_lists: int | None,
        ivf: bool,
    ) -> HelperIndex:
        """:meth:`build` in bulk: one matrix normalised at once, rows sorted into their
        partitions with array operations, no row-by-row appends (distinct helper ids; the
        result is the same as upserting one by one)."""
        vecs: list[npt.ArrayLike] = []
        owners: list[int] = []
        kinds: list[int] = []
        refs: list[int] = []
        help_start: dict[int, int] = {}
        docs: list[list[str]] = []
        slot_of: dict[str, int] = {}
        ids: list[str | None] = []
        stored: dict[int, HelperRecord] = {}
        help_lists: dict[int, list[PastHelp]] = {}
        for slot, r in enumerate(records):
            ids.append(r.helper_id)
            slot_of[r.helper_id] = slot
            stored[slot] = HelperRecord(
                r.helper_id, r.expertise_vector, r.expertise_text, (), r.facts
            )
            helps = list(r.past_helps)
            help_lists[slot] = helps
            tokens = analyze(r.expertise_text)
            if r.expertise_vector is not None:
                vecs.append(r.expertise_vector)
                owners.append(slot)
                kinds.append(KIND_EXPERTISE)
                refs.append(-1)
            help_start[slot] = len(vecs)
            n = len(helps)
            if n:
                vecs.extend(h.vector for h in helps)
                owners.extend([slot] * n)
                kinds.extend([KIND_PAST] * n)
                refs.extend(range(n))
                for h in helps:
                    tokens.extend(analyze(h.text))
            docs.append(tokens)
        mat = np.zeros((0, dimension), dtype=np.float32)
        if vecs:
            try:
                mat = np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for v in vecs])
            except ValueError as err:
                raise ValueError(f"vectors of different dimensions: {err}") from err
            if mat.shape[1] != dimension:
                raise ValueError(f"vector has dimension {mat.shape[1]}, index expects {dimension}")
            norms = np.linalg.norm(mat, axis=1)
            np.divide(mat, norms[:, None], out=mat, where=norms[:, None] > 0)
        own = np.asarray(owners, dtype=np.intp)
        kin = np.asarray(kinds, dtype=np.int8)
        ref = np.asarray(refs, dtype=np.intp)
        if ivf and centroids is None:
            rows = mat.shape[0]
            lists = n_lists or default_lists(rows)
            centroids = train_centroids(mat, lists)
        index = cls(dimension, model_name, centroids=centroids, n_probe=n_probe)
        index._ids = ids
        index._slot_of = slot_of
        index._records = stored
        index._help_lists = help_lists
        for slot, tokens in enumerate(docs):
            index.bm25.add(slot, tokens)
        if centroids is None:
            part = index._parts[0]
            part.mat, part.owners, part.kinds, part.refs = mat, own, kin, ref
            part.n = mat.shape[0]
            with_rows = set(owners)
            index._parts_of = {s: ({0} if s in with_rows else set()) for s in range(len(ids))}
            held = mat
            row_of = np.arange(mat.shape[0])
        else:
            assign = _assign(mat, np.asarray(centroids, np.float32))
            order = np.argsort(assign, kind="stable")
            bounds = np.searchsorted(assign[order], np.arange(len(index._parts) + 1))
            # Rows live once, in partition order: past helps view their row there.
            held = mat[order]
            row_of = np.empty_like(order)
            row_of[order] = np.arange(order.size)
            for p, part in enumerate(index._parts):
                lo, hi = int(bounds[p]), int(bounds[p + 1])
                part.mat = held[lo:hi]
                part.owners = own[order[lo:hi]]
                part.kinds = kin[order[lo:hi]]
                part.refs = ref[order[lo:hi]]
                part.n = hi - lo
            index._parts_of = {s: set() for s in range(len(ids))}
            for s_, p_ in set(zip(own.tolist(), assign.tolist(), strict=True)):
                index._parts_of[s_].add(p_)
        del mat
        # Past helps keep a view of their row instead of their own copy (half the memory).
        for slot, first in help_start.items():
            helps = help_lists[slot]
            helps[:] = [
                PastHelp(h.ask_id, held[row_of[first + j]], h.text, h.helped_at)
                for j, h in enumerate(helps)
            ]
        index.layout += 1
        index._invalidate()
        return index

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
        return sum(p.n for p in self._parts)

    @property
    def n_slots(self) -> int:
        """Size of slot-indexed arrays (helpers plus free slots)."""
        return len(self._ids)

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

    def record(self, helper_id: str) -> HelperRecord:
        """The current record of ``helper_id`` (past helps included)."""
        slot = self._slot_of[helper_id]
        rec = self._records[slot]
        helps = tuple(self._help_lists[slot])
        return HelperRecord(
            rec.helper_id, rec.expertise_vector, rec.expertise_text, helps, rec.facts
        )

    def past_help(self, slot: int, ref: int) -> PastHelp:
        """The ``ref``-th past help of the helper in ``slot``."""
        return self._help_lists[slot][ref]

    def past_helps(self, slot: int) -> Sequence[PastHelp]:
        """All past helps of the helper in ``slot``."""
        return self._help_lists[slot]

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
        for p in self._parts_of.pop(slot, set()):
            self._parts[p].drop_owner(slot)
        self._records.pop(slot, None)
        self._help_lists.pop(slot, None)
        self.bm25.remove(slot)
        self._ids[slot] = None
        self._free.append(slot)
        self.layout += 1
        self._invalidate()

    def update_facts(self, helper_id: str, facts: HelperFacts) -> None:
        """Replace a helper's facts."""
        slot = self._slot_of[helper_id]
        rec = self._records[slot]
        self._records[slot] = HelperRecord(
            rec.helper_id, rec.expertise_vector, rec.expertise_text, (), facts
        )
        self._invalidate()

    def facts(self, helper_id: str) -> HelperFacts:
        """The facts held for ``helper_id``."""
        return self._records[self._slot_of[helper_id]].facts

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
            rec = self._records[slot]
            if rec.facts is not new and rec.facts != new:
                self._records[slot] = HelperRecord(
                    rec.helper_id, rec.expertise_vector, rec.expertise_text, (), new
                )
                changed += 1
        if changed:
            self._invalidate()
        return changed

    def add_past_help(self, helper_id: str, help_: PastHelp) -> None:
        """Append a past help to an existing helper (its vector, text and time)."""
        slot = self._slot_of[helper_id]
        helps = self._help_lists[slot]
        vec = _unit(help_.vector, self.dimension)
        helps.append(help_)
        self._add_row(vec, slot, KIND_PAST, len(helps) - 1)
        self.bm25.add(slot, analyze(help_.text))
        self._invalidate()

    def _upsert(self, record: HelperRecord, parts: Iterator[int] | None = None) -> None:
        # Validate every vector before changing anything: nothing is half-written.
        exp_vec = (
            None
            if record.expertise_vector is None
            else _unit(record.expertise_vector, self.dimension)
        )
        help_vecs = [_unit(h.vector, self.dimension) for h in record.past_helps]
        self.remove(record.helper_id)
        slot = self._free.pop() if self._free else len(self._ids)
        if slot == len(self._ids):
            self._ids.append(record.helper_id)
        else:
            self._ids[slot] = record.helper_id
        self._slot_of[record.helper_id] = slot
        self.layout += 1
        self._records[slot] = HelperRecord(
            record.helper_id, record.expertise_vector, record.expertise_text, (), record.facts
        )
        helps: list[PastHelp] = []
        self._help_lists[slot] = helps
        self._parts_of[slot] = set()
        tokens = analyze(record.expertise_text)
        if exp_vec is not None:
            self._add_row(exp_vec, slot, KIND_EXPERTISE, -1, _next(parts))
        for h, vec in zip(record.past_helps, help_vecs, strict=True):
            helps.append(h)
            self._add_row(vec, slot, KIND_PAST, len(helps) - 1, _next(parts))
            tokens.extend(analyze(h.text))
        self.bm25.add(slot, tokens)
        self._invalidate()

    def _add_row(
        self, vec: npt.NDArray[np.float32], slot: int, kind: int, ref: int, part: int | None = None
    ) -> None:
        if part is None:
            part = 0 if self._centroids is None else int(np.argmax(self._centroids @ vec))
        self._parts[part].add(vec, slot, kind, ref)
        self._parts_of[slot].add(part)

    def _invalidate(self) -> None:
        self.revision += 1
        self._facts_cache = None
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
    def search(self, query: npt.ArrayLike) -> Hits:
        """Cosine of ``query`` to the rows of the probed partitions (all rows in exact mode)."""
        with _one_blas_thread():
            return self._search(_unit(query, self.dimension))

    def _search(self, q: npt.NDArray[np.float32]) -> Hits:
        if self._centroids is None:
            probe: Sequence[int] = [0]
        else:
            cs = self._centroids @ q
            k = min(self.n_probe, cs.shape[0])
            probe = np.argpartition(-cs, k - 1)[:k].tolist()
        sims, owners, kinds, refs = [], [], [], []
        for p in probe:
            mat, own, kin, ref = self._parts[p].view()
            if own.size == 0:
                continue
            sims.append(mat @ q)
            owners.append(own)
            kinds.append(kin)
            refs.append(ref)
        if not sims:
            return Hits(
                np.zeros(0, np.float32),
                np.zeros(0, np.intp),
                np.zeros(0, np.int8),
                np.zeros(0, np.intp),
            )
        return Hits(
            np.concatenate(sims),
            np.concatenate(owners),
            np.concatenate(kinds),
            np.concatenate(refs),
        )

    def fact_columns(self) -> dict[str, npt.NDArray[np.float64]]:
        """Facts as slot-indexed float arrays (``NaN`` = unknown); cached until a change."""
        if self._facts_cache is not None:
            return self._facts_cache
        n = self.n_slots
        names = [
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
        ]
        cols = {name: np.full(n, np.nan) for name in names}
        for slot, rec in self._records.items():
            f = rec.facts
            for name in names:
                v = getattr(f, name)
                if v is not None:
                    cols[name][slot] = float(v)
            if f.helps_given is None:
                cols["helps_given"][slot] = float(len(self._help_lists[slot]))
        self._facts_cache = cols
        return cols

    def help_times(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """Owner slot and POSIX time (``NaN`` when undated) of every past help."""
        if self._help_cache is None:
            owners: list[int] = []
            times: list[float] = []
            for slot, helps in self._help_lists.items():
                for h in helps:
                    owners.append(slot)
                    times.append(h.helped_at.timestamp() if h.helped_at else math.nan)
            self._help_cache = (np.asarray(owners, np.intp), np.asarray(times, np.float64))
        return self._help_cache
