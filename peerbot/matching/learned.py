"""A ranker that learns its combination of signals from a workspace's own history.

Pure: no I/O, no clock (times come with the events), numpy only.

What is learned
---------------
The hybrid ranker scores a helper as ``sum(weight * z)`` over standardised signals (see
:mod:`peerbot.matching.scoring`). Here the weights are learned per workspace with a pairwise
logistic model (RankNet with a linear scorer): for every past ask, each helper who helped should
score above each eligible helper who did not. Because the learned model *is* a set of weights of
the same sum, the explanation of an offer (the signals that contributed most to that helper's
score) stays exactly as true as before, and the index, the rules and the cost of ranking are
unchanged.

No leakage, by construction
---------------------------
:func:`replay_features` walks the events in time order over a :class:`HelperIndex` that starts
with no past helps. For each ask it computes the signals *first*, from the index as it stands
(only what happened before the ask), and only *then* adds the ask's own helps to the index. So an
ask's features never see its own outcome, nor anything later (tested).

Labels
------
An event's ``helpers`` are the positives (helped: a pair, in production an accepted offer; in the
routing data, an answer). ``declined`` are explicit negatives (passed offers) always used; the
other negatives are sampled from the rest of the eligible candidates. ``weight`` scales the
event (in production: from the rating and, once recorded, the "did you meet?" answer; see
:func:`label_weight`).

Fallback
--------
With fewer than :data:`MIN_TRAINING_ASKS` usable asks the hand-set :class:`RankerWeights` are
kept (:func:`weights_for`). Signals that carried no information in training (all equal, or never
known: capacity, time zones and fairness in most histories) keep their hand-set weights, and the
learned weights are scaled to the hand-set weights' total over the learned signals, so the
hand-set policy terms (fairness, capacity) keep the pull they were designed to have.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from peerbot.matching.facts import Ask, HelperFacts
from peerbot.matching.index import HelperIndex, HelperRecord, PastHelp
from peerbot.matching.ranker import HybridRanker
from peerbot.matching.scoring import SIGNALS, RankerWeights, Scored
from peerbot.matching.topics import TopicIndex, attach

FloatArray = npt.NDArray[np.float64]

#: Fewer usable past asks than this and the hand-set weights are used.
MIN_TRAINING_ASKS = 50
#: Retrain when at least this many new labelled asks arrived since the last training (and at
#: least this share of the asks the model was trained on).
REFRESH_NEW_ASKS = 25
REFRESH_SHARE = 0.2
#: At most this many of the latest asks are used for training (older ones still make history).
MAX_TRAINING_ASKS = 3000
#: Negatives sampled per ask from the eligible helpers who did not help.
NEGATIVES_PER_ASK = 20
#: Share of negatives taken from the top of the current ranking (the rest at random). Measured:
#: hard negatives made the learned weights rank worse on the development sets, so none.
HARD_SHARE = 0.0
#: The latest share of the training asks held out to check the learned weights against the
#: hand-set ones before they are used (time-ordered, so the check is on "future" asks).
VALIDATION_SHARE = 0.2
#: L2 penalties of the pairwise logistic model tried (per pair, on standardised signals); the
#: one that ranks the held-out asks best is used.
L2_GRID: tuple[float, ...] = (1e-2, 1e-1, 1.0)
#: Learned weights replace the hand-set ones only when they rank the held-out asks better by more
#: than this many standard errors of the per-ask difference in reciprocal rank.
MARGIN_SE = 1.0
#: Signals whose weight is a policy, not a prediction: never learned (fairness spreads load; a
#: history where load was spread would otherwise teach the model to undo it).
POLICY_SIGNALS: frozenset[str] = frozenset({"fairness", "capacity"})
#: Signals computed but not learned (their weight stays the hand-set one): measured on the
#: development sets, learning ``topical_recency`` and ``neighbours`` (0 by default) lowered the
#: replayed MRR (they concentrate first offers on the recently active); learning
#: ``semantic_profile`` (0.5 by default) gave weights that won the held-out latest history but
#: ranked the new asks worse on both sets (measured without its floor: dba 0.367 against 0.388
#: hand-set, android 0.459 against 0.469 without it), so it stays a fixed term. Emptying this
#: set lets a workspace learn them.
UNLEARNED_SIGNALS: frozenset[str] = frozenset({"topical_recency", "neighbours", "semantic_profile"})
#: Signals whose learned weight never falls below the hand-set one: the stated expertise and the
#: topics on a profile (part of ``topic_history``) are all that is known of a new helper, and a
#: history cannot measure their worth for them (helpers with a history are found through it),
#: so a new helper whose expertise or topics match stays reachable. ``topic_history`` is also
#: the signal whose training features are thinnest (a young history has few tagged helps), so
#: a fit can drop it where it still ranks new asks better (measured on android).
COLD_START_FLOOR: frozenset[str] = frozenset({"semantic_expertise", "topic_history"})


@dataclass(frozen=True, slots=True)
class HelpEvent:
    """One past ask and what came of it, for training.

    ``helpers``: who helped (positives). ``declined``: who was offered and passed (explicit
    negatives). ``weight``: how much this ask counts (see :func:`label_weight`).
    """

    ask_id: str
    text: str
    vector: npt.NDArray[np.float32]
    at: datetime
    helpers: tuple[str, ...]
    asker_id: str | None = None
    declined: tuple[str, ...] = ()
    weight: float = 1.0
    #: The ask's topics (``topic_history``): known when it was asked.
    topics: tuple[str, ...] = ()


def label_weight(rating: float | None = None, met: bool | None = None) -> float:
    """How much a helped ask counts as a positive, from what production knows about it.

    A rating (1-5) scales it from 0.5 (1 star) to 1.5 (5 stars); no rating counts 1. ``met`` is
    the hook for the "did you meet?" answer: ``False`` halves the weight (the pair never met, so
    the match taught little), ``True`` or unknown leaves it.
    """
    w = 1.0 if rating is None else 0.5 + (min(max(float(rating), 1.0), 5.0) - 1.0) / 4.0
    if met is False:
        w *= 0.5
    return w


@dataclass(frozen=True, slots=True)
class AskGroup:
    """The standardised signals of one training ask: positive rows and negative rows."""

    ask_id: str
    pos: FloatArray
    neg: FloatArray
    weight: float = 1.0
    #: Every candidate's row and the positives' positions among them (kept for the asks used
    #: to validate: the last :data:`VALIDATION_SHARE` in time).
    everyone: FloatArray | None = None
    positives: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class TrainingSet:
    """Everything :func:`fit` needs: one :class:`AskGroup` per usable ask, columns = SIGNALS."""

    groups: list[AskGroup] = field(default_factory=list)

    @property
    def n_asks(self) -> int:
        """Usable asks (at least one positive and one negative)."""
        return len(self.groups)


def unit_weights(base: RankerWeights) -> RankerWeights:
    """``base`` with every signal weight 1 (the ranker's contributions are then the z-scores)."""
    return replace(base, **dict.fromkeys(SIGNALS, 1.0))


def signal_matrix(contributions: Mapping[str, FloatArray], n: int) -> FloatArray:
    """The ``n x len(SIGNALS)`` matrix of contributions (0 for an inactive signal)."""
    out = np.zeros((n, len(SIGNALS)), dtype=np.float64)
    for k, name in enumerate(SIGNALS):
        col = contributions.get(name)
        if col is not None:
            out[:, k] = col
    return out


def replay_features(
    events: Iterable[HelpEvent],
    helpers: Sequence[HelperRecord],
    dimension: int,
    *,
    base: RankerWeights | None = None,
    negatives: int = NEGATIVES_PER_ASK,
    seed: int = 0,
    max_asks: int = MAX_TRAINING_ASKS,
    min_helps: int = 1,
    lag_days: float = 0.0,
    profile_topics: Mapping[str, Iterable[str]] | None = None,
) -> TrainingSet:
    """Walk ``events`` in time order; for each, the signals of its candidates as known *before*
    it (then add its helps). ``helpers`` are the candidates (expertise and facts; their past
    helps are ignored: the history is rebuilt from the events).

    Candidates are the helpers in ``helpers`` less the asker; an ask counts when one of them
    helped and another did not. Negatives: the ask's ``declined`` plus up to ``negatives``
    sampled (deterministically from ``seed``) from the others.

    A helper without stated expertise becomes a candidate after ``min_helps`` helps. An
    evaluation that picks its candidates by a help count over the whole history must pass that
    count here: otherwise a helper with fewer helps at the time of an ask is known (from the
    selection) to help again later, a leak of the future that teaches "few helps: will help".

    ``lag_days``: each ask is featurised against the history as it stood that many days before
    it (production ranks against a current index: 0). An evaluation whose asks are ranked
    against a history frozen before them passes its typical gap, so the model learns what
    predicts help over that horizon rather than the next day.

    ``profile_topics``: the topics each helper lists on their profile (``topic_history``);
    the topics of past helps come from the events.
    """
    ranker_weights = unit_weights(base or RankerWeights())
    base_vec = np.array([(base or RankerWeights()).weight(n) for n in SIGNALS])
    records = [
        HelperRecord(h.helper_id, h.expertise_vector, h.expertise_text, (), _no_count(h))
        for h in helpers
    ]
    index = HelperIndex.build(records, dimension)
    topic_index = attach(index, TopicIndex())
    for helper_id, topics in (profile_topics or {}).items():
        topic_index.set_profile(helper_id, topics)
    ranker = HybridRanker(index, ranker_weights)
    rng = np.random.default_rng(seed)
    out = TrainingSet()
    ordered = sorted(events, key=lambda e: e.at)
    # Only the latest ``max_asks`` are featurised (each costs one ranking of every helper);
    # the earlier ones still build the history they are ranked against.
    featurise_from = max(0, len(ordered) - max_asks)
    validate_from = featurise_from + int((len(ordered) - featurise_from) * (1 - VALIDATION_SHARE))
    # Helpers known at the time: a stated expertise or a help before. One of whom nothing was
    # known yet cannot be ranked by any signal (in production: had not joined yet).
    known: dict[str, None] = {
        h.helper_id: None for h in helpers if h.expertise_vector is not None or h.expertise_text
    }
    n_helps: dict[str, int] = {}
    lag = timedelta(days=max(lag_days, 0.0))
    pending: deque[tuple[HelpEvent, list[str]]] = deque()

    def learn_until(cutoff: datetime) -> None:
        """Add the helps of the events at or before ``cutoff`` to the history."""
        while pending and pending[0][0].at <= cutoff:
            done, who = pending.popleft()
            for h in who:
                index.add_past_help(h, PastHelp(done.ask_id, done.vector, done.text, done.at))
                topic_index.add_help(h, done.topics, done.at)
                n_helps[h] = n_helps.get(h, 0) + 1
                if n_helps[h] >= min_helps:
                    known[h] = None

    for k, ev in enumerate(ordered):
        helped = [h for h in dict.fromkeys(ev.helpers) if h in index and h != ev.asker_id]
        learn_until(ev.at - lag)
        if k >= featurise_from and any(h in known for h in helped):
            query = Ask(
                ev.text, ev.vector, ev.at, asker_id=ev.asker_id, topics=frozenset(ev.topics)
            )
            scoring = ranker.score(query, allowed=list(known))
            ids = list(scoring.scored.ids)
            pos_of = {h: i for i, h in enumerate(ids)}
            pos = [pos_of[h] for h in helped if h in pos_of]
            skip = set(helped) | set(ev.declined)
            declined = [pos_of[h] for h in ev.declined if h in pos_of and h not in helped]
            pool = np.asarray([i for i, h in enumerate(ids) if h not in skip], dtype=np.intp)
            mat = signal_matrix(scoring.scored.contributions, len(ids))
            neg = sorted(set(declined) | set(_negatives(mat, pool, base_vec, negatives, rng)))
            if pos and neg:
                keep = k >= validate_from
                out.groups.append(
                    AskGroup(
                        ev.ask_id,
                        mat[pos],
                        mat[neg],
                        ev.weight,
                        mat if keep else None,
                        tuple(pos) if keep else (),
                    )
                )
        pending.append((ev, helped))
    return out


def _negatives(
    mat: FloatArray,
    pool: npt.NDArray[np.intp],
    base_vec: FloatArray,
    count: int,
    rng: np.random.Generator,
) -> list[int]:
    """:data:`HARD_SHARE` of the negatives from those the current weights rank highest (where
    the ranking is decided), the rest sampled at random (so the whole range is seen)."""
    if pool.size <= count:
        return [int(i) for i in pool]
    hard_n = int(count * HARD_SHARE)
    scores = mat[pool] @ base_vec
    top = pool[np.argsort(-scores, kind="stable")[:hard_n]]
    rest = np.setdiff1d(pool, top, assume_unique=True)
    sampled = rng.choice(rest, size=min(count - hard_n, rest.size), replace=False)
    return [int(i) for i in top] + [int(i) for i in sampled]


def _no_count(record: HelperRecord) -> HelperFacts:
    """Only the facts that do not accumulate with history (years managing, time zone).

    Counts, ratings, offers and capacity in use as they are *now* would tell the replay about
    asks after the one being featurised (leakage); the help count is rebuilt by the replay
    itself (the index counts the helps added so far).
    """
    f = record.facts
    return HelperFacts(years_managing=f.years_managing, utc_offset_minutes=f.utc_offset_minutes)


def _pairs(data: TrainingSet) -> tuple[FloatArray, FloatArray]:
    """Differences ``pos - neg`` of every pair and each pair's weight (an ask's pairs share its
    weight equally, so every ask counts the same however many pairs it has)."""
    diffs: list[FloatArray] = []
    weights: list[FloatArray] = []
    for g in data.groups:
        d = (g.pos[:, None, :] - g.neg[None, :, :]).reshape(-1, g.pos.shape[1])
        diffs.append(d)
        weights.append(np.full(d.shape[0], g.weight / d.shape[0]))
    if not diffs:
        return np.zeros((0, len(SIGNALS))), np.zeros(0)
    return np.vstack(diffs), np.concatenate(weights)


def fit_pairwise(
    diffs: FloatArray, pair_weights: FloatArray, l2: float = 0.1, iterations: int = 2000
) -> FloatArray:
    """Non-negative weights minimising the weighted pairwise logistic loss plus ``l2``.

    Every signal is defined "higher is better", so its weight is kept at 0 or above (a negative
    weight would be noise, and an explanation could not say it in words). Projected gradient
    descent with a step from the loss's curvature bound; deterministic.
    """
    n_feat = diffs.shape[1]
    theta = np.zeros(n_feat)
    if diffs.shape[0] == 0:
        return theta
    w = pair_weights / pair_weights.sum()
    # Curvature of the logistic loss is at most 1/4: L = 0.25 * ||D^T W D|| + l2.
    lipschitz = 0.25 * float(np.linalg.norm((diffs * w[:, None]).T @ diffs, 2)) + l2
    step = 1.0 / max(lipschitz, 1e-12)
    for _ in range(iterations):
        margin = diffs @ theta
        grad_pair = -w / (1.0 + np.exp(np.clip(margin, -50, 50)))
        grad = diffs.T @ grad_pair + l2 * theta
        new = np.maximum(theta - step * grad, 0.0)
        if float(np.abs(new - theta).max()) < 1e-7:
            theta = new
            break
        theta = new
    return theta


@dataclass(frozen=True, slots=True)
class LearnedModel:
    """Learned weights of one workspace, with what they were learned from."""

    weights: RankerWeights
    #: Usable asks the model was trained on.
    n_asks: int
    #: Signals whose weight was learned (the rest kept the hand-set weight).
    learned: tuple[str, ...]
    trained_at: datetime | None = None
    #: MRR on the held-out latest asks: of the learned weights, and of the hand-set ones.
    validation_mrr: float | None = None
    baseline_validation_mrr: float | None = None

    def to_mapping(self) -> dict[str, Any]:
        """A JSON-ready mapping for storage (see :meth:`from_mapping`)."""
        return {
            "weights": {s: self.weights.weight(s) for s in SIGNALS},
            "n_asks": self.n_asks,
            "learned": list(self.learned),
            "trained_at": self.trained_at.isoformat() if self.trained_at else None,
            "validation_mrr": self.validation_mrr,
            "baseline_validation_mrr": self.baseline_validation_mrr,
        }

    def to_json(self) -> str:
        """:meth:`to_mapping` as JSON text."""
        return json.dumps(self.to_mapping(), sort_keys=True)

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any], base: RankerWeights | None = None
    ) -> LearnedModel:
        """The model stored by :meth:`to_mapping`, its shape parameters taken from ``base``
        (unknown signal names, from an older or newer version, are ignored)."""
        known = {k: float(v) for k, v in dict(raw.get("weights", {})).items() if k in SIGNALS}
        at = raw.get("trained_at")
        return cls(
            weights=replace(base or RankerWeights(), **known),
            n_asks=int(raw.get("n_asks", 0)),
            learned=tuple(s for s in raw.get("learned", ()) if s in SIGNALS),
            trained_at=datetime.fromisoformat(at) if at else None,
            validation_mrr=raw.get("validation_mrr"),
            baseline_validation_mrr=raw.get("baseline_validation_mrr"),
        )

    @classmethod
    def from_json(cls, text: str, base: RankerWeights | None = None) -> LearnedModel:
        """The model stored by :meth:`to_json`."""
        return cls.from_mapping(json.loads(text), base)


