"""Scoring of helpers: signals in, one score per candidate and the reasons for it out.

Pure: no I/O, no clock (``now`` is passed in), numpy only.

How a score is made
-------------------
Each *signal* is one number per candidate (``NaN`` where it is unknown for that candidate). Over the
candidates allowed for this ask, each signal is standardised (z-score); unknown values take the
lowest known value of that signal (knowing nothing is not a merit), and a signal that is unknown
for everybody, or the same for everybody, contributes 0. The score is ``sum(weight * z)``, so the
contribution of each signal to a candidate's score is explicit, and the explanation of an offer
names only the signals that contributed most to it (see :func:`top_reasons`).

Signals (all "higher is better"):

``semantic_history``
    ``log(exp(-T) + sum_j exp(T * (cos_j - 1)))`` over the asks the helper helped on before, with
    ``T = semantic_temperature``: a soft count of similar past asks (close ones dominate; many
    moderately close ones add up), aggregated per helper from per-ask similarities.
``semantic_expertise``
    Cosine similarity of the ask to the helper's stated expertise, at least ``similarity_floor``.

Similarities at or below ``similarity_floor`` are unrelated: they add nothing to the semantic
signals (``semantic_history``, ``topical_recency``: each past ask adds
``max(0, exp(T * (cos - 1)) - exp(T * (floor - 1)))``, continuous at the floor). The approximate
(IVF) search scores only rows near the ask; a helper none of whose rows it scored has exactly
the value of a helper with nothing above the floor in exact search, so both searches give the
standardisation the same values and rank alike (``peerbot bench match`` prints the recall@10).
``lexical``
    BM25 of the ask against one document per helper (expertise text plus past asks).
``experience``
    ``log1p(helps given)``.
``rating``
    Mean rating received, shrunk toward the neutral middle by a prior of ``rating_prior_count``.
``tenure``
    ``log1p(years managing)``.
``recency``
    ``log(sum_j exp(-age_j / recency_days))`` over past helps: recent, steady activity.
``capacity``
    Share of the helper's capacity still free.
``timezone``
    Working hours shared with the asker (09:00-17:00 local on both sides).
``acceptance``
    Smoothed share of offers accepted before.
``responsiveness``
    ``-log1p(median hours to accept)``.
``fairness``
    ``-log1p(offers received in the fairness window)``: spreads offers over helpers.
``topical_recency``
    ``log(sum_j exp(T * (cos_j - 1)) * exp(-age_j / recency_days))``: similar asks helped on
    *lately* (people drift between topics and go quiet; a recent similar help says most).
``neighbours``
    Votes of the ``neighbours_k`` past asks most similar to this one (over every helper's past
    helps): ``sum`` of their cosine, to each one's helper. Relative to the other helpers' past
    asks, where ``semantic_history`` is absolute.
``semantic_profile``
    Cosine of the ask to the mean of the helper's past-help vectors (see
    :mod:`peerbot.matching.profiles`): what they help on as a whole, not how often. At least
    ``similarity_floor``, and exactly that for a helper none of whose past helps is above it
    (so exact and IVF search agree, as for ``semantic_history``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

SIGNALS: tuple[str, ...] = (
    "semantic_history",
    "semantic_expertise",
    "lexical",
    "experience",
    "rating",
    "tenure",
    "recency",
    "capacity",
    "timezone",
    "acceptance",
    "responsiveness",
    "fairness",
    "topical_recency",
    "neighbours",
    "topic_history",
    "semantic_profile",
)


@dataclass(frozen=True, slots=True)
class RankerWeights:
    """Weights of each signal and the few shape parameters of the ranker.

    Defaults were chosen by measurement on the routing data (see ``peerbot eval routing``) for the
    signals that data carries (semantic_history, lexical, experience, recency); the capacity and
    fairness weights were measured in its replay with capacity (replayed MRR and distinct first
    offers); the rating, time-zone and acceptance weights cannot be measured there and are set
    so that they re-order close candidates without overriding a clearly better topical match.
    """

    semantic_history: float = 1.0
    semantic_expertise: float = 0.75
    lexical: float = 1.0
    experience: float = 0.1
    rating: float = 0.25
    tenure: float = 0.1
    recency: float = 3.0
    #: A policy term, never learned (see ``POLICY_SIGNALS`` of :mod:`peerbot.matching.learned`).
    #: Measured in the replay of ``peerbot eval routing`` (capacity and occupancy as production
    #: has them): preferring the helper with room over the one an offer would fill up keeps
    #: the busiest experts free for the asks only they can answer (replayed MRR dba 0.197 ->
    #: 0.212, android 0.252 -> 0.257 at 1.0, ahead at every occupancy from 6 to 8 days on
    #: dba; on dba 2.0 and 3.0 spread offers more but rank worse: 0.202 and 0.174).
    capacity: float = 1.0
    timezone: float = 0.25
    acceptance: float = 0.25
    responsiveness: float = 0.1
    fairness: float = 1.5
    topical_recency: float = 0.0
    neighbours: float = 0.0
    topic_history: float = 0.5
    semantic_profile: float = 0.5
    #: Sharpness of the per-ask similarity aggregation (higher: only close past asks count).
    semantic_temperature: float = 20.0
    #: Cosine at and below which a vector is unrelated to the ask: it adds nothing to the
    #: semantic signals (see :func:`semantic_history_signal`). The approximate (IVF) search
    #: scores only some rows; with the floor, a helper whose rows it skipped has exactly the
    #: value an unrelated helper has in exact search, so both rank alike.
    similarity_floor: float = 0.2
    #: Time constant of the activity decay, in days.
    recency_days: float = 30.0
    #: Cosine similarity from which a past ask is called "similar" in explanations.
    similar_threshold: float = 0.5
    #: Pseudo-count of neutral ratings mixed into each helper's mean rating.
    rating_prior_count: float = 3.0
    #: How many of the most similar past asks vote in ``neighbours``.
    neighbours_k: float = 50.0

    def weight(self, signal: str) -> float:
        """The weight of ``signal`` (0 for an unknown name)."""
        if signal not in SIGNALS:
            return 0.0
        return float(getattr(self, signal))

    @classmethod
    def from_mapping(cls, values: Mapping[str, float]) -> RankerWeights:
        """Build from a mapping of field name to value (unknown names raise ``ValueError``)."""
        names = {f.name for f in fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown ranker weight(s): {', '.join(sorted(unknown))}")
        return cls(**{k: float(v) for k, v in values.items()})


@dataclass(frozen=True, slots=True)
class Scored:
    """Scores of candidates for one ask.

    ``contributions[name][i]`` is ``weight * z`` of signal ``name`` for candidate ``i``; ``score``
    is their sum. ``active`` lists the signals that carried information for this ask.
    """

    ids: Sequence[str] | npt.NDArray[np.object_]
    score: FloatArray
    contributions: dict[str, FloatArray]
    active: tuple[str, ...] = field(default=())

    def order(self, limit: int | None = None) -> npt.NDArray[np.intp]:
        """Candidate positions, best first (ties keep input order); the first ``limit`` only."""
        neg = -self.score
        if limit is None or limit >= neg.size:
            return np.argsort(neg, kind="stable")
        if limit <= 0:
            return np.zeros(0, dtype=np.intp)
        kth = np.partition(neg, limit - 1)[limit - 1]
        head = np.flatnonzero(neg <= kth)
        head = head[np.argsort(neg[head], kind="stable")]
        return head[:limit]


#: The smallest spread of each signal that counts as a real difference. Over many candidates the
#: standard deviation is larger and these do nothing; over two or three, they stop a trivial
#: difference (helped 5 days ago rather than 6) from being blown up to a whole standard deviation.
MIN_SCALE: dict[str, float] = {
    "semantic_history": 1.0,  # about 0.05 of cosine at the default temperature
    "semantic_expertise": 0.05,  # cosine
    "lexical": 1.0,  # about one matching term
    "experience": 0.5,  # log1p(helps)
    "rating": 0.5,  # stars
    "tenure": 0.5,  # log1p(years)
    "recency": 0.5,  # log of decayed activity
    "capacity": 0.25,  # share of capacity free
    "timezone": 2.0,  # shared working hours
    "acceptance": 0.15,  # share of offers accepted
    "responsiveness": 0.5,  # log1p(hours to accept)
    "fairness": 0.5,  # log1p(recent offers)
    "topical_recency": 1.0,  # as semantic_history
    "neighbours": 0.25,  # about a quarter of one close past ask
    "topic_history": 0.5,  # one past help on a topic shared by a third of the helps
    "semantic_profile": 0.05,  # cosine
}


def standardise(values: FloatArray, min_scale: float = 0.0) -> FloatArray | None:
    """Z-score ``values``; ``NaN`` takes the lowest known value. ``None`` when uninformative.

    The divisor is at least ``min_scale`` (see :data:`MIN_SCALE`).
    """
    v = np.asarray(values, dtype=np.float64)
    total = np.add.reduce(v)
    if math.isfinite(total):  # the usual case: no NaN (nor inf) to fill: ``filled`` is ``v``
        filled = v
    else:
        known = ~np.isnan(v)
        if not known.any():
            return None
        if known.all():
            filled = v
        else:
            lo = float(v[known].min())
            filled = np.where(known, v, lo)
        total = np.add.reduce(filled)
    # ``filled.std()`` and ``filled - filled.mean()`` as numpy computes them (the same sums in
    # the same order, so the same values), the deviations computed once.
    n = filled.size
    if n == 0:
        return None
    dev = filled - float(total / n)
    sd = math.sqrt(float(np.add.reduce(dev * dev) / n))
    if not math.isfinite(sd) or sd < 1e-12:
        return None
    out: FloatArray = dev / max(sd, min_scale)
    return out


def weighted_z(
    signals: Mapping[str, FloatArray], weights: RankerWeights, n: int
) -> dict[str, FloatArray]:
    """``weight * z`` of each informative signal with a non-zero weight (see :func:`combine`)."""
    out: dict[str, FloatArray] = {}
    for name in SIGNALS:
        raw = signals.get(name)
        w = weights.weight(name)
        if raw is None or w == 0.0:
            continue
        if len(raw) != n:
            raise ValueError(f"signal {name!r} has {len(raw)} values for {n} candidates")
        z = standardise(np.asarray(raw, dtype=np.float64), MIN_SCALE.get(name, 0.0))
        if z is not None:
            out[name] = w * z
    return out


def assemble(
    ids: Sequence[str] | npt.NDArray[np.object_], contributions: Mapping[str, FloatArray]
) -> Scored:
    """Sum per-signal contributions (from :func:`weighted_z`) into a :class:`Scored`."""
    score = np.zeros(len(ids), dtype=np.float64)
    ordered = {name: contributions[name] for name in SIGNALS if name in contributions}
    for c in ordered.values():
        score += c
    return Scored(ids=ids, score=score, contributions=ordered, active=tuple(ordered))


def combine(
    ids: Sequence[str] | npt.NDArray[np.object_],
    signals: Mapping[str, FloatArray],
    weights: RankerWeights,
) -> Scored:
    """Standardise each signal over the candidates and add them up with ``weights``.

    Signals with weight 0, unknown for everyone, or constant, contribute 0, so absent data never
    breaks the ranking; with no informative signal at all every score is 0 (input order kept).
    """
    return assemble(ids, weighted_z(signals, weights, len(ids)))


def top_reasons(scored: Scored, position: int, limit: int = 2) -> list[str]:
    """The signals that contributed most to candidate ``position``'s score, largest first.

    Only positive contributions count (a signal that pulled the candidate down is never given as a
    reason); at most ``limit`` names.
    """
    items = [(float(c[position]), name) for name, c in scored.contributions.items()]
    items = [it for it in items if it[0] > 0.0]
    items.sort(key=lambda it: (-it[0], SIGNALS.index(it[1])))
    return [name for _, name in items[:limit]]


def semantic_history_signal(
    sims: FloatArray,
    owner: npt.NDArray[np.intp],
    n_candidates: int,
    temperature: float,
    floor: float | None = None,
) -> FloatArray:
    """Per-candidate ``log(exp(-T) + sum exp(T * (sim - 1)))`` from per-past-ask similarities.

    ``owner[j]`` is the candidate position of past ask ``j`` (``-1`` to ignore it). With a
    ``floor`` F, ``c = exp(T * (F - 1))`` takes the place of ``exp(-T)`` and each past ask adds
    ``max(0, exp(T * (sim - 1)) - c)``: asks at or below the floor add exactly nothing and one
    just above it almost nothing (the value is continuous in every similarity), so a helper
    whose rows were not scored, or scored at noise level, has the value ``log(c)``.
    """
    acc = np.zeros(n_candidates, dtype=np.float64)
    keep = owner >= 0
    base = math.exp(-temperature) if floor is None else math.exp(temperature * (floor - 1.0))
    if floor is not None:
        # Past asks well below the floor add exactly 0 (leaving them out changes no sum); the
        # margin keeps any near it in the computation below, whatever the rounding of exp.
        keep &= np.asarray(sims) > floor - 1e-4
    if keep.any():
        vals = np.exp(temperature * (np.asarray(sims, dtype=np.float64)[keep] - 1.0))
        if floor is not None:
            vals = np.maximum(vals - base, 0.0)
        acc += np.bincount(owner[keep], weights=vals, minlength=n_candidates)[:n_candidates]
    result: FloatArray = np.log(base + acc)
    return result


def topical_recency_signal(
    sims: npt.NDArray[np.floating[Any]],
    owner: npt.NDArray[np.intp],
    age_days: FloatArray,
    n_candidates: int,
    temperature: float,
    timescale_days: float,
    floor: float | None = None,
) -> FloatArray:
    """Per-candidate ``log(sum_j exp(T * (sim_j - 1)) * exp(-age_j / timescale))``; ``NaN``
    for a candidate with no past ask (``owner[j] = -1`` ignores ask ``j``).

    Ages may be relative to any common reference (a shift adds the same to every candidate).
    With a ``floor`` (see :func:`semantic_history_signal`; ages must then be ``>= 0``, as
    :meth:`HybridRanker.hit_ages` gives them) each ask adds ``max(0, exp(T * (sim - 1)) - c)
    * exp(-age / timescale)`` to ``c``: never ``NaN``, ``log(c)`` for a helper with nothing
    above the floor.
    """
    keep = owner >= 0
    acc = np.zeros(n_candidates, dtype=np.float64)
    if floor is not None:
        base = math.exp(temperature * (floor - 1.0))
        if keep.any():
            s = np.asarray(sims, dtype=np.float64)[keep]
            a = np.asarray(age_days, dtype=np.float64)[keep]
            vals = np.maximum(np.exp(temperature * (s - 1.0)) - base, 0.0) * np.exp(
                -a / max(timescale_days, 1e-9)
            )
            acc += np.bincount(owner[keep], weights=vals, minlength=n_candidates)[:n_candidates]
        floored: FloatArray = np.log(base + acc)
        return floored
    if keep.any():
        s = np.asarray(sims, dtype=np.float64)[keep]
        a = np.asarray(age_days, dtype=np.float64)[keep]
        logs = temperature * (s - 1.0) - a / max(timescale_days, 1e-9)
        shift = float(logs.max())
        acc += np.bincount(owner[keep], weights=np.exp(logs - shift), minlength=n_candidates)[
            :n_candidates
        ]
    else:
        shift = 0.0
    with np.errstate(divide="ignore"):
        out: FloatArray = np.where(acc > 0, np.log(np.maximum(acc, 1e-300)) + shift, np.nan)
    return out


def neighbours_signal(
    sims: npt.NDArray[np.floating[Any]], owner: npt.NDArray[np.intp], n_candidates: int, k: int
) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Votes of the ``k`` most similar past asks: per candidate the sum of ``max(cos, 0)`` of
    those among them they helped on (0 when none: not being among the closest is a finding, not
    an unknown), and the positions of the ``k``."""
    s = np.asarray(sims, dtype=np.float64)
    valid = np.flatnonzero(owner >= 0)
    if valid.size == 0 or k <= 0:
        return np.zeros(n_candidates), np.zeros(0, dtype=np.intp)
    top = valid[np.argpartition(-s[valid], k - 1)[:k]] if valid.size > k else valid
    votes = np.bincount(owner[top], weights=np.maximum(s[top], 0.0), minlength=n_candidates)
    out: FloatArray = votes[:n_candidates].astype(np.float64)
    return out, top


