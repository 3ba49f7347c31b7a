"""``peerbot eval routing``: the routing protocol of ``shared/data/routing/README.md``.

The protocol, in short: sort by question id; the first 80% is history ("helped on" records for
each answerer), the rest are new asks; candidates are users with at least 3 answers in the
history; an ask is scored when one of its answerers is a candidate, and everyone who answered it
is relevant. peerbot's ranker runs exactly as in production (a :class:`HelperIndex` of profiles
built from the history, a :class:`HybridRanker` over all candidates), beside two baselines:
popularity (answer count in history) and BM25 (k1=1.2, b=0.75; one document per helper of the
concatenated texts of the questions they answered).

The data carry no timestamps; question ids rise with posting time, so the history is spread
evenly over ``history_days`` ending at the first ask, which is "now" for every ask.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from peerbot.domain.ports import Embedder
from peerbot.eval.metrics import METRICS, all_metrics, mean_metrics
from peerbot.eval.replay import (
    BOOTSTRAP_DRAWS,
    DEFAULT_CAPACITY,
    DEFAULT_OCCUPY_DAYS,
    ReplayAsk,
    ReplayResult,
    bootstrap,
    load_figures,
    paired_bootstrap,
    ratio_bootstrap,
    replay,
)
from peerbot.matching import (
    Ask,
    BM25Index,
    HelperFacts,
    HelperIndex,
    HelperRecord,
    HybridRanker,
    PastHelp,
    RankerWeights,
    RulesThenHybrid,
    Snapshot,
    eligible,
    tokenize,
)
from peerbot.matching.learned import (
    MIN_TRAINING_ASKS,
    HelpEvent,
    LearnedModel,
    train,
    weights_for,
)
from peerbot.matching.matcher import RankedList
from peerbot.matching.scoring import SIGNALS
from peerbot.matching.topics import TopicIndex, attach

if TYPE_CHECKING:
    from peerbot.config import Settings

#: ``peerbot``: production's ranker (learned weights when the history allows); ``defaults``: the
#: hand-set weights alone.
RANKERS: tuple[str, ...] = ("peerbot", "defaults", "bm25", "popularity")
HISTORY_SHARE = 0.8
MIN_ANSWERS = 3
#: Words of each question given to the embedding model (the title comes first). Longer texts cost
#: embedding time roughly linearly and, measured on the development sets, add little.
EMBED_WORDS = 32
HISTORY_DAYS = 365.0
_EPOCH = datetime(2019, 9, 1, tzinfo=UTC)
#: The replayed figure is the mean over several occupancy lengths: the asked length and
#: ``OCCUPY_SPREAD_DAYS`` either side, ``OCCUPY_STEPS`` lengths evenly spaced (6, 6.5, 7, 7.5
#: and 8 days around the default 7). One replay is one draw of a chaotic process: a single
#: different first offer changes who is free for every later ask, so the replayed MRR of one
#: length moves by more than the differences being measured (dba, session 7: 1.25x-1.38x BM25
#: between 6 and 8 days). Averaging each ask's reciprocal rank over the lengths measures the
#: same thing (how a ranker fares under capacity) with that noise averaged out; the single
#: replay at the asked length is still reported (``replay``).
OCCUPY_SPREAD_DAYS = 1.0
OCCUPY_STEPS = 5
#: The rankers replayed.
REPLAYED: tuple[str, ...] = ("peerbot", "bm25", "popularity")


@dataclass(frozen=True, slots=True)
class Question:
    """One Stack Exchange question of the routing data."""

    question_id: int
    title: str
    body: str
    answerer_ids: tuple[str, ...]
    #: The site's tags: the ask's topics (known when it is asked, so no leak).
    tags: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """Title and body."""
        return f"{self.title} {self.body}".strip()

    def embed_text(self, words: int = EMBED_WORDS) -> str:
        """The first ``words`` words of :attr:`text`."""
        return " ".join(self.text.split()[:words])


def load_questions(path: Path) -> list[Question]:
    """Read a routing JSONL file, sorted by question id."""
    out: list[Question] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            out.append(
                Question(
                    question_id=int(row["question_id"]),
                    title=str(row.get("title", "")),
                    body=str(row.get("body", "")),
                    answerer_ids=tuple(str(a) for a in row.get("answerer_ids", [])),
                    tags=tuple(str(t) for t in row.get("tags", []) or []),
                )
            )
    out.sort(key=lambda q: q.question_id)
    return out


@dataclass(frozen=True, slots=True)
class Split:
    """History, candidates and the scored asks of one data set."""

    history: list[Question]
    asks: list[Question]
    candidates: list[str]
    help_counts: Counter[str]
    #: Position of each question after the first ask (0 for the first ask): its posting time.
    positions: dict[int, int] = field(default_factory=dict)


def split(questions: Sequence[Question]) -> Split:
    """Apply steps 1-3 of the protocol."""
    cut = int(len(questions) * HISTORY_SHARE)
    history = list(questions[:cut])
    counts: Counter[str] = Counter(a for q in history for a in dict.fromkeys(q.answerer_ids))
    candidates = sorted(u for u, c in counts.items() if c >= MIN_ANSWERS)
    cset = set(candidates)
    asks = [q for q in questions[cut:] if any(a in cset for a in q.answerer_ids)]
    positions = {q.question_id: k for k, q in enumerate(questions[cut:])}
    return Split(history, asks, candidates, counts, positions)


def build_index(
    data: Split, vectors: dict[int, np.ndarray], model_name: str, dimension: int, now: datetime
) -> HelperIndex:
    """Profiles of the candidates from the history, as production would hold them: past helps
    in the index, and their tags (the topics of those helps) in its :class:`TopicIndex`."""
    cset = set(data.candidates)
    helps: dict[str, list[PastHelp]] = {c: [] for c in data.candidates}
    topics = TopicIndex()
    n = max(1, len(data.history))
    for i, q in enumerate(data.history):
        at = now - timedelta(days=HISTORY_DAYS * (n - i) / n)
        for a in dict.fromkeys(q.answerer_ids):
            if a in cset:
                helps[a].append(PastHelp(str(q.question_id), vectors[q.question_id], q.text, at))
                topics.add_help(a, q.tags, at)
    records = [
        HelperRecord(c, None, "", helps[c], HelperFacts(helps_given=data.help_counts[c]))
        for c in data.candidates
    ]
    index = HelperIndex.build(records, dimension, model_name)
    attach(index, topics)
    return index


def run_routing_eval(
    path: Path | str,
    embedder: Embedder,
    weights: RankerWeights | None = None,
    *,
    embed_words: int = EMBED_WORDS,
    vectors_cache: Path | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Run the protocol on ``path``; metrics per ranker plus counts and the first-offer Gini.

    Returns ``{"peerbot": {metric: value}, "defaults": ..., "bm25": {...}, "popularity":
    {...}, "info": {...}, "intervals": ..., "model": ..., "ablation": ..., "replay": ...}``.
    ``vectors_cache`` (an ``.npz`` file) keeps the question vectors between runs, keyed by the
    model and the words embedded; ``options`` go to :func:`evaluate`.
    """
    data = split(load_questions(Path(path)))
    weights = weights or RankerWeights()
    vectors = question_vectors(data, embedder, embed_words, vectors_cache)
    return evaluate(data, vectors, embedder.model_name, embedder.dimension, weights, **options)