def _fit_weights(
    groups: Sequence[AskGroup], base: RankerWeights, l2: float
) -> tuple[RankerWeights, tuple[str, ...]] | None:
    """Learned weights over ``groups`` (None when nothing informative), rescaled to sum to
    ``base``'s weights over the learned signals so the signals that were not learned (policy
    terms, facts this history lacks) keep their pull."""
    diffs, pw = _pairs(TrainingSet(list(groups)))
    informative = [
        k
        for k, name in enumerate(SIGNALS)
        if name not in POLICY_SIGNALS
        and name not in UNLEARNED_SIGNALS
        and diffs.shape[0]
        and float(np.abs(diffs[:, k]).max()) > 0
    ]
    if not informative:
        return None
    theta = fit_pairwise(diffs[:, informative], pw, l2)
    total = float(theta.sum())
    names = tuple(SIGNALS[k] for k in informative)
    target = sum(base.weight(n) for n in names)
    if total <= 0.0 or not math.isfinite(total) or target <= 0.0:
        return None
    scaled = {n: float(v) * target / total for n, v in zip(names, theta, strict=True)}
    for n in COLD_START_FLOOR & set(scaled):
        scaled[n] = max(scaled[n], base.weight(n))
    return replace(base, **scaled), names


def reciprocal_ranks(groups: Sequence[AskGroup], weights: RankerWeights) -> FloatArray:
    """Reciprocal rank of the first positive among every candidate of each held-out ask (those
    with :attr:`AskGroup.everyone`), ranked by ``weights``."""
    vec = np.array([weights.weight(n) for n in SIGNALS])
    rr = []
    for g in groups:
        if g.everyone is None or not g.positives:
            continue
        score = g.everyone @ vec
        best = max(float(score[i]) for i in g.positives)
        # Ties are counted against the model (rank after every candidate scoring the same).
        rr.append(1.0 / float((score >= best).sum()))
    return np.asarray(rr, dtype=np.float64)


