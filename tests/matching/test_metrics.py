"""Ranking metrics and the Gini coefficient, on hand examples."""

from __future__ import annotations

import math

import pytest

from peerbot.eval.metrics import all_metrics, mean_metrics, ndcg_at, recall_at
from peerbot.matching.scoring import gini


def test_metrics_hand_example() -> None:
    m = all_metrics(["x", "r1", "y", "r2"], {"r1", "r2"})
    assert m["P@1"] == 0.0
    assert m["MRR"] == 0.5
    assert m["Recall@5"] == 1.0
    assert m["Recall@10"] == 1.0
    ideal = 1 + 1 / math.log2(3)
    assert m["nDCG@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert m["nDCG@10"] == pytest.approx(0.650921, abs=1e-6)


def test_metrics_first_hit_and_misses() -> None:
    m = all_metrics(["r", "a", "b"], {"r"})
    assert (m["P@1"], m["MRR"], m["nDCG@10"]) == (1.0, 1.0, 1.0)
    none = all_metrics(["a", "b"], {"r"})
    assert none["MRR"] == 0.0
    assert none["Recall@10"] == 0.0
    ranking = [str(i) for i in range(12)]
    assert recall_at(ranking, {"3", "11"}, 5) == 0.5
    assert ndcg_at(ranking, {"11"}, 10) == 0.0


def test_mean_metrics() -> None:
    rows = [all_metrics(["r"], {"r"}), all_metrics(["a", "r"], {"r"})]
    assert mean_metrics(rows)["MRR"] == pytest.approx(0.75)
    assert mean_metrics([])["MRR"] == 0.0


def test_gini() -> None:
    assert gini([1, 1, 1, 1]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)  # (2*4)/(4*1) - 5/4
    assert gini([1, 3]) == pytest.approx(0.25)  # (2*(1+6))/(2*4) - 3/2
    assert gini([]) == 0.0
    assert gini([0, 0]) == 0.0