def smoothed_rating(
    mean: FloatArray, count: FloatArray, prior_count: float, neutral: float = 3.0
) -> FloatArray:
    """Mean rating shrunk toward ``neutral`` by ``prior_count`` pseudo-ratings; NaN if no count."""
    m = np.asarray(mean, dtype=np.float64)
    c = np.asarray(count, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(
            (c > 0) & ~np.isnan(m), (m * c + neutral * prior_count) / (c + prior_count), np.nan
        )
    return out


def working_hours_overlap(offset_a_minutes: float, offset_b_minutes: FloatArray) -> FloatArray:
    """Hours shared by two 09:00-17:00 local working days, given UTC offsets in minutes."""
    b = np.asarray(offset_b_minutes, dtype=np.float64)
    diff = np.abs(b - offset_a_minutes) / 60.0
    diff = np.minimum(diff, 24.0 - np.minimum(diff, 24.0))
    out: FloatArray = np.maximum(0.0, 8.0 - diff)
    return out


def gini(counts: Sequence[float] | FloatArray) -> float:
    """Gini coefficient of non-negative ``counts`` (0: perfectly even; near 1: one takes all)."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n = x.size
    total = float(x.sum())
    if n == 0 or total <= 0.0:
        return 0.0
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float((2.0 * (ranks * x).sum()) / (n * total) - (n + 1.0) / n)