def validation_mrr(groups: Sequence[AskGroup], weights: RankerWeights) -> float:
    """Mean of :func:`reciprocal_ranks` (0 without held-out asks)."""
    rr = reciprocal_ranks(groups, weights)
    return float(rr.mean()) if rr.size else 0.0


def clearly_better(groups: Sequence[AskGroup], learned: RankerWeights, base: RankerWeights) -> bool:
    """True when ``learned`` ranks the held-out asks better than ``base`` by more than
    :data:`MARGIN_SE` standard errors of the per-ask difference (a win within the noise of a
    few hundred asks does not carry over to the next ones)."""
    diff = reciprocal_ranks(groups, learned) - reciprocal_ranks(groups, base)
    if diff.size == 0:
        return False
    se = float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else 0.0
    return float(diff.mean()) > MARGIN_SE * se


def fit(
    data: TrainingSet,
    base: RankerWeights | None = None,
    *,
    l2_grid: Sequence[float] = L2_GRID,
    trained_at: datetime | None = None,
) -> LearnedModel:
    """Learn weights from ``data``, checked on its latest asks before they are used.

    The asks are in time order; the latest :data:`VALIDATION_SHARE` are held out. For each
    penalty of ``l2_grid`` weights are fitted on the earlier asks and scored on the held-out
    ones; the best is compared with ``base`` on the same asks. Only when it ranks them better,
    beyond the noise (:func:`clearly_better`), are the weights refitted on all asks and returned
    as learned; otherwise ``base`` is kept
    (``learned`` empty), with both validation figures recorded.
    """
    base = base or RankerWeights()
    groups = data.groups
    held = [g for g in groups if g.everyone is not None]
    early = [g for g in groups if g.everyone is None]
    if not groups:
        return LearnedModel(base, 0, (), trained_at)
    base_mrr = validation_mrr(held, base) if held else None
    best: tuple[float, float] | None = None
    if held and early:
        for l2 in l2_grid:
            fitted = _fit_weights(early, base, l2)
            if fitted is None:
                continue
            score = validation_mrr(held, fitted[0])
            if best is None or score > best[0]:
                best = (score, l2)
    if best is None or base_mrr is None or best[0] <= base_mrr:
        return LearnedModel(base, data.n_asks, (), trained_at, best and best[0], base_mrr)
    candidate = _fit_weights(early, base, best[1])
    if candidate is None or not clearly_better(held, candidate[0], base):
        return LearnedModel(base, data.n_asks, (), trained_at, best[0], base_mrr)
    fitted = _fit_weights(groups, base, best[1])
    if fitted is None:
        return LearnedModel(base, data.n_asks, (), trained_at, best[0], base_mrr)
    return LearnedModel(fitted[0], data.n_asks, fitted[1], trained_at, best[0], base_mrr)


