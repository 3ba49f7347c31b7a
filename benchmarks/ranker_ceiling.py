"""How far re-weighting the ranker's signals could go on a routing data set: an upper bound.

The hybrid ranker's score is ``sum(weight * z)`` over its standardised signals. This script
takes every scored ask's z-scores (all signals on, weight 1) and fits non-negative weights *on
the scored asks themselves* (a softmax over all candidates, the first relevant helper's
probability maximised, small L2). No training on the history can rank those asks better with
these signals, so the figure bounds what any learner of weights can reach, and its paired
interval against each baseline says whether even that would be resolved by the data.

Run: .venv/bin/python benchmarks/ranker_ceiling.py --data ../shared/data/routing/android.jsonl
     [--vectors-cache FILE.npz] [--l2 0.01] [--draws 1000]
Prints the hand-set weights' MRR, the ceiling's MRR and weights, and the paired differences.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from peerbot.eval import routing
from peerbot.eval.replay import paired_bootstrap
from peerbot.matching import Ask, BM25Index, HybridRanker, RankerWeights, tokenize
from peerbot.matching.learned import POLICY_SIGNALS, signal_matrix, unit_weights
from peerbot.matching.scoring import SIGNALS

FloatArray = npt.NDArray[np.float64]
#: Signals the routing data cannot carry (no profiles, ratings, offers, time zones).
ABSENT = frozenset(
    {"semantic_expertise", "rating", "tenure", "timezone", "acceptance", "responsiveness"}
)


def reciprocal_ranks(mats: Sequence[tuple[FloatArray, list[int]]], w: FloatArray) -> FloatArray:
    """Per ask, 1 / rank of the first relevant candidate (ties keep input order, as the eval)."""
    out = []
    for m, rel in mats:
        order = np.argsort(-(m @ w), kind="stable")
        out.append(1.0 / (int(np.flatnonzero(np.isin(order, rel))[0]) + 1))
    return np.asarray(out)


def fit_softmax(
    mats: Sequence[tuple[FloatArray, list[int]]], l2: float, iterations: int = 500
) -> FloatArray:
    """Non-negative weights minimising the mean softmax loss of the relevant candidates plus
    ``l2``: projected gradient descent with a backtracking step (the loss is convex)."""
    n = mats[0][0].shape[1]

    def loss_grad(theta: FloatArray) -> tuple[float, FloatArray]:
        loss, grad = 0.0, np.zeros(n)
        for m, rel in mats:
            s = m @ theta
            s -= s.max()
            p = np.exp(s)
            p /= p.sum()
            loss -= float(np.log(p[rel] + 1e-300).mean())
            grad -= m[rel].mean(axis=0) - p @ m
        k = len(mats)
        return loss / k + 0.5 * l2 * float(theta @ theta), grad / k + l2 * theta

    theta = np.full(n, 0.5)
    value, grad = loss_grad(theta)
    step = 1.0
    for _ in range(iterations):
        while True:
            new = np.maximum(theta - step * grad, 0.0)
            new_value, new_grad = loss_grad(new)
            if new_value <= value - 0.5 / step * float((new - theta) @ (new - theta)) + 1e-12:
                break
            step *= 0.5
            if step < 1e-8:
                return theta
        if float(np.abs(new - theta).max()) < 1e-6:
            return new
        theta, value, grad = new, new_value, new_grad
        step *= 2.0
    return theta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="routing JSONL file")
    parser.add_argument("--vectors-cache", type=Path, default=None, help="an .npz of vectors")
    parser.add_argument("--l2", type=float, default=0.01, help="L2 penalty of the fit")
    parser.add_argument("--draws", type=int, default=1000, help="bootstrap draws")
    args = parser.parse_args()

    from peerbot.embeddings import load_embedder

    data = routing.split(routing.load_questions(args.data))
    embedder = load_embedder(None)
    vectors = routing.question_vectors(data, embedder, vectors_cache=args.vectors_cache)

    index = routing.build_index(
        data, vectors, embedder.model_name, embedder.dimension, routing._EPOCH
    )
    ranker = HybridRanker(index, unit_weights(RankerWeights()))
    cset = set(data.candidates)
    mats: list[tuple[FloatArray, list[int]]] = []
    for q in data.asks:
        scoring = ranker.score(
            Ask(q.text, vectors[q.question_id], routing._EPOCH, topics=frozenset(q.tags))
        )
        helpers = list(scoring.scored.ids)
        relevant = set(q.answerer_ids) & cset
        mats.append(
            (
                signal_matrix(scoring.scored.contributions, len(helpers)),
                [i for i, h in enumerate(helpers) if h in relevant],
            )
        )
    cols = [k for k, s in enumerate(SIGNALS) if s not in ABSENT | POLICY_SIGNALS]
    hand = np.array([RankerWeights().weight(s) for s in SIGNALS])
    fitted = np.zeros(len(SIGNALS))
    fitted[cols] = fit_softmax([(m[:, cols], rel) for m, rel in mats], args.l2)

    slot = {c: i for i, c in enumerate(data.candidates)}
    bm25 = BM25Index()
    for q in data.history:
        for a in dict.fromkeys(q.answerer_ids):
            if a in cset:
                bm25.add(slot[a], tokenize(q.text))
    counts = np.array([data.help_counts[c] for c in data.candidates], dtype=np.float64)
    baselines: dict[str, list[float]] = {"popularity": [], "bm25": []}
    for q in data.asks:
        relevant_slots = [slot[a] for a in set(q.answerer_ids) & cset]
        for name, scores in (
            ("popularity", counts),
            ("bm25", bm25.score(tokenize(q.text), len(data.candidates))),
        ):
            order = np.argsort(-scores, kind="stable")
            baselines[name].append(
                1.0 / (int(np.flatnonzero(np.isin(order, relevant_slots))[0]) + 1)
            )

    hand_rr = reciprocal_ranks(mats, hand)
    ceiling_rr = reciprocal_ranks(mats, fitted)
    print(f"{args.data.name}: {len(mats)} scored asks, {len(data.candidates)} candidates")
    print(f"hand-set weights        MRR {hand_rr.mean():.4f}")
    print(f"fitted on the asks      MRR {ceiling_rr.mean():.4f} (the ceiling of re-weighting)")
    print("  weights: " + ", ".join(f"{SIGNALS[k]} {fitted[k]:.2f}" for k in cols))
    for name, rr in baselines.items():
        p = paired_bootstrap(list(ceiling_rr), rr, draws=args.draws)
        lo, hi = p["interval"]  # type: ignore[misc]
        print(
            f"ceiling - {name:<10} {p['difference']:+.4f} [{lo:+.3f}, {hi:+.3f}] "
            f"({name} MRR {np.mean(rr):.4f})"
        )


if __name__ == "__main__":
    main()
