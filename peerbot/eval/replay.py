"""Load spreading and uncertainty for ``peerbot eval routing``.

:func:`replay` sends the asks in time order through the production path (the hard rules of
:mod:`peerbot.matching.rules`, then the ranker) with the state production would have: each
first offer is taken as accepted and occupies one unit of that helper's capacity for
``occupy_days``; the fairness signal sees the offers made in the last
:data:`~peerbot.services.matching.FAIRNESS_WINDOW`-long window so far. A helper at capacity is
not offered the ask, so the reciprocal rank of an ask whose answerers are all busy is 0 for
every ranker (:attr:`ReplayResult.all_busy` marks those asks: how much of a ranker's replayed
MRR its own earlier first offers cost).

:func:`bootstrap` gives 95% percentile intervals by resampling the asks (1,000 draws, fixed
seed); the load figures of a replay are resampled over its first offers (the replay itself is
not re-run per draw, so those intervals show how the figure varies with the asks, not with the
order of the replay). A resample repeats some asks and leaves others out, so it under-counts
distinct helpers and over-states concentration: those intervals can lie beside the point figure;
compare them across rankers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from peerbot.eval.metrics import all_metrics
from peerbot.matching.facts import Ask, Candidate, HelperFacts, Snapshot
from peerbot.matching.scoring import gini

#: As :data:`peerbot.services.matching.FAIRNESS_WINDOW` (not imported: eval stays below services).
FAIRNESS_WINDOW = timedelta(days=30)
#: A helper profile's default capacity (``HelperProfile.capacity``).
DEFAULT_CAPACITY = 2
DEFAULT_OCCUPY_DAYS = 7.0
BOOTSTRAP_DRAWS = 1000

#: ``rank(snapshot) -> candidate ids best first`` (only the eligible ones).
RankFn = Callable[[Snapshot], Sequence[str]]


@dataclass(frozen=True, slots=True)
class ReplayAsk:
    """One ask of the replay: when, the query, who is relevant."""

    at: datetime
    ask: Ask
    relevant: frozenset[str]


@dataclass
class ReplayResult:
    """Per-ask metrics of the replayed rankings and who got each first offer."""

    rows: list[dict[str, float]] = field(default_factory=list)
    firsts: list[str | None] = field(default_factory=list)
    #: Per ask: True when every relevant helper was at capacity (no ranking could score it).
    all_busy: list[bool] = field(default_factory=list)


def replay(
    asks: Sequence[ReplayAsk],
    candidates: Sequence[str],
    base_facts: Mapping[str, HelperFacts],
    rank: RankFn,
    *,
    capacity: int = DEFAULT_CAPACITY,
    occupy_days: float = DEFAULT_OCCUPY_DAYS,
    fairness_window: timedelta = FAIRNESS_WINDOW,
) -> ReplayResult:
    """Replay ``asks`` in time order through ``rank`` with capacity and fairness state.

    ``fairness_window``: how far back the offers made so far count in ``recent_offers``
    (production's window by default; another one only to measure a different policy, as
    ``benchmarks/replay_losses.py --fairness-window`` does)."""
    busy: dict[str, list[datetime]] = {c: [] for c in candidates}
    offers: dict[str, list[datetime]] = {c: [] for c in candidates}
    hold = timedelta(days=occupy_days)
    out = ReplayResult()
    for item in sorted(asks, key=lambda a: a.at):
        now = item.at
        at_capacity: set[str] = set()
        helpers = []
        for c in candidates:
            busy[c] = [t for t in busy[c] if t > now]
            recent = sum(1 for t in offers[c] if t > now - fairness_window)
            f = base_facts.get(c, HelperFacts())
            facts = HelperFacts(
                capacity_total=capacity,
                capacity_used=len(busy[c]),
                helps_given=f.helps_given,
                offers_received=len(offers[c]),
                offers_accepted=len(offers[c]),
                recent_offers=recent,
            )
            helpers.append(Candidate(0, c, None, facts))
            if len(busy[c]) >= capacity:
                at_capacity.add(c)
        ranking = list(rank(Snapshot(ask=item.ask, helpers=helpers)))
        out.rows.append(all_metrics(ranking, item.relevant))
        out.all_busy.append(bool(item.relevant) and item.relevant <= at_capacity)
        first = ranking[0] if ranking else None
        out.firsts.append(first)
        if first is not None:
            busy[first].append(now + hold)
            offers[first].append(now)
    return out


def load_figures(firsts: Sequence[str | None], n_candidates: int) -> dict[str, float]:
    """Distinct helpers with first offers, the largest share one got, and the Gini over all
    ``n_candidates`` (those never offered count as 0)."""
    counts = Counter(f for f in firsts if f is not None)
    total = sum(counts.values())
    values = list(counts.values()) + [0] * max(0, n_candidates - len(counts))
    return {
        "distinct_first_offers": float(len(counts)),
        "largest_share": (max(counts.values()) / total) if total else 0.0,
        "gini": gini(values),
    }


def paired_bootstrap(
    ours: Sequence[float],
    theirs: Sequence[float],
    *,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> dict[str, float | list[float]]:
    """The mean difference ``ours - theirs`` of a per-ask metric and its 95% percentile
    interval, both resampled over the *same* asks in each draw (the two rankers' figures on one
    ask are not independent: their separate intervals overlap even when one wins nearly every
    resample). ``share_above_zero``: the share of draws where ours is ahead."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("paired figures need one value per ask from each ranker")
    if a.size == 0:
        return {}
    diff = a - b
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(draws, diff.size))].mean(axis=1)
    return {
        "difference": float(diff.mean()),
        "interval": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
        "share_above_zero": float((means > 0).mean()),
    }


def ratio_bootstrap(
    ours: Sequence[float],
    theirs: Sequence[float],
    *,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> dict[str, float | list[float]]:
    """The ratio of the means ``mean(ours) / mean(theirs)`` of a per-ask metric (how the
    targets are stated: "1.35x BM25") and its 95% percentile interval, both means taken over the
    *same* resampled asks in each draw (as :func:`paired_bootstrap`; a draw whose ``theirs``
    mean is 0 is left out). Empty when there is nothing to divide by."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("paired figures need one value per ask from each ranker")
    if a.size == 0 or float(b.mean()) <= 0.0:
        return {}
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, a.size, size=(draws, a.size))
    num, den = a[picks].mean(axis=1), b[picks].mean(axis=1)
    ratios = num[den > 0] / den[den > 0]
    return {
        "ratio": float(a.mean() / b.mean()),
        "interval": [float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))],
    }


def bootstrap(
    rows: Sequence[Mapping[str, float]],
    firsts: Sequence[str | None] | None = None,
    n_candidates: int = 0,
    *,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> dict[str, list[float]]:
    """95% percentile intervals ``[low, high]`` of each metric's mean (and of the load figures
    when ``firsts`` are given), resampling the asks with replacement."""
    n = len(rows)
    if n == 0:
        return {}
    names = list(rows[0])
    mat = np.array([[r[m] for m in names] for r in rows], dtype=np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(draws, n))
    means = mat[picks].mean(axis=1)
    out = {
        m: [float(np.percentile(means[:, k], 2.5)), float(np.percentile(means[:, k], 97.5))]
        for k, m in enumerate(names)
    }
    if firsts is not None:
        samples: dict[str, list[float]] = {}
        for row in picks:
            for k, v in load_figures([firsts[i] for i in row], n_candidates).items():
                samples.setdefault(k, []).append(v)
        for k, vals in samples.items():
            out[k] = [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]
    return out
