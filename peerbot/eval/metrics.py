"""Ranking metrics with binary relevance."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

METRICS: tuple[str, ...] = ("P@1", "MRR", "Recall@5", "Recall@10", "nDCG@10")


def precision_at_1(ranking: Sequence[str], relevant: Collection[str]) -> float:
    """1 when the first item is relevant, else 0."""
    return 1.0 if ranking and ranking[0] in relevant else 0.0


def reciprocal_rank(ranking: Sequence[str], relevant: Collection[str]) -> float:
    """1 / rank of the first relevant item (0 when none is ranked)."""
    for i, item in enumerate(ranking, start=1):
        if item in relevant:
            return 1.0 / i
    return 0.0


def recall_at(ranking: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant items found in the first ``k``."""
    if not relevant:
        return 0.0
    return sum(1 for item in ranking[:k] if item in relevant) / len(relevant)


def ndcg_at(ranking: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Normalised discounted cumulative gain at ``k`` with binary gain."""
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(ranking[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal


def all_metrics(ranking: Sequence[str], relevant: Collection[str]) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one ranked list."""
    return {
        "P@1": precision_at_1(ranking, relevant),
        "MRR": reciprocal_rank(ranking, relevant),
        "Recall@5": recall_at(ranking, relevant, 5),
        "Recall@10": recall_at(ranking, relevant, 10),
        "nDCG@10": ndcg_at(ranking, relevant, 10),
    }


def mean_metrics(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Per-metric mean over ``rows`` (zeros when empty)."""
    if not rows:
        return dict.fromkeys(METRICS, 0.0)
    return {m: sum(r[m] for r in rows) / len(rows) for m in METRICS}
