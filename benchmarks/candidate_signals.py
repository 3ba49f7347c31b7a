"""Would a new kind of information help the ranker? Candidate signals probed on a routing set.

Issue 17 (session 9). The ceiling study (``ranker_ceiling.py``) showed that no re-weighting of
today's signals puts android beyond popularity: only new information could. This script takes
the ranker as production runs it on the scored asks (its z-scored signals, the weights
``peerbot eval routing`` uses: learned from the history when they win its held-out check, else
hand-set) and adds one candidate signal at a time, z-scored over the candidates like every other
signal, at a few weights (negative ones too: a signal that only helps with a negative weight
says "unlike a helper" and could not be explained as a merit). It prints the static MRR and the
paired 95% bootstrap interval of the difference to the current ranking, and the same with the
asker left out of the candidates (production never offers an ask to its asker; the protocol
keeps them, and on android three self-answered asks rank the asker high).

Every candidate is computed from the history part alone (the protocol's history, frozen at the
cut, as the ranker's own signals are), and each has a product counterpart that peerbot stores:

``own_max`` / ``own_soft`` / ``own_centroid`` / ``own_count`` / ``own_recent``
    The candidate's *own* past asks (questions they asked: in the product, the helper's asks
    as asker): best cosine to the new ask; a soft count as ``semantic_history`` (T 20, floor
    0.2); cosine to their mean; how many; decayed over 30 days. (Only the own asks that were
    helped would be the same set here: every question in these files has an accepted answer.)
``answer_share``
    Helps / (helps + own asks): helps more than asks.
``tie_helped``
    How often the candidate answered this asker before (product: past pairs of the two).
``asker_context``
    The soft count of the candidate's past helps close to the mean of the *asker's* earlier
    asks (what this asker tends to need).
``accepted_share`` / ``first_share``
    Smoothed share of the candidate's answers accepted (product: ratings) / given first.

Run: .venv/bin/python benchmarks/candidate_signals.py --data ../shared/data/routing/dba.jsonl
     [--vectors-cache FILE.npz] [--draws 500] [--no-learn]
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from peerbot.eval import routing
from peerbot.eval.replay import paired_bootstrap
from peerbot.matching import Ask, HybridRanker, RankerWeights
from peerbot.matching.learned import signal_matrix, unit_weights, weights_for
from peerbot.matching.scoring import SIGNALS, standardise

FloatArray = npt.NDArray[np.float64]
TEMPERATURE = 20.0
FLOOR = 0.2
RECENCY_DAYS = 30.0
WEIGHTS = (-0.5, -0.25, 0.1, 0.25, 0.5, 1.0)
#: Candidate signal -> its smallest spread (as ``MIN_SCALE`` of the ranker's signals).
MIN_SCALES: dict[str, float] = {
    "own_max": 0.05,
    "own_soft": 1.0,
    "own_centroid": 0.05,
    "own_count": 0.5,
    "own_recent": 0.5,
    "answer_share": 0.05,
    "tie_helped": 0.5,
    "asker_context": 1.0,
    "accepted_share": 0.05,
    "first_share": 0.05,
}


def _unit(v: npt.ArrayLike) -> npt.NDArray[np.float32]:
    a = np.asarray(v, dtype=np.float32).reshape(-1)
    out: npt.NDArray[np.float32] = a / max(float(np.linalg.norm(a)), 1e-12)
    return out


def _soft(sims: npt.NDArray[Any]) -> float:
    """``semantic_history``'s soft count of similarities (with its floor)."""
    c = math.exp(TEMPERATURE * (FLOOR - 1.0))
    return math.log(c + float(np.maximum(np.exp(TEMPERATURE * (sims - 1.0)) - c, 0.0).sum()))


