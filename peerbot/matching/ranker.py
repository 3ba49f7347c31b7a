"""The hybrid ranker: signals from a :class:`HelperIndex`, combined by :mod:`.scoring`."""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np
import numpy.typing as npt

from peerbot.domain.topics import topic_label
from peerbot.matching.bm25 import analyze, surface_forms
from peerbot.matching.facts import Ask
from peerbot.matching.index import KIND_EXPERTISE, KIND_PAST, HelperIndex, Hits, _one_blas_thread
from peerbot.matching.profiles import profile_similarity, similar_share
from peerbot.matching.scoring import (
    MIN_SCALE,
    SIGNALS,
    RankerWeights,
    Scored,
    assemble,
    neighbours_signal,
    semantic_history_signal,
    smoothed_rating,
    standardise,
    top_reasons,
    topical_recency_signal,
    weighted_z,
    working_hours_overlap,
)
from peerbot.matching.topics import topics_of

_EXAMPLE_CHARS = 60


@dataclass(frozen=True, slots=True)
class RankedHelper:
    """One candidate in rank order, with the why.

    ``reasons`` are the names of the signals that contributed most (largest first) and
    ``explanation`` says them in words; ``contributions`` holds every active signal's share.
    """

    helper_id: str
    score: float
    contributions: dict[str, float]
    reasons: tuple[str, ...]
    explanation: str


@dataclass(frozen=True, slots=True)
class Scoring:
    """Everything computed for one ask: the scores and what is needed to explain them."""

    scored: Scored
    slots: npt.NDArray[np.intp]
    hits: Hits
    query_tokens: list[str]


class _SlotIds(Sequence[str]):
    """Helper ids of candidate slots, looked up only when read (100k gathers cost ms)."""

    def __init__(self, ids: npt.NDArray[np.object_], slots: npt.NDArray[np.intp]) -> None:
        self._ids = ids
        self._slots = slots

    def __len__(self) -> int:
        return int(self._slots.size)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [str(x) for x in self._ids[self._slots[i]]]
        return str(self._ids[self._slots[i]])


@dataclass(frozen=True, slots=True)
class _Static:
    """The ask-independent contributions for one candidate set (see :meth:`HybridRanker._static`)
    and what they were made from: the candidates' slots (a copy), the index's
    :meth:`~HelperIndex.facts_mark` then, the raw values over the candidates of the signals
    a change of facts moved (those the next change is likely to move again: an offer moves
    the same two) and (made when first needed) each slot's position among the candidates
    (``-1``: none)."""

    slots: npt.NDArray[np.intp]
    mark: tuple[int, int]
    result: dict[str, npt.NDArray[np.float64]]
    raw: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    position: list[npt.NDArray[np.intp]] = field(default_factory=list)
    #: Per signal, :func:`_column_stats` of its raw column (made when first needed).
    stats: dict[str, _ColumnStats] = field(default_factory=dict)

    def positions(self, n_slots: int) -> npt.NDArray[np.intp]:
        """Slot-indexed positions among the candidates (``-1``: not a candidate)."""
        if not self.position:
            pos = np.full(max(n_slots, int(self.slots.max(initial=-1)) + 1), -1, dtype=np.intp)
            pos[self.slots] = np.arange(self.slots.size, dtype=np.intp)
            self.position.append(pos)
        return self.position[0]


#: A raw column's NaN filled as :func:`standardise` fills them, the number of NaN, the lowest
#: known value and how many hold it, the mean, the sum of the deviations from it and of their
#: squares.
_ColumnStats = tuple[npt.NDArray[np.float64], int, float, int, float, float, float]


def _column_stats(x: npt.NDArray[np.float64]) -> _ColumnStats:
    """The sums :meth:`HybridRanker._static_subset` derives a subset's standardised values
    from (see :data:`_ColumnStats`)."""
    known = ~np.isnan(x)
    nan_count = int(x.size - np.count_nonzero(known))
    if nan_count == x.size:
        return x, nan_count, math.nan, 0, math.nan, math.nan, math.nan
    if nan_count:
        lo = float(x[known].min())
        filled = np.where(known, x, lo)
        lo_count = int(np.count_nonzero(x == lo))
    else:
        lo, filled, lo_count = math.nan, x, 0
    mean = float(np.add.reduce(filled) / filled.size)
    dev = filled - mean
    return (
        filled,
        nan_count,
        lo,
        lo_count,
        mean,
        float(np.add.reduce(dev)),
        float(np.add.reduce(dev * dev)),
    )


