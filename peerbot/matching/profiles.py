"""The ``semantic_profile`` signal: how close an ask is to a helper's past helps *as a whole*.

``semantic_history`` is a soft count of the past asks close to this one: it grows with every
similar help, so it favours the prolific. ``semantic_profile`` is the cosine of the ask to the
mean of the unit vectors of everything the helper helped on (their profile's centroid, the
"candidate model" of expert finding, where ``semantic_history`` is the "document model"): a
specialist whose helps all sit near the ask scores high even with few of them, a generalist
with many helps spread over other subjects does not. Only the helps already in the index count,
so an ask never sees its own outcome or anything later.

The centroids are kept beside each :class:`~peerbot.matching.index.HelperIndex` (as the topic
index is, see :mod:`peerbot.matching.topics`): per slot the sum of the past-help vectors and
their number, updated from the rows appended since the last look while the index's layout
stays the same; when it changes (a helper added, replaced or removed), only the helpers whose
past helps changed are summed again. The sums are integers (each component in units of
``1 / SUM_SCALE``; int32: a 100,000-helper workspace holds about 150 MB at 384 dimensions), so a
centroid kept up to date and one made afresh are exactly equal. Pure: no I/O.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from peerbot.matching.index import HelperIndex

FloatArray = npt.NDArray[np.float64]


@dataclass(slots=True)
class _Centroids:
    layout: int
    next_row: int
    #: Per slot, in units of ``1 / SUM_SCALE`` (int32: exact, so a sum kept up to date and
    #: one made afresh are equal; a helper would need 65,536 helps to overflow it).
    sums: npt.NDArray[np.int32]
    counts: npt.NDArray[np.int64]
    norms: npt.NDArray[np.float64]
    #: Per slot: the highest row number of its past helps when last seen (-1: none).
    last: npt.NDArray[np.int64]


_KEPT: weakref.WeakKeyDictionary[HelperIndex, _Centroids] = weakref.WeakKeyDictionary()
#: Rankings of one index may run in several threads at once; the update of its centroids is
#: the only write on that path (two updates from the same row would count those rows twice).
_LOCK = threading.Lock()


def _current(index: HelperIndex) -> _Centroids:
    """The centroids of ``index`` as it stands (updated or rebuilt as needed)."""
    with _LOCK:
        return _update(index)


def _norms(sums: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.float64]:
    s = sums.astype(np.float64)
    out: npt.NDArray[np.float64] = np.sqrt(np.einsum("ij,ij->i", s, s))
    return out


def _held(
    sums: npt.NDArray[np.integer[Any]], counts: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """``sums`` as kept (int32) and their norms, written only for the slots with a past help:
    the others stay zero pages the process never touched, so they take no memory (a
    provisional index, of the helpers' profiles alone, has no past help at all: at 100,000
    helpers its int32 sums would otherwise hold 150 MB of zeros)."""
    held = np.zeros(sums.shape, np.int32)
    norms = np.zeros(sums.shape[0], np.float64)
    has = np.flatnonzero(counts)
    if has.size:
        held[has] = sums[has]
        norms[has] = _norms(held[has])
    return held, norms


def _update(index: HelperIndex) -> _Centroids:
    """Bring the kept centroids of ``index`` up to date: the rows appended since the last look
    while the layout is the same; after a layout change, only the helpers whose past-help
    marks (count, highest row) moved are summed again; the first time, all of them."""
    kept = _KEPT.get(index)
    n = index.n_slots
    if kept is None:
        sums, counts, hw = index.past_help_sums(0)
        _, last, _ = index.past_help_marks()
        held, norms = _held(sums, counts)
        kept = _Centroids(index.layout, hw, held, counts, norms, last)
        _KEPT[index] = kept
        return kept
    if kept.sums.shape[0] < n:  # new slots: nothing known of them yet
        grow = n - kept.sums.shape[0]
        # Only the rows with past helps copied (see :func:`_held`).
        grown = np.zeros((n, kept.sums.shape[1]), np.int32)
        has = np.flatnonzero(kept.counts)
        grown[has] = kept.sums[has]
        kept.sums = grown
        kept.counts = np.concatenate([kept.counts, np.zeros(grow, np.int64)])
        kept.norms = np.concatenate([kept.norms, np.zeros(grow, np.float64)])
        kept.last = np.concatenate([kept.last, np.full(grow, -1, np.int64)])
    if kept.layout == index.layout:
        sums, counts, hw = index.past_help_sums(kept.next_row)
        if hw == kept.next_row:
            return kept
        touched = np.flatnonzero(counts)
        if touched.size:
            merged = kept.sums[touched] + sums[touched]
            kept.sums[touched] = merged.astype(np.int32)
            kept.counts[touched] += counts[touched]
            kept.norms[touched] = _norms(merged)
            _, last, _ = index.past_help_marks()
            kept.last[touched] = last[touched]
        kept.next_row = hw
        return kept
    counts_now, last_now, hw = index.past_help_marks()
    changed = np.flatnonzero((counts_now != kept.counts[:n]) | (last_now != kept.last[:n]))
    if changed.size:
        sums, counts, _ = index.past_help_sums(0, changed)
        kept.sums[changed] = sums[changed].astype(np.int32)
        kept.counts[changed] = counts[changed]
        kept.norms[changed] = _norms(sums[changed])
        kept.last[changed] = last_now[changed]
    kept.layout = index.layout
    kept.next_row = hw
    return kept


def profile_similarity(
    index: HelperIndex,
    query: npt.ArrayLike,
    among: npt.NDArray[np.intp] | None = None,
    floor: float | None = None,
) -> FloatArray:
    """Per slot of ``index``: the cosine of ``query`` to the mean of the helper's past-help
    vectors; ``NaN`` for a helper with no past help (nothing is known: the lowest value, see
    :func:`~peerbot.matching.scoring.standardise`).

    With a ``floor`` every value is at least ``floor``; with ``among`` (slots, repeats
    allowed) only those helpers are computed and every other helper with a past help has the
    floor (``NaN`` without one). The ranker passes the owners of the past helps its search
    found above the similarity floor: a helper none of whose helps is related to the ask is
    unrelated as a whole, in exact and in approximate (IVF) search alike (the IVF probe skips
    only rows far from the ask), and a ranking costs a product over the few related helpers,
    not over the workspace."""
    c = _current(index)
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(q))
    if norm > 0:
        q = q / norm
    n = c.sums.shape[0]
    known = (c.counts > 0) & (c.norms > 0)
    out = np.full(n, np.nan)
    if floor is not None:
        out[known] = floor
    wanted = known
    if among is not None:
        marked = np.zeros(n, dtype=bool)
        owners = np.asarray(among, dtype=np.intp)
        marked[owners[(owners >= 0) & (owners < n)]] = True
        wanted = known & marked
    slots = np.flatnonzero(wanted)
    if slots.size:
        # Only the helpers wanted are converted (the ranker asks for the few related ones).
        dots = c.sums[slots].astype(np.float32) @ q
        values = dots.astype(np.float64) / c.norms[slots]
        out[slots] = values if floor is None else np.maximum(values, floor)
    return out


def similar_share(
    index: HelperIndex, slot: int, query: npt.ArrayLike, threshold: float
) -> tuple[int, int, int]:
    """For the explanation: how many of the past helps in ``slot`` have a cosine of at least
    ``threshold`` to ``query``, how many there are, and the position of the closest (-1: none)."""
    helps = index.past_helps(slot)
    if not helps:
        return 0, 0, -1
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    sims = np.array([float(np.asarray(h.vector, dtype=np.float32) @ q) for h in helps])
    return int((sims >= threshold).sum()), len(helps), int(np.argmax(sims))


def warm(index: HelperIndex) -> None:
    """Bring the centroids of ``index`` up to date now (after a build or a load, in the
    background warm-up), so that the first ranking does not sum them (seconds at 100,000
    helpers)."""
    _current(index)


def export_state(
    index: HelperIndex,
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]] | None:
    """The kept centroids of ``index`` (copies) and their next row, for a snapshot of it
    (:mod:`peerbot.services.index_snapshot`); ``None`` when none are kept."""
    with _LOCK:
        kept = _KEPT.get(index)
        if kept is None:
            return None
        arrays: dict[str, npt.NDArray[Any]] = {
            "sums": kept.sums.copy(),
            "counts": kept.counts.copy(),
            "norms": kept.norms.copy(),
            "last": kept.last.copy(),
        }
        return arrays, {"next_row": kept.next_row}


def restore_state(
    index: HelperIndex, arrays: dict[str, npt.NDArray[Any]], meta: dict[str, Any]
) -> None:
    """Keep centroids :func:`export_state` wrote for ``index`` (read back with it from the
    same snapshot: rows numbered alike). Their layout is taken as unknown, so the first look
    compares every helper's past-help marks and sums again only those that differ."""
    sums, counts = arrays["sums"], arrays["counts"]
    norms, last = arrays["norms"], arrays["last"]
    if not (sums.shape[0] == counts.size == norms.size == last.size) or sums.dtype != np.int32:
        raise ValueError("the centroids do not match each other")
    with _LOCK:
        _KEPT[index] = _Centroids(-1, int(meta["next_row"]), sums, counts, norms, last)