def question_vectors(
    data: Split,
    embedder: Embedder,
    embed_words: int = EMBED_WORDS,
    vectors_cache: Path | None = None,
) -> dict[int, np.ndarray]:
    """The vectors of the history's and the asks' questions, by question id: read from
    ``vectors_cache`` (an ``.npz`` file) when it was written for the same model, words
    embedded and questions, else embedded (and written there when given)."""
    needed = {q.question_id: q for q in data.history} | {q.question_id: q for q in data.asks}
    ids = list(needed)
    digest = hashlib.sha256(repr(ids).encode()).hexdigest()[:16]
    key = f"{embedder.model_name}|{embed_words}|{digest}"
    mat = None
    if vectors_cache is not None and vectors_cache.exists():
        with np.load(vectors_cache, allow_pickle=False) as cached:
            if str(cached["key"]) == key:
                mat = cached["vectors"]
    if mat is None:
        mat = embedder.embed([needed[i].embed_text(embed_words) for i in ids])
        if vectors_cache is not None:
            with vectors_cache.open("wb") as fh:
                np.savez(fh, key=np.array(key), vectors=mat)
    return {qid: mat[k] for k, qid in enumerate(ids)}


def ask_times(data: Split) -> dict[int, datetime]:
    """When each scored ask is posted: the history's pace (``HISTORY_DAYS`` over the history)
    continued after the first ask, by position in the file."""
    n = max(1, len(data.history))
    return {
        q.question_id: _EPOCH + timedelta(days=HISTORY_DAYS * data.positions[q.question_id] / n)
        for q in data.asks
    }


