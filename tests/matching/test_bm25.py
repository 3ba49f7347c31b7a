"""BM25 against hand-computed values."""

from __future__ import annotations

import math

import pytest

from peerbot.matching.bm25 import BM25Index, tokenize


def _index() -> BM25Index:
    bm = BM25Index(k1=1.2, b=0.75)
    bm.add(0, ["a", "b"])
    bm.add(1, ["a", "c", "c"])
    return bm


def test_tokenize_lowercases_and_splits_punctuation() -> None:
    assert tokenize("Low-performer, 1:1s_now!") == ["low", "performer", "1", "1s", "now"]


def test_scores_match_hand_computation() -> None:
    bm = _index()
    # N=2, avgdl=2.5. "c": n=1, idf=ln(1+1.5/1.5)=ln 2; doc 1: tf=2, dl=3.
    norm1 = 1.2 * (1 - 0.75 + 0.75 * 3 / 2.5)
    expected_c = math.log(2) * 2 * 2.2 / (2 + norm1)
    # "a": n=2, idf=ln(1+0.5/2.5)=ln 1.2; doc 0: tf=1, dl=2.
    norm0 = 1.2 * (1 - 0.75 + 0.75 * 2 / 2.5)
    expected_a0 = math.log(1.2) * 1 * 2.2 / (1 + norm0)
    expected_a1 = math.log(1.2) * 1 * 2.2 / (1 + norm1)
    s = bm.score(["c", "a", "c"], 2)  # repeated query terms count once
    assert s[0] == pytest.approx(expected_a0)
    assert s[1] == pytest.approx(expected_c + expected_a1)
    assert expected_c == pytest.approx(0.902322, abs=1e-6)
    assert bm.term_contributions(["a", "c"], 1) == pytest.approx(
        {"a": expected_a1, "c": expected_c}
    )


def test_unknown_terms_and_empty_index_score_zero() -> None:
    assert BM25Index().score(["x"], 3).tolist() == [0.0, 0.0, 0.0]
    assert _index().score(["zzz"], 2).tolist() == [0.0, 0.0]


def test_incremental_changes_equal_fresh_build() -> None:
    bm = _index()
    bm.add(2, ["c", "d"])
    bm.add(0, ["c"])
    bm.remove(1)
    bm.replace(2, ["d", "d", "a"])
    fresh = BM25Index()
    fresh.add(0, ["a", "b", "c"])
    fresh.add(2, ["d", "d", "a"])
    q = ["a", "c", "d"]
    assert bm.score(q, 3).tolist() == pytest.approx(fresh.score(q, 3).tolist())
    assert len(bm) == 2
    assert bm.average_length == pytest.approx(3.0)
