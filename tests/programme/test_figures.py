"""Every programme figure against a hand-built history, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from peerbot.services.programme import FEWER, Period, categorise_pass, cell, figures
from tests.programme.history import EXPECTED, NOW, SECRET_QUESTION, SINCE, TEAM, build_history


def test_every_figure_matches_the_hand_built_history(db_session: Session) -> None:
    build_history(db_session)
    got = figures(db_session, TEAM, Period.from_date(SINCE, NOW)).to_json()
    for key, want in EXPECTED.items():
        assert got[key] == want, key


def test_without_since_the_october_ask_counts(db_session: Session) -> None:
    build_history(db_session)
    got = figures(db_session, TEAM, Period.from_date(None, NOW)).to_json()
    assert got["asks"] == 13
    assert got["unmet"] == 9
    assert got["unmet_by_topic"]["conflict"] == 7
    assert got["match_rate"] == round(3 / 13, 3)


def test_topics_and_supply_gaps_follow_the_fewer_than_5_rule(db_session: Session) -> None:
    build_history(db_session)
    got = figures(db_session, TEAM, Period.from_date(SINCE, NOW)).to_json()
    topics = {t["topic"]: t for t in got["topics"]}
    assert topics["conflict"] == {
        "topic": "conflict", "label": "Conflict in the team", "asks": 6, "unmet": 6, "helpers": 5
    }  # fmt: skip
    assert topics["hiring"]["asks"] == FEWER
    assert topics["hiring"]["helpers"] == FEWER
    assert topics["delegation"]["unmet"] == 0
    # the biggest gap first: most unmet asks, then fewest helpers
    assert [g["topic"] for g in got["supply_gaps"]] == ["conflict", "hiring", "(no topic)"]


def test_nothing_confidential_is_in_the_figures(db_session: Session) -> None:
    build_history(db_session)
    text = json.dumps(figures(db_session, TEAM, Period.from_date(None, NOW)).to_json())
    assert "Zorblax" not in text
    assert SECRET_QUESTION not in text
    assert "Name A" not in text  # no asker names
    assert "Too busy" not in text and "Outside my area" not in text  # pass reasons: categories


def test_an_empty_programme(db_session: Session) -> None:
    got = figures(db_session, "T_EMPTY", Period.from_date(None, NOW)).to_json()
    assert got["asks"] == 0
    assert got["intros"] == 0
    for key in (
        "match_rate",
        "median_hours_to_intro",
        "acceptance_rate",
        "checkin_completion",
        "mean_rating",
    ):
        assert got[key] is None, key
    assert got["unmet_by_topic"] == {}
    assert set(got["funnel"].values()) == {0}
    assert got["helpers"] == 0
    assert got["supply_gaps"] == []


def test_other_workspaces_are_never_counted(db_session: Session) -> None:
    build_history(db_session)
    got = figures(db_session, "T_OTHER", Period.from_date(None, NOW)).to_json()
    assert got["asks"] == 2
    assert got["intros"] == 1
    assert got["unmet_by_topic"] == {"conflict": FEWER}


@pytest.mark.parametrize(
    ("count", "people", "shown"),
    [(0, 0, 0), (4, 4, FEWER), (9, 4, FEWER), (5, 5, 5), (12, 5, 12)],
)
def test_the_fewer_than_5_rule(count: int, people: int, shown: object) -> None:
    assert cell(count, people) == shown


def test_pass_reason_categories() -> None:
    assert categorise_pass(None) == "no reason given"
    assert categorise_pass("  ") == "no reason given"
    assert categorise_pass("Travelling all week, sorry!") == "busy"
    assert categorise_pass("Not my area of expertise") == "not my area"
    assert categorise_pass("I know them too well, conflict") == "conflict of interest"
    assert categorise_pass("🤷") == "other"