def training_events(data: Split, vectors: dict[int, np.ndarray], now: datetime) -> list[HelpEvent]:
    """The history as dated help events (positives: everyone who answered), for training."""
    n = max(1, len(data.history))
    return [
        HelpEvent(
            str(q.question_id),
            q.text,
            vectors[q.question_id],
            now - timedelta(days=HISTORY_DAYS * (n - i) / n),
            tuple(dict.fromkeys(q.answerer_ids)),
            topics=q.tags,
        )
        for i, q in enumerate(data.history)
    ]


def learn_weights(
    data: Split,
    vectors: dict[int, np.ndarray],
    dimension: int,
    base: RankerWeights,
) -> LearnedModel:
    """The per-workspace model trained on the history part only (production's own trainer).

    As the protocol does for the asks, a training ask's candidates are the helpers with at least
    :data:`MIN_ANSWERS` answers before it, and its history stops :func:`protocol_lag_days`
    before it (see ``min_helps`` and ``lag_days`` of
    :func:`~peerbot.matching.learned.replay_features`)."""
    records = [HelperRecord(c, None, "", ()) for c in data.candidates]
    return train(
        training_events(data, vectors, _EPOCH),
        records,
        dimension,
        base,
        min_helps=MIN_ANSWERS,
        lag_days=protocol_lag_days(data),
    )


def protocol_lag_days(data: Split) -> float:
    """The mean gap between the end of the history and the scored asks, in days: the protocol
    ranks every ask against the history frozen at the cut, so training ranks each past ask
    against the history as it stood this long before it (from the split, not per data set)."""
    times = ask_times(data)
    if not times:
        return 0.0
    n = max(1, len(data.history))
    end = _EPOCH - timedelta(days=HISTORY_DAYS / n)  # the last history question
    return float(np.mean([(t - end).total_seconds() / 86400.0 for t in times.values()]))


def _static_rankings(
    data: Split, index: HelperIndex, vectors: dict[int, np.ndarray], weights: RankerWeights
) -> list[list[str]]:
    ranker = HybridRanker(index, weights)
    out = []
    for q in data.asks:
        scoring = ranker.score(
            Ask(q.text, vectors[q.question_id], _EPOCH, topics=frozenset(q.tags))
        )
        out.append([scoring.scored.ids[int(i)] for i in scoring.scored.order()])
    return out