def _vectors(data: routing.Split, cache: Path | None) -> dict[int, npt.NDArray[np.float32]]:
    """The question vectors, from ``peerbot eval routing``'s cache when it matches."""
    from peerbot.embeddings import load_embedder

    return routing.question_vectors(data, load_embedder(None), vectors_cache=cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="routing JSONL file")
    parser.add_argument("--vectors-cache", type=Path, default=None, help="an .npz of vectors")
    parser.add_argument("--draws", type=int, default=500, help="bootstrap draws")
    parser.add_argument("--no-learn", action="store_true", help="the hand-set weights")
    args = parser.parse_args()

    raw: dict[int, dict[str, Any]] = {}
    with args.data.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                raw[int(row["question_id"])] = row
    data = routing.split(routing.load_questions(args.data))
    vectors = _vectors(data, args.vectors_cache)
    dim = next(iter(vectors.values())).shape[0]
    base = RankerWeights()
    model = None if args.no_learn else routing.learn_weights(data, vectors, dim, base)
    used = np.array([weights_for(model, base).weight(s) for s in SIGNALS])
    index = routing.build_index(data, vectors, "probe", dim, routing._EPOCH)
    ranker = HybridRanker(index, unit_weights(base))
    cset = set(data.candidates)

    # What the history says about each candidate (nothing from the scored asks).
    n_hist = max(1, len(data.history))
    own: dict[str, list[npt.NDArray[np.float32]]] = defaultdict(list)
    own_recent: Counter[str] = Counter()
    by_asker: dict[str, list[npt.NDArray[np.float32]]] = defaultdict(list)
    helped_vecs: dict[str, list[npt.NDArray[np.float32]]] = defaultdict(list)
    helped_pair: Counter[tuple[str, str]] = Counter()
    answers: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    first: Counter[str] = Counter()
    for i, q in enumerate(data.history):
        row = raw[q.question_id]
        u = _unit(vectors[q.question_id])
        asker = str(row["asker_id"])
        by_asker[asker].append(u)
        if asker in cset:
            own[asker].append(u)
            own_recent[asker] += math.exp(-(365.0 * (n_hist - i) / n_hist) / RECENCY_DAYS)
        for j, h in enumerate(dict.fromkeys(str(a) for a in row["answerer_ids"])):
            helped_pair[(h, asker)] += 1
            if h in cset:
                helped_vecs[h].append(u)
                answers[h] += 1
                first[h] += j == 0
                accepted[h] += str(row.get("accepted_answerer_id")) == h
    own_m = {h: np.vstack(v) for h, v in own.items()}
    helped_m = {h: np.vstack(v) for h, v in helped_vecs.items()}

    def columns(ids: list[str], query: npt.NDArray[np.float32], asker: str) -> dict[str, Any]:
        """Every candidate signal's raw value per candidate (NaN: unknown, as in the ranker)."""
        cols: dict[str, list[float]] = defaultdict(list)
        prior = by_asker.get(asker)
        context = _unit(np.mean(prior, axis=0)) if prior else None
        for h in ids:
            m = own_m.get(h)
            sims = m @ query if m is not None else None
            cols["own_max"].append(float(sims.max()) if sims is not None else math.nan)
            cols["own_soft"].append(_soft(sims) if sims is not None else _soft(np.zeros(0)))
            cen = _unit(m.mean(axis=0)) if m is not None else None
            cols["own_centroid"].append(float(cen @ query) if cen is not None else math.nan)
            cols["own_count"].append(math.log1p(len(m) if m is not None else 0))
            r = own_recent[h]
            cols["own_recent"].append(math.log(r) if r > 0 else math.nan)
            n_own = len(m) if m is not None else 0
            cols["answer_share"].append(answers[h] / (answers[h] + n_own))
            cols["tie_helped"].append(math.log1p(helped_pair[(h, asker)]))
            cols["asker_context"].append(_soft(helped_m[h] @ context) if context is not None else 0)
            cols["accepted_share"].append((accepted[h] + 1.0) / (answers[h] + 3.0))
            cols["first_share"].append((first[h] + 1.0) / (answers[h] + 3.0))
        return cols

    mats: list[FloatArray] = []
    rels: list[npt.NDArray[np.intp]] = []
    askers: list[npt.NDArray[np.bool_]] = []
    extra: dict[str, list[FloatArray]] = defaultdict(list)
    for q in data.asks:
        asker = str(raw[q.question_id]["asker_id"])
        scoring = ranker.score(
            Ask(q.text, vectors[q.question_id], routing._EPOCH, topics=frozenset(q.tags))
        )
        ids = list(scoring.scored.ids)
        mats.append(signal_matrix(scoring.scored.contributions, len(ids)))
        relevant = set(q.answerer_ids) & cset
        rels.append(np.asarray([i for i, h in enumerate(ids) if h in relevant], dtype=np.intp))
        askers.append(np.asarray([h == asker for h in ids]))
        for name, col in columns(ids, _unit(vectors[q.question_id]), asker).items():
            z = standardise(np.asarray(col, dtype=np.float64), MIN_SCALES[name])
            extra[name].append(np.zeros(len(ids)) if z is None else z)

    def rrs(add: Callable[[int], FloatArray], drop_asker: bool) -> list[float]:
        out = []
        for k, (m, rel) in enumerate(zip(mats, rels, strict=True)):
            s = m @ used + add(k)
            if drop_asker:
                s = np.where(askers[k], -np.inf, s)
            order = np.argsort(-s, kind="stable")
            out.append(1.0 / (int(np.flatnonzero(np.isin(order, rel))[0]) + 1))
        return out

    learned = (
        model is not None and bool(model.learned) and weights_for(model, base) is model.weights
    )
    print(f"{args.data.name}: {len(mats)} scored asks, {len(data.candidates)} candidates, ", end="")
    print("learned weights" if learned else "hand-set weights")
    now = {d: rrs(lambda k: np.zeros(1), d) for d in (False, True)}
    mrr, left_out = np.mean(now[False]), np.mean(now[True])
    print(f"current ranking MRR {mrr:.4f} (asker left out {left_out:.4f})")
    for name in MIN_SCALES:
        for w in WEIGHTS:
            line = f"{name:15s} {w:+5.2f}:"
            for drop in (False, True):
                rr = rrs(lambda k, n=name, w=w: w * extra[n][k], drop)
                p = paired_bootstrap(rr, now[drop], draws=args.draws)
                lo, hi = p["interval"]
                line += f"  MRR {np.mean(rr):.4f} {p['difference']:+.4f} [{lo:+.3f}, {hi:+.3f}]"
                line += " |" if not drop else ""
            print(line)


if __name__ == "__main__":
    main()
