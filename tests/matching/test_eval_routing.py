"""The quality gate: peerbot's ranker against the baselines on real routing data (real model)."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from peerbot.domain.ports import Embedder
from peerbot.embeddings import HashingEmbedder
from peerbot.eval import bench, routing
from peerbot.eval.metrics import METRICS
from peerbot.matching.scoring import RankerWeights, weights_from_settings
from tests.fixtures.shared import shared_path

TINY = [
    {
        "question_id": i,
        "title": t,
        "body": "",
        "tags": [],
        "asker_id": "q",
        "answerer_ids": a,
        "accepted_answerer_id": a[0],
        "answer_ids": [],
    }
    for i, (t, a) in enumerate(
        [
            ("index tuning slow query", ["A", "B"]),
            ("backup restore failed", ["C"]),
            ("slow query plan index", ["A"]),
            ("restore backup from dump", ["C", "B"]),
            ("replication lag", ["D"]),
            ("index rebuild slow", ["A"]),
            ("backup schedule", ["C"]),
            ("query optimizer index hint", ["A"]),
            ("point in time restore backup", ["C"]),
            ("slow index scan", ["A", "C"]),
        ],
        start=1,
    )
]


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in TINY) + "\n", encoding="utf-8")
    return p


def test_protocol_split_on_tiny_file(tiny_file: Path) -> None:
    data = routing.split(routing.load_questions(tiny_file))
    assert [q.question_id for q in data.history] == list(range(1, 9))
    assert data.candidates == ["A", "C"]  # B has 2 answers in the history, D one
    assert [q.question_id for q in data.asks] == [9, 10]


def test_eval_runs_through_production_ranker(tiny_file: Path) -> None:
    result = routing.run_routing_eval(tiny_file, HashingEmbedder(64), RankerWeights())
    assert set(routing.RANKERS) <= set(result)
    for name in routing.RANKERS:
        assert set(result[name]) == set(METRICS)
    assert result["peerbot"]["MRR"] >= 0.5
    assert result["bm25"]["MRR"] == 1.0
    assert 0.0 <= result["info"]["first_offer_gini"]["peerbot"] <= 1.0


def test_cli_json_and_table(tiny_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import peerbot.embeddings

    monkeypatch.setattr(peerbot.embeddings, "load_embedder", lambda *_: HashingEmbedder(64))
    parser = argparse.ArgumentParser(prog="peerbot")
    sub = parser.add_subparsers(dest="command", required=True)
    routing.add_cli(sub)
    bench.add_cli(sub)
    args = parser.parse_args(["eval", "routing", "--data", str(tiny_file), "--json"])
    out = io.StringIO()
    assert routing._run(args, out) == 0
    doc = json.loads(out.getvalue())
    assert set(doc) == {"peerbot", "bm25", "popularity", "info"}
    assert set(doc["peerbot"]) == {"P@1", "MRR", "Recall@5", "Recall@10", "nDCG@10"}
    args = parser.parse_args(["eval", "routing", "--data", str(tiny_file)])
    out = io.StringIO()
    routing._run(args, out)
    assert "peerbot" in out.getvalue()
    assert "Gini" in out.getvalue()
    args = parser.parse_args(["eval", "routing", "--data", str(tiny_file), "--json"])
    settings = SimpleNamespace(embedding_model_path=None, ranker_recency=0.0)
    assert args.handler(args, settings) == 0
    args = parser.parse_args(["bench", "match", "--sizes", "50", "--runs", "3"])
    out = io.StringIO()
    assert bench._run(args, out) == 0
    assert "rank      50 helpers" in out.getvalue()
    assert "embed one ask" in out.getvalue()


def test_weights_from_settings() -> None:
    w = weights_from_settings(SimpleNamespace(ranker_lexical=0.5, ranker_fairness=None))
    assert w.lexical == 0.5
    assert w.fairness == RankerWeights().fairness


@pytest.mark.model
@pytest.mark.shared
@pytest.mark.parametrize(("site", "factor"), [("dba", 1.15), ("android", 1.0)])
def test_quality_gate(real_embedder: Embedder, site: str, factor: float) -> None:
    path = shared_path("data", "routing", f"{site}.jsonl")
    result = routing.run_routing_eval(path, real_embedder, RankerWeights())
    best_baseline = max(result["bm25"]["MRR"], result["popularity"]["MRR"])
    assert result["peerbot"]["MRR"] >= factor * best_baseline, result