def evaluate(
    data: Split,
    vectors: dict[int, np.ndarray],
    model_name: str,
    dimension: int,
    weights: RankerWeights,
    *,
    learn: bool = True,
    replayed: bool = True,
    capacity: int = DEFAULT_CAPACITY,
    occupy_days: float = DEFAULT_OCCUPY_DAYS,
    occupy_spread: float = OCCUPY_SPREAD_DAYS,
    draws: int = BOOTSTRAP_DRAWS,
    ablation: bool = True,
) -> dict[str, Any]:
    """Score the rankers on ``data`` given precomputed question vectors.

    ``peerbot`` is what production would run: the weights learned from the history part
    (:mod:`peerbot.matching.learned`; ``weights`` are the hand-set fallback and the weights of
    what is not learned), or ``weights`` themselves when ``learn`` is off or the history is too
    short; ``defaults`` are ``weights`` as given. With ``replayed``, the asks are also replayed
    in time order with capacity and fairness (:func:`peerbot.eval.replay.replay`): ``replay``
    at ``occupy_days``, and ``replay_mean`` averaged over :func:`occupancy_lengths` around it
    (``occupy_spread`` days either side; 0 for that one length).
    """
    now = _EPOCH
    index = build_index(data, vectors, model_name, dimension, now)
    model = learn_weights(data, vectors, dimension, weights) if learn else None
    used = weights_for(model, weights)

    baseline = BM25Index()
    slot_of = {c: i for i, c in enumerate(data.candidates)}
    cset = set(data.candidates)
    for q in data.history:
        toks = tokenize(q.text)
        for a in dict.fromkeys(q.answerer_ids):
            if a in cset:
                baseline.add(slot_of[a], toks)
    cands = np.array(data.candidates, dtype=object)
    pop = np.array([data.help_counts[c] for c in data.candidates], dtype=np.float64)
    pop_ranking = list(cands[np.argsort(-pop, kind="stable")])
    bm25_scores = [baseline.score(tokenize(q.text), len(data.candidates)) for q in data.asks]

    relevant = [frozenset(a for a in q.answerer_ids if a in cset) for q in data.asks]
    ranked = _static_rankings(data, index, vectors, used)
    rankings: dict[str, list[list[str]]] = {
        "peerbot": ranked,
        # nothing learned (or too little): the same weights, the same rankings
        "defaults": ranked if used == weights else _static_rankings(data, index, vectors, weights),
        "bm25": [list(cands[np.argsort(-bm, kind="stable")]) for bm in bm25_scores],
        "popularity": [pop_ranking] * len(data.asks),
    }
    rows = {
        name: [all_metrics(r, rel) for r, rel in zip(rankings[name], relevant, strict=True)]
        for name in RANKERS
    }
    firsts = {name: [r[0] for r in rankings[name]] for name in RANKERS}
    result: dict[str, Any] = {name: mean_metrics(rows[name]) for name in RANKERS}
    result["info"] = {
        "asks_scored": len(data.asks),
        "candidates": len(data.candidates),
        "history_questions": len(data.history),
        "first_offer_gini": {
            name: load_figures(firsts[name], len(cands))["gini"] for name in RANKERS
        },
        "distinct_first_offers": {name: len(set(firsts[name])) for name in RANKERS},
    }
    result["intervals"] = {
        name: bootstrap(rows[name], firsts[name], len(cands), draws=draws) for name in RANKERS
    }
    result["paired"] = _paired(rows, draws)
    result["ratio"] = _ratios(rows, draws)
    result["model"] = {
        "learned": model is not None and bool(model.learned) and used is model.weights,
        "trained_on_asks": model.n_asks if model else 0,
        "learned_signals": list(model.learned) if model else [],
        "validation_mrr": model.validation_mrr if model else None,
        "hand_set_validation_mrr": model.baseline_validation_mrr if model else None,
        "weights": {s: round(used.weight(s), 4) for s in SIGNALS},
    }
    if ablation:
        full = result["peerbot"]["MRR"]
        result["ablation"] = {"all signals": full}
        for s in SIGNALS:
            if used.weight(s) == 0.0 or s in ("capacity", "fairness"):
                continue
            ranks = _static_rankings(data, index, vectors, replace(used, **{s: 0.0}))
            mrr = [all_metrics(r, rel)["MRR"] for r, rel in zip(ranks, relevant, strict=True)]
            result["ablation"][f"without {s}"] = float(np.mean(mrr)) if mrr else 0.0
    if replayed:
        lengths = occupancy_lengths(occupy_days, occupy_spread)
        runs = _replay_runs(
            data,
            vectors,
            model_name,
            dimension,
            used,
            relevant,
            bm25_scores,
            pop,
            capacity=capacity,
            lengths=sorted({*lengths, occupy_days}),
        )
        result["replay"] = _replay_figures(
            runs[occupy_days], len(cands), capacity=capacity, occupy_days=occupy_days, draws=draws
        )
        result["replay_mean"] = _replay_mean(
            {d: runs[d] for d in lengths}, len(cands), capacity=capacity, draws=draws
        )
    return result


def occupancy_lengths(
    center: float, spread: float = OCCUPY_SPREAD_DAYS, steps: int = OCCUPY_STEPS
) -> list[float]:
    """The occupancy lengths (days) the mean replayed figure averages over: ``steps`` evenly
    spaced from ``center - spread`` to ``center + spread`` (just ``center`` when ``spread`` is
    0 or ``steps`` 1; lengths below a tenth of a day are left out)."""
    if spread <= 0.0 or steps <= 1:
        return [center]
    # The asked length itself exactly (its replay is also the single figure's).
    lengths = [
        center if abs(float(d) - center) < 1e-9 else float(d)
        for d in np.linspace(center - spread, center + spread, steps)
    ]
    return [d for d in lengths if d >= 0.1] or [center]