def weights_for(model: LearnedModel | None, base: RankerWeights | None = None) -> RankerWeights:
    """The weights to rank with: the learned ones when trained on at least
    :data:`MIN_TRAINING_ASKS` asks, else the hand-set ``base``."""
    base = base or RankerWeights()
    if model is None or model.n_asks < MIN_TRAINING_ASKS or not model.learned:
        return base
    return model.weights


def needs_refresh(trained_on: int | None, labelled_now: int) -> bool:
    """True when enough new labelled asks arrived since a model trained on ``trained_on`` asks
    (``None``: never trained) to make retraining worth it."""
    if labelled_now < MIN_TRAINING_ASKS:
        return False
    if trained_on is None:
        return True
    new = labelled_now - trained_on
    return new >= max(REFRESH_NEW_ASKS, math.ceil(REFRESH_SHARE * trained_on))


def train(
    events: Iterable[HelpEvent],
    helpers: Sequence[HelperRecord],
    dimension: int,
    base: RankerWeights | None = None,
    *,
    trained_at: datetime | None = None,
    seed: int = 0,
    min_helps: int = 1,
    lag_days: float = 0.0,
    profile_topics: Mapping[str, Iterable[str]] | None = None,
) -> LearnedModel:
    """:func:`replay_features` then :func:`fit`: the per-workspace model from its history."""
    data = replay_features(
        events,
        helpers,
        dimension,
        base=base,
        seed=seed,
        min_helps=min_helps,
        lag_days=lag_days,
        profile_topics=profile_topics,
    )
    return fit(data, base, trained_at=trained_at)


