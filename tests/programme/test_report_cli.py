"""`peerbot report` prints the same figures as the programme view, as text and as JSON."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from peerbot.cli import main
from tests.programme.history import EXPECTED, TEAM, build_history


def _seed(engine: Engine) -> None:
    with Session(engine) as session:
        build_history(session)
        session.commit()


def test_report_json_has_the_figures(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(engine)
    monkeypatch.setenv("DATABASE_URL", db_url)
    # the history ends on 2026-11-20: anything after it adds nothing
    assert main(["report", "--team", TEAM, "--since", "2026-11-01", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in (
        "asks", "intros", "match_rate", "median_hours_to_intro", "acceptance_rate",
        "checkin_completion", "mean_rating", "unmet_by_topic", "funnel", "pass_reasons",
    ):  # fmt: skip
        assert data[key] == EXPECTED[key], key
    assert "Zorblax" not in json.dumps(data)


def test_report_text_and_errors(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(engine)
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["report", "--team", TEAM]) == 0
    out = capsys.readouterr().out
    assert "asks: 13" in out
    assert "match rate: 0.231" in out
    assert "conflict: 7" in out
    assert "hiring: fewer than 5" in out
    with pytest.raises(SystemExit):
        main(["report", "--team", TEAM, "--since", "yesterday"])
    assert "not a date" in capsys.readouterr().err