def _replay_runs(
    data: Split,
    vectors: dict[int, np.ndarray],
    model_name: str,
    dimension: int,
    weights: RankerWeights,
    relevant: list[frozenset[str]],
    bm25_scores: list[np.ndarray],
    pop: np.ndarray,
    *,
    capacity: int,
    lengths: Sequence[float],
) -> dict[float, dict[str, ReplayResult]]:
    """Each ranker of :data:`REPLAYED` replayed through the rules with capacity, once per
    occupancy length in ``lengths``."""
    index = build_index(data, vectors, model_name, dimension, _EPOCH)
    times = ask_times(data)
    asks = [
        ReplayAsk(
            times[q.question_id],
            Ask(
                q.text,
                vectors[q.question_id],
                times[q.question_id],
                asker_id=None,
                topics=frozenset(q.tags),
            ),
            rel,
        )
        for q, rel in zip(data.asks, relevant, strict=True)
    ]
    by_text = {id(a.ask): k for k, a in enumerate(asks)}
    base = {c: HelperFacts(helps_given=data.help_counts[c]) for c in data.candidates}
    production = RulesThenHybrid(weights)
    pop_of = dict(zip(data.candidates, pop.tolist(), strict=True))
    slot_of = {c: i for i, c in enumerate(data.candidates)}

    def ours(s: Snapshot) -> list[str]:
        ranked = production.rank(index, s)
        return ranked.helper_ids() if isinstance(ranked, RankedList) else []

    def by_scores(scores_of: Any) -> Any:
        def rank(s: Snapshot) -> list[str]:
            ok = [c.user_id for c in eligible(s.helpers, s.ask, s.managers)]
            sc = scores_of(s)
            return sorted(ok, key=lambda u: -sc(u))  # sorted() is stable: ties keep order

        return rank

    def bm(s: Snapshot) -> Any:
        row = bm25_scores[by_text[id(s.ask)]]
        return lambda u: float(row[slot_of[u]])

    rankers = {
        "peerbot": ours,
        "bm25": by_scores(bm),
        "popularity": by_scores(lambda s: pop_of.__getitem__),
    }
    return {
        days: {
            name: replay(asks, data.candidates, base, fn, capacity=capacity, occupy_days=days)
            for name, fn in rankers.items()
        }
        for days in lengths
    }


def _replay_figures(
    runs: Mapping[str, ReplayResult],
    n_candidates: int,
    *,
    capacity: int,
    occupy_days: float,
    draws: int,
) -> dict[str, Any]:
    """One occupancy length's replay: each ranker's figures and intervals, the paired
    differences and the ratios to the baselines."""
    out: dict[str, Any] = {"capacity": capacity, "occupy_days": occupy_days}
    for name, res in runs.items():
        figures: dict[str, Any] = {
            **mean_metrics(res.rows),
            **load_figures(res.firsts, n_candidates),
        }
        figures["intervals"] = bootstrap(res.rows, res.firsts, n_candidates, draws=draws)
        figures["no_offer"] = sum(1 for f in res.firsts if f is None)
        # Asks none of whose answerers had room: they score 0 whatever the ranking.
        figures["answerers_all_busy"] = sum(res.all_busy)
        out[name] = figures
    per_ask = {name: res.rows for name, res in runs.items()}
    out["paired"] = _paired(per_ask, draws)
    out["ratio"] = _ratios(per_ask, draws)
    return out


def _mean_mrr(rows: Sequence[Mapping[str, float]]) -> float:
    """The mean reciprocal rank of ``rows`` (0 without rows)."""
    return float(np.mean([r["MRR"] for r in rows])) if rows else 0.0