#: Where a newcomer whose stated expertise fits the ask is placed at the latest (0-based: the
#: second offer). Learned weights lean on history (recency, past asks), which a helper who just
#: joined cannot have; without this slot they would never be offered anything, so never gain a
#: history either.
NEWCOMER_POSITION = 1
#: A newcomer qualifies when their expertise is among this many best expertise matches.
NEWCOMER_TOP_EXPERTISE = 3


def place_newcomer(
    scored: Scored,
    order: npt.NDArray[np.intp],
    helps: FloatArray,
    position: int = NEWCOMER_POSITION,
) -> npt.NDArray[np.intp]:
    """``order`` with the best-fitting newcomer moved up to ``position`` when below it.

    A newcomer has no past help (``helps[i]`` is 0 or unknown, per candidate position) and a
    stated expertise among the :data:`NEWCOMER_TOP_EXPERTISE` closest to the ask with a positive
    contribution, so the explanation ("expertise mentions ...") is true of them. Scores are not
    changed; only the order of offers.
    """
    expertise = scored.contributions.get("semantic_expertise")
    if expertise is None or order.size <= position:
        return order
    newcomers = np.flatnonzero(~(helps > 0))  # no help, or unknown (NaN)
    if newcomers.size == 0:
        return order
    k = min(NEWCOMER_TOP_EXPERTISE, expertise.size)
    kth = float(np.partition(expertise, expertise.size - k)[expertise.size - k])
    near = expertise[newcomers]
    fits = newcomers[(near >= kth) & (near > 0)].tolist()  # (no loop over every newcomer)
    if not fits:
        return order
    best = max(fits, key=lambda i: (float(scored.score[i]), -i))
    where = int(np.flatnonzero(order == best)[0])
    if where <= position:
        return order
    rest = np.delete(order, where)
    return np.insert(rest, position, best)
