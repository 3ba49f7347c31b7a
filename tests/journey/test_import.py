"""`peerbot helpers import`: good, duplicate and broken rows; running twice changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from peerbot.cli import main
from peerbot.sandbox import SlackEmulator
from peerbot.store.db import create_engine_for, session_factory, unit_of_work
from peerbot.store.models import HelperProfile, Person


def test_csv_import(
    db_url: str,
    slack_emulator: SlackEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    real_embedder: object,
) -> None:
    emu = slack_emulator
    ann = emu.add_user("ann", email="ann@example.com", tz="Europe/Berlin")
    boss = emu.add_user("boss", email="boss@example.com")
    bob = emu.add_user("bob", email="bob@example.com")
    emu.add_user("gone", email="gone@example.com", deleted=True)
    csv_file = tmp_path / "helpers.csv"
    csv_file.write_text(
        "email,slack_user_id,expertise,topics,years_managing,function,manager_email,capacity\n"
        "ann@example.com,,Coached five first-time managers through their first year,"
        "first-time-manager;Hiring and interviewing,8,Engineering,boss@example.com,3\n"
        f",{bob},Handled two re-orgs and a layoff with care for the people,reorg,12,Sales,,\n"
        "ANN@example.com,,Duplicate row of ann written again,feedback,8,Engineering,,2\n"
        "nobody@example.com,,Someone who does not exist in Slack at all,,3,,,\n"
        "gone@example.com,,Deactivated account but still listed in the file,,3,,,\n"
        "not-an-email,,Bad address in the email column of the file,,3,,,\n"
        "carol@example.com,,Too many years,,nine,,,\n"
        ",,,,,,,\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SLACK_BOT_TOKEN", emu.bot_token)
    monkeypatch.setenv("SLACK_API_URL", emu.api_url)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)

    assert main(["helpers", "import", str(csv_file)]) == 1
    out = capsys.readouterr()
    assert "imported 2, unchanged 0, not imported 6 (of 8 rows)" in out.out
    assert "invited 2, already helping 0, declined 0" in out.out
    assert "8/8 rows" in out.err  # progress
    for line, reason in [
        (4, "duplicate of line 2"),
        (5, "unknown or deactivated"),
        (6, "unknown or deactivated"),
        (7, "email is not an email address"),
        (8, "whole numbers"),
        (9, "no email or slack_user_id"),
    ]:
        assert f"line {line} " in out.out
        assert reason in next(x for x in out.out.splitlines() if f"line {line} " in x)

    assert main(["helpers", "import", str(csv_file)]) == 1
    assert "imported 0, unchanged 2, not imported 6" in capsys.readouterr().out

    engine = create_engine_for(db_url)
    try:
        with unit_of_work(session_factory(engine)) as s:
            people = {p.slack_user_id: p for p in s.scalars(select(Person))}
            assert set(people) >= {ann, bob}
            assert people[ann].manager_slack_user_id == boss
            assert people[ann].tz == "Europe/Berlin"
            profile = s.get(HelperProfile, people[ann].id)
            assert profile is not None
            # Invited, not enrolled: nobody is offered an ask before saying yes (issue 12).
            assert not profile.opted_in and profile.consent == "invited"
            assert profile.capacity == 3 and profile.years_managing == 8
            assert profile.topics == ["first-time-manager", "hiring"]
            assert len(s.scalars(select(HelperProfile)).all()) == 2
    finally:
        engine.dispose()