def _replay_mean(
    runs: Mapping[float, Mapping[str, ReplayResult]],
    n_candidates: int,
    *,
    capacity: int,
    draws: int,
) -> dict[str, Any]:
    """The replayed figure over several occupancy lengths: each ask's reciprocal rank averaged
    over the lengths, then the mean over the asks with its bootstrap interval (asks resampled,
    as for one replay), the paired differences and ratios on those per-ask means, the load
    figures averaged over the lengths, and each length's own MRR."""
    lengths = sorted(runs)
    names = list(runs[lengths[0]])
    per_ask = {
        name: [
            {"MRR": float(np.mean([runs[d][name].rows[k]["MRR"] for d in lengths]))}
            for k in range(len(runs[lengths[0]][name].rows))
        ]
        for name in names
    }
    out: dict[str, Any] = {"capacity": capacity, "occupy_days": lengths}
    for name in names:
        loads = [load_figures(runs[d][name].firsts, n_candidates) for d in lengths]
        out[name] = {
            "MRR": _mean_mrr(per_ask[name]),
            "intervals": bootstrap(per_ask[name], draws=draws),
            **{k: float(np.mean([f[k] for f in loads])) for k in loads[0]},
            "fewest_distinct_first_offers": min(f["distinct_first_offers"] for f in loads),
            "answerers_all_busy": float(np.mean([sum(runs[d][name].all_busy) for d in lengths])),
        }
    out["paired"] = _paired(per_ask, draws)
    out["ratio"] = _ratios(per_ask, draws)
    out["per_length"] = [
        {
            "occupy_days": d,
            **{name: _mean_mrr(runs[d][name].rows) for name in names},
            "distinct_first_offers": {
                name: len({f for f in runs[d][name].firsts if f is not None}) for name in names
            },
        }
        for d in lengths
    ]
    return out


#: The baselines peerbot's MRR is compared with, ask by ask (``paired`` in the output).
PAIRED_WITH: tuple[str, ...] = ("bm25", "popularity", "defaults")


def _ratios(rows: Mapping[str, Sequence[Mapping[str, float]]], draws: int) -> dict[str, Any]:
    """``peerbot``'s MRR divided by each baseline's in :data:`PAIRED_WITH` (those present),
    with the ratio's paired 95% bootstrap interval (the targets are ratios: "1.35x BM25")."""
    ours = [r["MRR"] for r in rows["peerbot"]]
    return {
        f"peerbot / {name}": ratio_bootstrap(ours, [r["MRR"] for r in rows[name]], draws=draws)
        for name in PAIRED_WITH
        if name in rows and name != "defaults"
    }


def _paired(rows: Mapping[str, Sequence[Mapping[str, float]]], draws: int) -> dict[str, Any]:
    """``peerbot`` minus each baseline in :data:`PAIRED_WITH` (those present): the mean MRR
    difference over the same asks and its paired 95% bootstrap interval."""
    ours = [r["MRR"] for r in rows["peerbot"]]
    return {
        f"peerbot - {name}": paired_bootstrap(ours, [r["MRR"] for r in rows[name]], draws=draws)
        for name in PAIRED_WITH
        if name in rows
    }