@dataclass(slots=True)
class _Caches:
    """What the rankers of one index keep between asks: the contributions that do not depend
    on the ask's text (:meth:`HybridRanker._static`: by candidate set, weights and asker's time
    zone; brought up to date after a change of facts), the ages of the past helps (by the
    index's revision) and the last prior shortlist."""

    static: dict[tuple[object, ...], _Static] = field(default_factory=dict)
    times: tuple[int, npt.NDArray[np.intp], npt.NDArray[np.float64]] | None = None
    prior: tuple[int, object, int, npt.NDArray[np.intp]] | None = None


#: Per index (dropped with it): production ranks each ask with a new :class:`HybridRanker`
#: (and learned weights of its own), which found nothing kept before (at 100,000 helpers the
#: ask-independent contributions alone cost ~10 ms to recompute).
_KEPT: weakref.WeakKeyDictionary[HelperIndex, _Caches] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _caches_of(index: HelperIndex) -> _Caches:
    with _CACHES_LOCK:
        kept = _KEPT.get(index)
        if kept is None:
            kept = _KEPT[index] = _Caches()
        return kept


def _quote(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _EXAMPLE_CHARS:
        text = text[: _EXAMPLE_CHARS - 1].rstrip() + "…"
    return f"'{text}'"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class HybridRanker:
    """Ranks the helpers of one :class:`HelperIndex` for an ask.

    Hard rules are not applied here: the caller passes the helper ids that survived them as
    ``allowed``. The asker is always left out.
    """

    def __init__(self, index: HelperIndex, weights: RankerWeights | None = None) -> None:
        self.index = index
        self.weights = weights or RankerWeights()
        #: Shared by every ranker of the index (production makes one per ask).
        self._caches = _caches_of(index)

    def _candidate_slots(
        self, ask: Ask, allowed: Collection[str] | None, excluded: Collection[str]
    ) -> npt.NDArray[np.intp]:
        idx = self.index
        drop = set(excluded)
        if ask.asker_id is not None:
            drop.add(ask.asker_id)
        if allowed is None:
            live, _ = idx.live()
            dropped = [s for s in (idx.slot(h) for h in drop) if s is not None]
            if not dropped:
                return live
            return live[~np.isin(live, np.asarray(dropped, dtype=np.intp))]
        slots = [
            s
            for s in (idx.slot(h) for h in dict.fromkeys(allowed) if h not in drop)
            if s is not None
        ]
        return np.asarray(slots, dtype=np.intp)

    def score(
        self,
        ask: Ask,
        allowed: Collection[str] | None = None,
        excluded: Collection[str] = (),
        *,
        slots: npt.NDArray[np.intp] | None = None,
        base: npt.NDArray[np.intp] | None = None,
    ) -> Scoring:
        """Score the candidates: the ``allowed`` ids (every helper when ``None``) present in the
        index, less the ``excluded`` ids and the asker. Hard rules are the caller's: pass the ids
        that passed them as ``allowed``, or, cheaper for big workspaces, the few that failed
        them as ``excluded``; or the candidates' index ``slots`` themselves (then ``allowed``
        and ``excluded`` are not read). ``base``: index slots of which the candidates are a few
        left out, in the same order (the helpers passing the ask-independent rules): their
        ask-independent contributions are kept and the candidates' derived from them
        (:meth:`_static_subset`), the same values a computation over the candidates gives.

        BLAS runs single-threaded meanwhile: the products here are small, and OpenBLAS's
        threads spin after each (at 100,000 helpers a ranking took 54 ms of CPU, 21 without).
        """
        with _one_blas_thread():
            return self._score(ask, allowed, excluded, slots, base)

    def _score(
        self,
        ask: Ask,
        allowed: Collection[str] | None,
        excluded: Collection[str],
        slots: npt.NDArray[np.intp] | None,
        base: npt.NDArray[np.intp] | None = None,
    ) -> Scoring:
        idx = self.index
        w = self.weights
        if slots is None:
            slots = self._candidate_slots(ask, allowed, excluded)
        n_slots = idx.n_slots
        static = self._static(slots, ask, base)
        hits = idx.search(ask.vector, also=self._prior(slots, static))
        signals: dict[str, npt.NDArray[np.float64]] = {}

        past = hits.kinds == KIND_PAST
        if w.semantic_history and past.any():
            per_slot = semantic_history_signal(
                hits.sims[past],
                hits.owners[past],
                n_slots,
                w.semantic_temperature,
                w.similarity_floor,
            )
            signals["semantic_history"] = per_slot[slots]
        if w.topical_recency and past.any():
            ages = self.hit_ages(hits.owners[past], hits.refs[past])
            per_slot = topical_recency_signal(
                hits.sims[past],
                hits.owners[past],
                ages,
                n_slots,
                w.semantic_temperature,
                w.recency_days,
                w.similarity_floor,
            )
            signals["topical_recency"] = per_slot[slots]
        if w.neighbours and past.any():
            votes, _top = self.neighbours_of(hits)
            signals["neighbours"] = votes[slots]
        expert = hits.kinds == KIND_EXPERTISE
        if w.semantic_expertise and expert.any():
            # Every stated expertise at least at the floor: one the search did not score is
            # worth what an unrelated one is (no expertise: NaN, the lowest known value).
            col = np.where(idx.has_expertise(), w.similarity_floor, np.nan)
            col[hits.owners[expert]] = np.maximum(hits.sims[expert], w.similarity_floor)
            signals["semantic_expertise"] = col[slots]

        tokens = analyze(ask.text)
        if w.lexical:
            signals["lexical"] = idx.bm25.score(tokens, n_slots)[slots]
        topic_index = topics_of(idx)
        if w.topic_history and ask.topics and topic_index is not None:
            by_topic = topic_index.scores(
                ask.topics, idx.slot, n_slots, w.recency_days, (id(idx), idx.layout)
            )
            signals["topic_history"] = by_topic[slots]
        if w.semantic_profile and past.any():
            related = past & (hits.sims > w.similarity_floor)
            signals["semantic_profile"] = profile_similarity(
                idx, ask.vector, hits.owners[related], w.similarity_floor
            )[slots]

        dynamic = weighted_z(signals, w, len(slots))
        contributions = {**static, **dynamic}
        ids = _SlotIds(idx.live()[1], slots)
        return Scoring(assemble(ids, contributions), slots, hits, tokens)

    def hit_ages(
        self, owners: npt.NDArray[np.intp], refs: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.float64]:
        """Age in days of past helps ``(owner slot, ref)`` before the latest dated help of the
        index (a common reference: only differences matter); undated ones count as the oldest."""
        idx = self.index
        cached = self._caches.times
        if cached is None or cached[0] != idx.revision:
            h_owners, h_times = idx.help_times()
            start = np.zeros(max(idx.n_slots, 1), dtype=np.intp)
            if h_owners.size:
                uniq, first = np.unique(h_owners, return_index=True)
                start[uniq] = first
            dated = ~np.isnan(h_times)
            if dated.any():
                ref = float(h_times[dated].max())
                oldest = float(h_times[dated].min())
                ages = (ref - np.where(dated, h_times, oldest)) / 86400.0
            else:
                ages = np.zeros(h_times.size)
            cached = (idx.revision, start, ages)
            self._caches.times = cached
        _rev, start, ages = cached
        if ages.size == 0:
            return np.zeros(owners.size)
        out: npt.NDArray[np.float64] = ages[start[owners] + refs]
        return out

    def _prior(
        self, slots: npt.NDArray[np.intp], static: dict[str, npt.NDArray[np.float64]]
    ) -> npt.NDArray[np.intp] | None:
        """IVF only: the slots of the :attr:`HelperIndex.prior_shortlist` candidates with the
        highest sum of the ``static`` contributions, for the search to score on all their
        rows (``None`` in exact search, which scores every row)."""
        idx = self.index
        k = idx.prior_shortlist
        if idx.centroids is None or k <= 0 or not static or not len(slots):
            return None
        key = id(static)
        cached = self._caches.prior
        if cached is not None and cached[0] == key and cached[1] is static and cached[2] == k:
            return cached[3]
        total = np.zeros(len(slots))
        for c in static.values():
            total += c
        # Sorted: the same helpers are the same shortlist to the search's copy of their rows
        # (argpartition's order moves whenever any total does, after every offer).
        top = np.sort(slots[np.argpartition(-total, k - 1)[:k]]) if k < total.size else slots
        self._caches.prior = (key, static, k, top)
        return top

    def _static(
        self,
        slots: npt.NDArray[np.intp],
        ask: Ask,
        base: npt.NDArray[np.intp] | None = None,
    ) -> dict[str, npt.NDArray[np.float64]]:
        """Contributions that do not depend on the ask's text (kept per candidate set).

        Recency is among them: moving ``now`` shifts every candidate's value by the same amount,
        which standardising removes. After a change of facts (every offer makes one) the kept
        contributions are brought up to date rather than made again: only the signals whose
        raw value changed for a changed candidate are standardised again, each over every
        candidate as :func:`weighted_z` does, so the result is the one a fresh computation
        gives (at 100,000 helpers: well under 1 ms for an offer, against ~6 ms made again).
        With a ``base`` (see :meth:`score`) the contributions are kept for it and the
        candidates' derived from them (:meth:`_static_subset`).
        """
        return self._static_entry(slots, ask, base).result

    def _static_entry(
        self,
        slots: npt.NDArray[np.intp],
        ask: Ask,
        base: npt.NDArray[np.intp] | None = None,
    ) -> _Static:
        """:meth:`_static`'s entry for the candidates ``slots`` (kept, brought up to date,
        derived from ``base``'s or made)."""
        idx = self.index
        w = self.weights
        # A cheap fingerprint of the candidates (hashing 100,000 slots' bytes took 0.3 ms),
        # the slots themselves compared on a hit.
        mark = (int(slots[0]), int(slots[-1]), int(np.add.reduce(slots))) if len(slots) else ()
        key = (len(slots), mark, ask.asker_utc_offset_minutes, w)
        now = idx.facts_mark()
        kept = self._caches.static.get(key)
        if kept is not None and not (kept.slots is slots or np.array_equal(kept.slots, slots)):
            kept = None
        if kept is not None and kept.mark == now:
            if base is slots:  # the most recently used: it must outlive other askers' entries
                self._touch(key, kept)
            return kept
        entry = None
        as_base = base is not None and base.size > slots.size
        if as_base:
            assert base is not None
            entry = self._static_subset(
                self._static_entry(base, ask, base), slots, ask.asker_utc_offset_minutes
            )
        if entry is None and kept is not None:
            changed = idx.facts_changed_since(kept.mark)
            if changed is not None:
                entry = self._static_updated(kept, changed, ask.asker_utc_offset_minutes, now)
        if entry is None:
            tz = ask.asker_utc_offset_minutes
            signals = self._static_signals(idx.fact_columns(), slots, slots, tz)
            # A base keeps every raw column: the candidates' values are derived from them.
            raw = signals if base is not None and base is slots else {}
            entry = _Static(slots.copy(), now, weighted_z(signals, w, len(slots)), raw)
        with _CACHES_LOCK:
            by_key = self._caches.static
            # Entries for the facts before a change are dropped (at 100,000 helpers each holds
            # ~8 MB): each other asker's candidates are another entry, seldom read again, and
            # an offer changes facts after every few asks.
            for stale in [k for k, v in by_key.items() if v.mark != now]:
                del by_key[stale]
            by_key.pop(key, None)
            while len(by_key) >= 8:
                by_key.pop(next(iter(by_key)))
            by_key[key] = entry
        return entry

    def _touch(self, key: tuple[object, ...], entry: _Static) -> None:
        """Move ``key`` to the end of the kept entries (the first are dropped first)."""
        with _CACHES_LOCK:
            by_key = self._caches.static
            if by_key.get(key) is entry and next(reversed(by_key)) != key:
                del by_key[key]
                by_key[key] = entry

    def _static_subset(
        self,
        base: _Static,
        slots: npt.NDArray[np.intp],
        asker_utc_offset_minutes: int | None,
    ) -> _Static | None:
        """The contributions of the candidates ``slots``, a few of ``base``'s candidates left
        out (in the same order; ``None`` otherwise), derived from ``base``'s raw columns.

        :func:`standardise` over the candidates, from the sums over the base less the left-out
        helpers' terms: the NaN are filled with the lowest known value (the same as the base's
        while a candidate holds it; computed again over the candidates otherwise), the mean
        and the standard deviation from the base's mean, sum of deviations and sum of squared
        deviations (the same to ~1e-15; computed again where the left-out helpers held nearly
        all the spread), the same minimum scale and weights.
        """
        n = slots.size
        if n == 0:
            return None
        idx = self.index
        w = self.weights
        pos_of = base.positions(idx.n_slots)
        if int(slots.max()) >= pos_of.size:
            return None
        pos = pos_of[slots]
        if pos[0] < 0 or not bool((np.diff(pos) > 0).all()) or bool((pos < 0).any()):
            return None
        out_mask = np.ones(base.slots.size, dtype=bool)
        out_mask[pos] = False
        out_pos = np.flatnonzero(out_mask)
        missing = [name for name in base.result if name not in base.raw]
        if missing:  # (a base kept before it was one)
            tz = asker_utc_offset_minutes
            facts = idx.fact_columns()
            base.raw.update(self._static_signals(facts, base.slots, base.slots, tz, only=missing))
        result: dict[str, npt.NDArray[np.float64]] = {}
        for name in base.result:
            x = base.raw[name]
            weight = w.weight(name)
            min_scale = MIN_SCALE.get(name, 0.0)
            stats = base.stats.get(name)
            if stats is None:
                stats = base.stats[name] = _column_stats(x)
            filled, nan_count, lo, lo_count, mean, dev_sum, dev_sq = stats
            xe = x[out_pos]
            nan_left = nan_count - int(np.count_nonzero(np.isnan(xe)))
            if nan_left == n:
                continue  # unknown for every candidate
            z: npt.NDArray[np.float64] | None = None
            fresh = nan_left > 0 and lo_count - int(np.count_nonzero(xe == lo)) == 0
            if not fresh:
                de = filled[out_pos] - mean
                d = float((dev_sum - np.add.reduce(de)) / n)
                sq = float(dev_sq - np.add.reduce(de * de)) - n * d * d
                fresh = not math.isfinite(sq) or sq < 1e-9 * dev_sq
                if not fresh:
                    sd = math.sqrt(max(sq, 0.0) / n)
                    if sd < 1e-12:
                        continue
                    z = filled[pos]  # a new array: the steps below in place (as fast as it goes)
                    z -= mean + d
                    z /= max(sd, min_scale)
                    z *= weight
                    result[name] = z
                    continue
            z = standardise(x[pos], min_scale)
            if z is not None:
                result[name] = weight * z
        return _Static(slots.copy(), base.mark, result)

    def _static_updated(
        self,
        kept: _Static,
        changed: tuple[npt.NDArray[np.intp], dict[str, npt.NDArray[np.float64]]],
        asker_utc_offset_minutes: int | None,
        now: tuple[int, int],
    ) -> _Static:
        """``kept`` brought up to date after the facts of the ``changed`` slots were replaced
        (``changed``: :meth:`HelperIndex.facts_changed_since` of ``kept.mark``)."""
        idx = self.index
        w = self.weights
        slots = kept.slots
        changed_slots, before = changed
        pos_of = kept.positions(idx.n_slots)
        inside = changed_slots < pos_of.size
        inside[inside] = pos_of[changed_slots[inside]] >= 0
        if not inside.any():  # no candidate's facts changed
            return _Static(slots, now, kept.result, kept.raw, kept.position)
        at = changed_slots[inside]
        old_cols = {name: col[inside] for name, col in before.items()}
        tz = asker_utc_offset_minutes
        facts = idx.fact_columns()
        new_raw = self._static_signals(facts, at, at, tz)
        old_raw = self._static_signals(old_cols, np.arange(at.size), at, tz)
        redo = [
            name
            for name, values in new_raw.items()
            if not np.array_equal(values, old_raw[name], equal_nan=True)
        ]
        # The raw values kept are current but where the changed candidates are (elementwise
        # signals: a candidate's value is the same computed alone or among all).
        raw = dict(kept.raw)
        for name in redo:
            if name in raw:
                raw[name] = raw[name].copy()
                raw[name][pos_of[at]] = new_raw[name]
        if not redo:
            return _Static(slots, now, kept.result, raw, kept.position)
        missing = [name for name in redo if name not in raw]
        if missing:
            raw.update(self._static_signals(facts, slots, slots, tz, only=missing))
        merged = dict(kept.result)
        for name in redo:
            merged.pop(name, None)
        merged.update(weighted_z({name: raw[name] for name in redo}, w, len(slots)))
        result = {name: merged[name] for name in SIGNALS if name in merged}
        return _Static(slots, now, result, raw, kept.position)

    def _static_signals(
        self,
        facts: Mapping[str, npt.NDArray[np.float64]],
        at: npt.NDArray[np.intp],
        slots: npt.NDArray[np.intp],
        asker_utc_offset_minutes: int | None,
        only: Collection[str] | None = None,
    ) -> dict[str, npt.NDArray[np.float64]]:
        """The raw ask-independent signals of the helpers in ``slots``, their facts read from
        the columns ``facts`` at ``at`` (the same slots in :meth:`HelperIndex.fact_columns`);
        the time zone's with an asker at ``asker_utc_offset_minutes`` (none when ``None``);
        only the signals named in ``only`` when given. Elementwise: a helper's values do not
        depend on who else is computed with it."""
        idx = self.index
        w = self.weights

        def want(name: str) -> bool:
            return only is None or name in only

        signals: dict[str, npt.NDArray[np.float64]] = {}
        if want("experience"):
            signals["experience"] = np.log1p(facts["helps_given"][at])
        if want("rating"):
            signals["rating"] = smoothed_rating(
                facts["rating_mean"][at], facts["rating_count"][at], w.rating_prior_count
            )
        if want("tenure"):
            signals["tenure"] = np.log1p(np.maximum(facts["years_managing"][at], 0.0))
        if w.recency and want("recency"):
            _t_ref, log_act = idx.log_activity(w.recency_days)
            act = log_act[slots]
            signals["recency"] = np.where(np.isfinite(act), act, np.nan)
        if want("capacity"):
            total = facts["capacity_total"][at]
            used = facts["capacity_used"][at]
            with np.errstate(invalid="ignore", divide="ignore"):
                signals["capacity"] = np.where(total > 0, (total - used) / total, np.nan)
        if asker_utc_offset_minutes is not None and want("timezone"):
            signals["timezone"] = working_hours_overlap(
                asker_utc_offset_minutes, facts["utc_offset_minutes"][at]
            )
        if want("acceptance"):
            received = facts["offers_received"][at]
            accepted = facts["offers_accepted"][at]
            with np.errstate(invalid="ignore", divide="ignore"):
                signals["acceptance"] = np.where(
                    received > 0, (accepted + 1.0) / (received + 2.0), np.nan
                )
        if want("responsiveness"):
            signals["responsiveness"] = -np.log1p(np.maximum(facts["median_accept_hours"][at], 0))
        if want("fairness"):
            signals["fairness"] = -np.log1p(np.maximum(facts["recent_offers"][at], 0.0))
        return signals

    def rank(
        self,
        ask: Ask,
        allowed: Collection[str] | None = None,
        limit: int | None = 10,
        excluded: Collection[str] = (),
    ) -> list[RankedHelper]:
        """The best ``limit`` candidates (all when ``None``), best first, each explained.

        ``allowed`` and ``excluded`` are the hard-rule hook, as in :meth:`score`.
        """
        with _one_blas_thread():  # (as in :meth:`score`)
            scoring = self.score(ask, allowed, excluded)
            order = scoring.scored.order(limit)
            return [self._ranked(scoring, int(i), ask) for i in order]

    def explain(self, scoring: Scoring, pos: int, ask: Ask) -> RankedHelper:
        """The candidate at position ``pos`` of ``scoring``, with its reasons in words."""
        return self._ranked(scoring, pos, ask)

    def _ranked(self, scoring: Scoring, pos: int, ask: Ask) -> RankedHelper:
        scored = scoring.scored
        reasons = top_reasons(scored, pos)
        slot = int(scoring.slots[pos])
        phrases = [self.describe(name, slot, scoring, ask) for name in reasons]
        # Two signals can be described by the same true phrase; say it once.
        explanation = "; ".join(dict.fromkeys(p for p in phrases if p)) or (
            "Available and opted in to help"
        )
        explanation = explanation[0].upper() + explanation[1:]
        return RankedHelper(
            helper_id=scored.ids[pos],
            score=float(scored.score[pos]),
            contributions={k: float(v[pos]) for k, v in scored.contributions.items()},
            reasons=tuple(reasons),
            explanation=explanation,
        )

    # --- explanations ---------------------------------------------------------------------
    def similar_past_helps(self, slot: int, hits: Hits) -> tuple[int, list[tuple[float, int]]]:
        """(count at or above the similarity threshold, [(cos, past-help ref)] best first)."""
        mask = (hits.owners == slot) & (hits.kinds == KIND_PAST)
        pairs = sorted(
            zip(hits.sims[mask].tolist(), hits.refs[mask].tolist(), strict=True),
            key=lambda p: -p[0],
        )
        n = sum(1 for s, _ in pairs if s >= self.weights.similar_threshold)
        return n, [(float(s), int(r)) for s, r in pairs]

    def neighbours_of(self, hits: Hits) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
        """The ``neighbours`` votes per slot and the positions in ``hits`` of the past asks
        that voted (the ``neighbours_k`` most similar)."""
        past = np.flatnonzero(hits.kinds == KIND_PAST)
        owners = np.full(hits.owners.size, -1, dtype=np.intp)
        owners[past] = hits.owners[past]
        return neighbours_signal(
            hits.sims, owners, self.index.n_slots, int(self.weights.neighbours_k)
        )

    def _describe_topical_recency(self, slot: int, scoring: Scoring, ask: Ask) -> str:
        """The past help that adds most to ``topical_recency``: how close and how long ago."""
        hits = scoring.hits
        mask = np.flatnonzero((hits.owners == slot) & (hits.kinds == KIND_PAST))
        if mask.size == 0:
            return ""
        w = self.weights
        ages = self.hit_ages(hits.owners[mask], hits.refs[mask])
        terms = w.semantic_temperature * (hits.sims[mask].astype(np.float64) - 1.0) - ages / max(
            w.recency_days, 1e-9
        )
        best = int(mask[int(np.argmax(terms))])
        text, helped_at = self.index.past_help_text(slot, int(hits.refs[best]))
        example = _quote(text)
        close = float(hits.sims[best]) >= w.similar_threshold
        what = "a similar ask" if close else "a related ask"
        if helped_at is None:
            return f"helped on {what}: {example}"
        days = max(0, math.floor((ask.now - helped_at).total_seconds() / 86400))
        when = "today" if days == 0 else f"{_plural(days, 'day')} ago"
        return f"helped on {what} {when}: {example}"

    def _describe_topics(self, slot: int, ask: Ask) -> str:
        """The ask's topic that adds most to ``topic_history``: helps tagged with it, or the
        helper's profile listing it."""
        topic_index = topics_of(self.index)
        if topic_index is None:
            return ""
        evidence = topic_index.evidence(
            self.index.id_at(slot), ask.topics, self.weights.recency_days
        )
        if not evidence:
            return ""
        best = evidence[0]
        name = f"'{topic_label(best.topic)}'"
        if best.helps:
            return f"helped on {_plural(best.helps, 'ask')} about {name}"
        return f"lists {name} among their topics"

    def shared_terms(self, slot: int, tokens: Sequence[str], limit: int = 2) -> list[str]:
        """The query words that add most to ``slot``'s BM25 score (stopwords left out)."""
        contrib = self.index.bm25.term_contributions(tokens, slot)
        terms = [t for t in contrib if len(t) > 2]
        terms.sort(key=lambda t: (-contrib[t], t))
        return terms[:limit]

    def describe(self, signal: str, slot: int, scoring: Scoring, ask: Ask) -> str:
        """A short, true sentence about ``signal`` for the helper in ``slot``."""
        idx = self.index
        f = idx.facts_at(slot)
        if signal == "semantic_history":
            n, pairs = self.similar_past_helps(slot, scoring.hits)
            if not pairs:
                return ""
            example = _quote(idx.past_help_text(slot, pairs[0][1])[0])
            if n:
                return f"has helped on {_plural(n, 'similar ask')}, e.g. {example}"
            return f"closest past help: {example}"
        if signal == "topical_recency":
            return self._describe_topical_recency(slot, scoring, ask)
        if signal == "neighbours":
            _votes, top = self.neighbours_of(scoring.hits)
            mine = [int(i) for i in top if int(scoring.hits.owners[i]) == slot]
            if not mine:
                return ""
            k = int(top.size)
            best = max(mine, key=lambda i: float(scoring.hits.sims[i]))
            example = _quote(idx.past_help_text(slot, int(scoring.hits.refs[best]))[0])
            return f"helped on {len(mine)} of the {k} past asks closest to this one, e.g. {example}"
        if signal == "topic_history":
            return self._describe_topics(slot, ask)
        if signal == "semantic_profile":
            similar, total, best = similar_share(
                idx, slot, ask.vector, self.weights.similar_threshold
            )
            if not total:
                return ""
            example = _quote(idx.past_help_text(slot, best)[0])
            if similar:
                helps = _plural(total, "past help")
                verb = "was" if similar == 1 else "were"
                return f"{similar} of their {helps} {verb} on similar asks, e.g. {example}"
            return f"their past helps lean toward asks like this one, e.g. {example}"
        if signal == "semantic_expertise":
            surface = surface_forms(ask.text)
            expertise_terms = set(analyze(idx.expertise_text_at(slot)))
            words = [
                surface[t]
                for t in dict.fromkeys(scoring.query_tokens)
                if t in expertise_terms and len(t) > 2 and t in surface
            ][:2]
            if words:
                return "expertise mentions " + ", ".join(f"'{t}'" for t in words)
            return "stated expertise is close to this ask"
        if signal == "lexical":
            terms = self.shared_terms(slot, scoring.query_tokens)
            if not terms:
                return ""
            surface = surface_forms(ask.text)
            expertise_terms = set(analyze(idx.expertise_text_at(slot)))
            in_exp = [t for t in terms if t in expertise_terms]
            quoted = ", ".join(f"'{surface.get(t, t)}'" for t in terms)
            if in_exp and len(in_exp) == len(terms):
                return f"expertise mentions {quoted}"
            return f"past asks mention {quoted}"
        if signal == "experience":
            n = f.helps_given if f.helps_given is not None else len(idx.past_help_texts(slot))
            return f"has helped {_plural(n, 'time')}"
        if signal == "rating" and f.rating_mean is not None:
            return f"rated {f.rating_mean:.1f}/5 by {_plural(f.rating_count, 'person')}".replace(
                "persons", "people"
            )
        if signal == "tenure" and f.years_managing is not None:
            return f"{f.years_managing:g} years managing"
        if signal == "recency":
            latest = idx.latest_help_at(slot)
            if latest is None:
                return ""
            days = max(0, math.floor((ask.now - latest).total_seconds() / 86400))
            when = "today" if days == 0 else f"{_plural(days, 'day')} ago"
            return f"helped someone {when}"
        if signal == "capacity" and f.capacity_total is not None:
            left = f.capacity_total - (f.capacity_used or 0)
            return f"has room for {_plural(left, 'more ask')}"
        if (
            signal == "timezone"
            and f.utc_offset_minutes is not None
            and ask.asker_utc_offset_minutes is not None
        ):
            hours = float(
                working_hours_overlap(
                    ask.asker_utc_offset_minutes, np.array([f.utc_offset_minutes])
                )[0]
            )
            return f"shares {hours:g} working hours with you"
        if signal == "acceptance" and f.offers_received:
            return f"accepted {f.offers_accepted or 0} of {f.offers_received} offers"
        if signal == "responsiveness" and f.median_accept_hours is not None:
            return f"usually answers offers within {max(1, math.ceil(f.median_accept_hours))} h"
        if signal == "fairness" and f.recent_offers is not None:
            if f.recent_offers == 0:
                return "has not been asked lately"
            return f"only {_plural(f.recent_offers, 'offer')} lately"
        return ""
