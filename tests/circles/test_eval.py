"""`peerbot circles eval`: the real model on a small labelled file groups by label far better
than chance; the shared manager questions give the figures the README reports."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from peerbot.circles.evaluate import DataError, load_rows, run_eval
from peerbot.domain.ports import Embedder
from tests.fixtures.shared import shared_path

LABELLED = {
    "delegation": [
        "Delegating to my senior reports without losing track of quality",
        "I struggle to delegate and end up doing the work myself",
        "Learning to hand over ownership of projects to my tech leads",
        "How to stop micromanaging and let my team leads decide",
        "Delegating more so I can focus on strategy",
        "Trusting experienced reports with decisions I used to make",
    ],
    "feedback": [
        "Giving hard feedback to an underperforming team member",
        "Difficult performance conversations without damaging trust",
        "Telling a long-tenured report their work is not good enough",
        "Giving critical feedback to someone who gets defensive",
        "Running a performance improvement plan conversation",
        "Honest negative feedback in a one-to-one",
    ],
    "hiring": [
        "Hiring senior engineers in a tight market",
        "Reducing bias in our interview loop",
        "Building a hiring pipeline for my first team",
        "Choosing between two strong candidates for a lead role",
        "Closing offers with candidates who have competing offers",
        "Designing a fair take-home exercise for interviews",
    ],
}


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    path = tmp_path / "circles.jsonl"
    rows = [
        {"id": f"{label}-{i}", "text": text, "label": label, "function": ["Eng", "Sales"][i % 2]}
        for label, texts in LABELLED.items()
        for i, text in enumerate(texts)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_eval_json_on_a_labelled_file(labelled: Path, real_embedder: Embedder) -> None:
    out = io.StringIO()
    assert run_eval(labelled, real_embedder, size=6, stream=out, as_json=True) == 0
    result = json.loads(out.getvalue())
    assert set(result) == {
        "circles", "min_size", "max_size", "coherence", "function_mix", "purity",
    }  # fmt: skip
    assert result["circles"] == 3 and result["min_size"] == result["max_size"] == 6
    assert result["purity"]["peerbot"] >= 0.8 > 0.6 > result["purity"]["random"]
    assert result["coherence"]["peerbot"] > result["coherence"]["random"] + 0.1
    assert result["function_mix"]["peerbot"] == 2.0


def test_eval_text_and_size(labelled: Path, real_embedder: Embedder) -> None:
    out = io.StringIO()
    assert run_eval(labelled, real_embedder, size=4, stream=out, as_json=False) == 0
    text = out.getvalue()
    assert "circles 4 (sizes 4–5)" in text and "label purity: peerbot" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "holds no rows"),
        ("not json\n", "line 1: not JSON"),
        ('{"id": 1}\n', "line 1: needs an object with 'id' and 'text'"),
        ('{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', "line 2: id '1' appears twice"),
    ],
)
def test_bad_data_is_named_by_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_rows(path)


def test_the_shared_manager_questions_load() -> None:
    rows = load_rows(shared_path("data", "manager_questions.jsonl"))
    assert len(rows) > 100 and all(r.text for r in rows)