def format_table(result: dict[str, Any]) -> str:
    """The metrics side by side (with 95% intervals of MRR), the replay with capacity, the load
    figures, the learned weights and the ablation."""
    lines = [f"{'ranker':<12}" + "".join(f"{m:>11}" for m in METRICS) + "   MRR 95% CI"]
    for name in RANKERS:
        ci = result.get("intervals", {}).get(name, {}).get("MRR")
        tail = f"   [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        lines.append(f"{name:<12}" + "".join(f"{result[name][m]:>11.4f}" for m in METRICS) + tail)
    lines.extend(_paired_lines(result.get("paired")))
    lines.extend(_ratio_lines(result.get("ratio")))
    info = result["info"]
    lines.append(
        f"asks scored: {info['asks_scored']}, candidates: {info['candidates']}, "
        f"history questions: {info['history_questions']}"
    )
    lines.append(
        f"peerbot first offers: Gini {info['first_offer_gini']['peerbot']:.3f} over "
        f"{info['candidates']} candidates ({info['distinct_first_offers']['peerbot']} distinct "
        f"helpers offered first; BM25 Gini {info['first_offer_gini']['bm25']:.3f})"
    )
    model = result.get("model")
    if model:
        if model["learned"]:
            how = f"learned from {model['trained_on_asks']} past asks"
        elif model["trained_on_asks"] >= MIN_TRAINING_ASKS and model["validation_mrr"] is not None:
            how = (
                f"hand-set: learned weights ranked the latest held-out asks no better, MRR "
                f"{model['validation_mrr']:.3f} against {model['hand_set_validation_mrr']:.3f}"
            )
        else:
            how = "hand-set: too little history to learn from"
        ws = ", ".join(f"{k} {v:g}" for k, v in model["weights"].items() if v)
        lines.append(f"peerbot weights ({how}): {ws}")
    rep = result.get("replay")
    if rep:
        lines.append(
            f"replayed in time order (capacity {rep['capacity']}, each first offer occupies it "
            f"{rep['occupy_days']:g} days; fairness sees the offers so far; all busy: asks "
            f"whose answerers were all at capacity, 0 for any ranking):"
        )
        lines.append(
            f"{'ranker':<12}{'MRR':>8}{'95% CI':>18}{'distinct':>10}{'largest':>9}{'Gini':>7}"
            f"{'all busy':>10}"
        )
        for name in ("peerbot", "bm25", "popularity"):
            r = rep[name]
            ci = r["intervals"]["MRR"]
            lines.append(
                f"{name:<12}{r['MRR']:>8.4f}{f'[{ci[0]:.3f}, {ci[1]:.3f}]':>18}"
                f"{int(r['distinct_first_offers']):>10}{r['largest_share']:>9.3f}{r['gini']:>7.3f}"
                f"{r.get('answerers_all_busy', 0):>10}"
            )
        lines.extend(_paired_lines(rep.get("paired")))
        lines.extend(_ratio_lines(rep.get("ratio")))
    mean = result.get("replay_mean")
    if mean and len(mean["occupy_days"]) > 1:
        days = " / ".join(f"{d:g}" for d in mean["occupy_days"])
        lines.append(
            f"replayed, each ask's reciprocal rank averaged over occupancies of {days} days "
            "(one replay is one noisy draw: a different first offer changes who is free later):"
        )
        lines.append(f"{'ranker':<12}{'MRR':>8}{'95% CI':>18}{'distinct':>10}{'fewest':>8}")
        for name in REPLAYED:
            r = mean[name]
            ci = r["intervals"]["MRR"]
            lines.append(
                f"{name:<12}{r['MRR']:>8.4f}{f'[{ci[0]:.3f}, {ci[1]:.3f}]':>18}"
                f"{r['distinct_first_offers']:>10.1f}{int(r['fewest_distinct_first_offers']):>8}"
            )
        lines.append(
            "  per length (peerbot / bm25 MRR): "
            + "; ".join(
                f"{p['occupy_days']:g} d {p['peerbot']:.3f} / {p['bm25']:.3f}"
                for p in mean["per_length"]
            )
        )
        lines.extend(_paired_lines(mean.get("paired")))
        lines.extend(_ratio_lines(mean.get("ratio")))
    abl = result.get("ablation")
    if abl:
        lines.append("ablation (static MRR of peerbot with one signal's weight set to 0):")
        for k, v in abl.items():
            lines.append(f"  {k:<28}{v:.4f}")
    return "\n".join(lines) + "\n"


def _paired_lines(paired: Mapping[str, Any] | None) -> list[str]:
    """One line per paired difference: the mean and its 95% interval."""
    if not paired:
        return []
    parts = [
        f"{k} {v['difference']:+.4f} [{v['interval'][0]:+.3f}, {v['interval'][1]:+.3f}]"
        for k, v in paired.items()
        if v
    ]
    return ["paired MRR differences (same asks resampled): " + "; ".join(parts)]


def _ratio_lines(ratios: Mapping[str, Any] | None) -> list[str]:
    """One line of MRR ratios to the baselines, each with its paired 95% interval."""
    if not ratios:
        return []
    parts = [
        f"{k} {v['ratio']:.3f}x [{v['interval'][0]:.3f}, {v['interval'][1]:.3f}]"
        for k, v in ratios.items()
        if v
    ]
    return ["MRR ratios (same asks resampled): " + "; ".join(parts)] if parts else []


