"""Where the replay of ``peerbot eval routing`` loses MRR: a breakdown of peerbot's replay.

The replay sends the asks in time order through the rules and the ranker; each first offer is
accepted and holds one of the helper's slots for ``--occupy-days``, and the fairness term sees
the offers made in the fairness window so far (:func:`peerbot.eval.replay.replay`). At
``--occupy-days`` this prints, per group of asks (every answerer at capacity / some / none),
the sum of reciprocal ranks static (no capacity), replayed, and replayed with the load terms
(capacity, fairness, acceptance) at 0 on the same state (what those terms cost in the ranking
of that ask, the state held fixed); how many first offers went to one of the ask's answerers;
and the helpers most often behind an all-busy ask, with their first offers to asks they
answered and to asks they did not. Then the replayed MRR at each of ``--lengths`` and their
mean (one replay is one draw of a chaotic process: the spread over lengths is its noise).

``--weights '{"fairness": 2}'`` and ``--fairness-window DAYS`` measure a variant; ``--learn``
ranks with the weights ``peerbot eval routing`` would use (learned when they win the held-out
history), else the hand-set ones.

Run: .venv/bin/python benchmarks/replay_losses.py --data ../shared/data/routing/dba.jsonl
     [--vectors-cache FILE.npz] [--lengths 6,6.5,7,7.5,8] [--learn]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np

from peerbot.eval import routing
from peerbot.eval.replay import FAIRNESS_WINDOW, ReplayAsk, replay
from peerbot.matching import (
    Ask,
    HelperFacts,
    HelperIndex,
    RankerWeights,
    RulesThenHybrid,
    Snapshot,
)
from peerbot.matching.learned import weights_for
from peerbot.matching.matcher import RankedList

LOAD_TERMS = {"capacity": 0.0, "fairness": 0.0, "acceptance": 0.0}


def reciprocal_rank(ranking: Sequence[str], relevant: frozenset[str]) -> float:
    """1 / the rank of the first relevant helper (0 when none is ranked)."""
    for i, u in enumerate(ranking):
        if u in relevant:
            return 1.0 / (i + 1)
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="routing JSONL file")
    parser.add_argument("--vectors-cache", type=Path, default=None, help="an .npz of vectors")
    parser.add_argument("--occupy-days", type=float, default=7.0, help="the broken-down replay")
    parser.add_argument("--lengths", default="6,6.5,7,7.5,8", help="occupancy lengths (days)")
    parser.add_argument("--weights", default="{}", help="JSON overrides of the ranker weights")
    parser.add_argument("--fairness-window", type=float, default=None, help="days")
    parser.add_argument("--learn", action="store_true", help="the eval's learned weights")
    parser.add_argument("--top", type=int, default=8, help="helpers listed")
    args = parser.parse_args()

    from peerbot.embeddings import load_embedder

    data = routing.split(routing.load_questions(args.data))
    embedder = load_embedder(None)
    vectors = routing.question_vectors(data, embedder, vectors_cache=args.vectors_cache)
    model, dim = embedder.model_name, embedder.dimension

    weights = RankerWeights()
    if args.learn:
        weights = weights_for(routing.learn_weights(data, vectors, dim, weights), weights)
    weights = replace(weights, **{k: float(v) for k, v in json.loads(args.weights).items()})
    window = timedelta(days=args.fairness_window) if args.fairness_window is not None else None
    cset = set(data.candidates)
    relevant = [frozenset(a for a in q.answerer_ids if a in cset) for q in data.asks]
    times = routing.ask_times(data)
    asks = [
        ReplayAsk(
            times[q.question_id],
            Ask(q.text, vectors[q.question_id], times[q.question_id], topics=frozenset(q.tags)),
            rel,
        )
        for q, rel in zip(data.asks, relevant, strict=True)
    ]
    base = {c: HelperFacts(helps_given=data.help_counts[c]) for c in data.candidates}

    def fresh_index() -> HelperIndex:
        # The replay syncs its facts into the index: each run starts from the history alone.
        return routing.build_index(data, vectors, model, dim, routing._EPOCH)

    static = routing._static_rankings(data, fresh_index(), vectors, weights)

    def run(days: float, log: list[tuple[list[str], list[str], set[str]]] | None) -> list[float]:
        index = fresh_index()
        prod, bare = RulesThenHybrid(weights), RulesThenHybrid(replace(weights, **LOAD_TERMS))

        def rank(s: Snapshot) -> list[str]:
            got = prod.rank(index, s)
            ranking = got.helper_ids() if isinstance(got, RankedList) else []
            if log is not None:
                alt = bare.rank(index, s)
                busy = {
                    c.user_id
                    for c in s.helpers
                    if (c.facts.capacity_used or 0) >= (c.facts.capacity_total or 0)
                }
                log.append((ranking, alt.helper_ids() if isinstance(alt, RankedList) else [], busy))
            return ranking

        extra = {"fairness_window": window} if window is not None else {}
        res = replay(asks, data.candidates, base, rank, occupy_days=days, **extra)
        if log is not None:
            hits = Counter(f for f, a in zip(res.firsts, asks, strict=True) if f in a.relevant)
            missed = Counter(
                f for f, a in zip(res.firsts, asks, strict=True) if f and f not in a.relevant
            )
            groups: dict[str, list[float]] = {}
            blame: Counter[str] = Counter()
            for k, (ranking, alt, busy) in enumerate(log):
                rel = asks[k].relevant
                group = "all busy" if rel <= busy else ("some busy" if rel & busy else "none busy")
                if rel <= busy:
                    blame.update(rel)
                g = groups.setdefault(group, [0.0, 0.0, 0.0, 0.0])
                g[0] += 1
                g[1] += reciprocal_rank(static[k], rel)
                g[2] += reciprocal_rank(ranking, rel)
                g[3] += reciprocal_rank(alt, rel)
            print(f"replay at {days} days, weights {weights}")
            print(f"fairness window {window or FAIRNESS_WINDOW}")
            print("answerers at capacity | asks | sum RR static | replayed | load terms at 0")
            for name in ("none busy", "some busy", "all busy"):
                n, s_rr, r_rr, a_rr = groups.get(name, [0.0] * 4)
                print(f"{name:>21} | {n:4.0f} | {s_rr:13.1f} | {r_rr:8.1f} | {a_rr:15.1f}")
            print(
                f"first offers to an answerer of the ask: {sum(hits.values())}, "
                f"to someone else: {sum(missed.values())}"
            )
            print("helper | all-busy asks | asks answered | first offers answered / not")
            for u, c in blame.most_common(args.top):
                answered = sum(1 for a in asks if u in a.relevant)
                print(f"{u} | {c} | {answered} | {hits[u]} / {missed[u]}")
        return [r["MRR"] for r in res.rows]

    run(args.occupy_days, [])
    per = {float(d): run(float(d), None) for d in args.lengths.split(",")}
    for d, rr in per.items():
        print(f"replayed MRR at {d} days: {np.mean(rr):.4f}")
    print(f"mean over the lengths (each ask's RR averaged): {np.mean(list(per.values())):.4f}")


if __name__ == "__main__":
    main()