def _run(
    args: argparse.Namespace,
    stream: TextIO | None = None,
    *,
    model_path: str | None = None,
    weights: RankerWeights | None = None,
) -> int:
    from peerbot.embeddings import load_embedder

    out = stream or sys.stdout
    embedder = load_embedder(model_path)
    result = run_routing_eval(
        args.data,
        embedder,
        weights,
        embed_words=args.embed_words,
        vectors_cache=getattr(args, "vectors_cache", None),
        learn=not getattr(args, "no_learn", False),
        replayed=not getattr(args, "no_replay", False),
        capacity=getattr(args, "capacity", DEFAULT_CAPACITY),
        occupy_days=getattr(args, "occupy_days", DEFAULT_OCCUPY_DAYS),
        occupy_spread=getattr(args, "occupy_spread", OCCUPY_SPREAD_DAYS),
        draws=getattr(args, "bootstrap", BOOTSTRAP_DRAWS),
        ablation=not getattr(args, "no_ablation", False),
    )
    if args.json:
        out.write(json.dumps(result, indent=2) + "\n")
    else:
        out.write(format_table(result))
    return 0


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    """``peerbot`` handler: the model path and the ranker weights (``RANKER_WEIGHTS``) of the
    settings, read exactly as production reads them."""
    return _run(
        args,
        model_path=settings.embedding_model_path,
        weights=settings.ranker_weights_parsed(),
    )


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``eval routing`` on ``subparsers`` (the top-level subcommands of ``peerbot``).

    Creates the ``eval`` group when absent. Sets ``args.handler(args, settings) -> int`` (model
    path and weights from the settings) and ``args.func(args) -> int`` (defaults).
    """
    group = _group(
        subparsers,
        "eval",
        "offline evaluations",
        "Offline evaluations of peerbot's matching on recorded data (no Slack, no database).",
    )
    p: argparse.ArgumentParser = group.add_parser(
        "routing",
        help="route Stack Exchange questions; compare peerbot with baselines",
        description="Route the asks of a routing JSONL file (shared/data/routing/README.md): "
        "the first 80%% by question id is history, the rest are asks. Prints P@1, MRR, "
        "Recall@5/10 and nDCG@10 of peerbot's ranker (weights learned from the history "
        "part, or the hand-set ones with --no-learn) beside BM25 and popularity, each with a "
        "95%% bootstrap interval; the asks replayed in time order with helper capacity "
        "(MRR, distinct first offers, largest share, Gini); paired intervals against each "
        "baseline; and an ablation of the signals.",
    )
    p.add_argument("--data", required=True, type=Path, help="routing JSONL file")
    p.add_argument("--json", action="store_true", help="one JSON object keyed by ranker")
    p.add_argument(
        "--embed-words", type=int, default=EMBED_WORDS, help="words of each question embedded"
    )
    p.add_argument(
        "--no-learn",
        action="store_true",
        help="rank with the hand-set weights (RANKER_WEIGHTS) instead of learning them",
    )
    p.add_argument(
        "--capacity", type=int, default=DEFAULT_CAPACITY, help="asks a helper takes at a time"
    )
    p.add_argument(
        "--occupy-days",
        type=float,
        default=DEFAULT_OCCUPY_DAYS,
        help="days an accepted first offer occupies the helper's capacity in the replay",
    )
    p.add_argument(
        "--occupy-spread",
        type=float,
        default=OCCUPY_SPREAD_DAYS,
        help=(
            f"the mean replayed figure averages {OCCUPY_STEPS} occupancy lengths from this many "
            "days below --occupy-days to as many above (0: that one length)"
        ),
    )
    p.add_argument("--no-replay", action="store_true", help="skip the replay with capacity")
    p.add_argument("--no-ablation", action="store_true", help="skip the ablation")
    p.add_argument(
        "--bootstrap", type=int, default=BOOTSTRAP_DRAWS, help="bootstrap draws for the intervals"
    )
    p.add_argument(
        "--vectors-cache", type=Path, default=None, help="an .npz file keeping the vectors"
    )
    p.set_defaults(handler=_handle, func=_run)
    return p


def _group(subparsers: Any, name: str, help_text: str, description: str) -> Any:
    """The sub-subparsers of group ``name`` under ``subparsers``, created when missing."""
    choices = getattr(subparsers, "choices", {}) or {}
    parser = choices.get(name)
    if parser is None:
        parser = subparsers.add_parser(name, help=help_text, description=description)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest=f"{name}_command", required=True)
