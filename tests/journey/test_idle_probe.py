"""The idle probe of `peerbot jobs run-due` (``scheduling.idle_probe``): each kind of due work,
made by the real services, makes it say "due" (a probe that missed one would leave that work
undone by cron); every tick part has its conditions; the command answers a quiet minute without
importing SQLAlchemy and runs the full tick when something is due.

The other half of its promise (when it says "nothing due", the full tick does nothing) is checked
on every tick of every journey test: ``Harness.tick`` (tests/fixtures/app.py)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from peerbot.config import Settings
from peerbot.domain import due_rules, notices
from peerbot.domain.ports import Embedder
from peerbot.scheduling.idle_probe import (
    DEFAULTS,
    PARTS,
    PROBE_SCHEMA,
    QUIET_SUMMARY,
    Unknown,
    due_now,
    target_of,
)
from peerbot.scheduling.jobs import Tick, TickReport
from peerbot.services import messages
from peerbot.services.people import ensure_workspace, mark_unreachable, upsert_person
from peerbot.store import outbox as queue
from peerbot.store.db import unit_of_work
from peerbot.store.models import Ask, MatchingVersion, OutboxMessage, Pair, PairStatus
from tests.fixtures.app import Harness, make_harness
from tests.journey.test_accountability import paired
from tests.journey.test_ask_accept import seed_helpers
from tests.journey.test_circles import join

ROOT = Path(__file__).resolve().parents[2]
CHALLENGE = "How do I give hard feedback to a senior engineer about his behaviour?"
WEDNESDAY = timedelta(days=2)  # from the harness's Monday: the digest's window is shut


def _offer_pending(h: Harness) -> None:
    seed_helpers(h)
    h.ask(h.add_user("ann"), CHALLENGE)


def _pair_id(h: Harness) -> int:
    with unit_of_work(h.container.sessions) as s:
        return int(s.scalars(select(Pair.id)).one())


def make_stranded_matching(h: Harness, mp: pytest.MonkeyPatch) -> None:
    # The worker stops between saving the ask and matching it.
    mp.setattr(h.container.asks, "match", lambda *a, **k: False)
    seed_helpers(h)
    h.ask(h.add_user("ann"), CHALLENGE)


def make_stranded_offered(h: Harness, mp: pytest.MonkeyPatch) -> None:
    _offer_pending(h)
    # The worker stops after the expiry commits, before moving the ask on.
    mp.setattr(h.container.asks, "move_on", lambda ids: 0)
    h.clock.advance(timedelta(hours=5))
    h.container.asks.expire_due()


def make_offers_expired(h: Harness, mp: pytest.MonkeyPatch) -> None:
    _offer_pending(h)
    h.clock.advance(timedelta(hours=5))  # past 4 working hours


def make_asks_waiting(h: Harness, mp: pytest.MonkeyPatch) -> None:
    asker = h.add_user("ann")
    h.ask(asker, CHALLENGE)  # nobody can help: unmet
    with unit_of_work(h.container.sessions) as s:
        ask_id = s.scalars(select(Ask.id)).one()
    h.container.asks.wait_for_helper(h.team, ask_id, asker)
    h.settle()


def make_checkins(h: Harness, mp: pytest.MonkeyPatch) -> None:
    paired(h)
    h.clock.advance(timedelta(days=8))


def make_meeting_checks(h: Harness, mp: pytest.MonkeyPatch) -> None:
    paired(h)
    h.clock.advance(timedelta(days=6))  # three working days, from a Wednesday


def make_commitment_reminders(h: Harness, mp: pytest.MonkeyPatch) -> None:
    asker, _ = paired(h)
    due = (h.clock.now() + timedelta(days=3)).date()
    r = h.container.pairs.add_commitment(h.team, _pair_id(h), asker, "Talk to Sam", due, "k1")
    assert r == "ok", r
    h.settle()
    h.clock.advance(timedelta(days=3, hours=12))


def make_old_slack_ids(h: Harness, mp: pytest.MonkeyPatch) -> None:
    assert h.container.deduper.first_time(h.team, "event", "Ev1")
    h.clock.advance(due_rules.KEEP_FOR + timedelta(minutes=1))


def make_feed_prune(h: Harness, mp: pytest.MonkeyPatch) -> None:
    h.add_helper("fiona", "Gave hard feedback to senior engineers about behaviour.")
    # 50,001 helper changes would take a while: the change number moved on as they would.
    with unit_of_work(h.container.sessions) as s:
        s.execute(update(MatchingVersion).values(version=MatchingVersion.version + 1 + 50_000))


def make_unreachable_recheck(h: Harness, mp: pytest.MonkeyPatch) -> None:
    uid = h.add_user("ann")
    with unit_of_work(h.container.sessions) as s:
        person = upsert_person(s, h.team, uid, h.clock.now())
        mark_unreachable(s, person, "messages_tab_disabled", h.clock.now())
    h.clock.advance(due_rules.RECHECK_AFTER + timedelta(minutes=1))


def make_removed_workspaces(h: Harness, mp: pytest.MonkeyPatch) -> None:
    h.add_user("ann")
    h.container.privacy.workspace_removed(h.team, "app_uninstalled")
    h.clock.advance(timedelta(days=31))


def make_retention_asks(h: Harness, mp: pytest.MonkeyPatch) -> None:
    asker = h.add_user("ann")
    h.ask(asker, CHALLENGE)  # nobody can help: unmet, ended
    h.clock.advance(timedelta(days=366))


def _circle(h: Harness, size: int = 4) -> None:
    users = [h.add_user(f"c{i}", tz="Europe/Berlin") for i in range(size)]
    for uid in users:
        join(h, uid, "Leading a team through a reorganisation and layoffs", "Operations")
    report = h.container.circles.form_round(h.team)  # type: ignore[union-attr]
    h.settle()
    assert report.sizes == [size]


def make_retention_circles(h: Harness, mp: pytest.MonkeyPatch) -> None:
    _circle(h)
    h.clock.advance(timedelta(weeks=7))
    h.tick()  # closes it
    h.settle()
    h.clock.advance(timedelta(days=366))


def make_retention_outbox(h: Harness, mp: pytest.MonkeyPatch) -> None:
    _offer_pending(h)  # messages sent
    h.clock.advance(timedelta(days=31))


def make_circle_rounds(h: Harness, mp: pytest.MonkeyPatch) -> None:
    for i in range(4):
        join(h, h.add_user(f"c{i}"), "Leading a team through a reorganisation", "Operations")
    h.clock.advance(timedelta(weeks=4, minutes=1))


def make_circle_channels(h: Harness, mp: pytest.MonkeyPatch) -> None:
    h.emulator.inject_error("conversations.create", times=None)
    _circle(h, size=10)  # 10 meet in a private channel, not made yet


def make_circle_steps(h: Harness, mp: pytest.MonkeyPatch) -> None:
    _circle(h)
    h.clock.advance(timedelta(days=8))  # the first prompt


def make_digest(h: Harness, mp: pytest.MonkeyPatch) -> None:
    with unit_of_work(h.container.sessions) as s:
        ensure_workspace(s, h.team, h.clock.now())
    h.clock.advance(timedelta(days=5))  # Monday again


def make_ranker_refresh(h: Harness, mp: pytest.MonkeyPatch) -> None:
    from tests.journey.test_learned_ranker import _history

    _history(h.container.engine, h.team, due_rules.MIN_TRAINING_ASKS + 5)


def make_outbox_due(h: Harness, mp: pytest.MonkeyPatch) -> None:
    uid = h.add_user("ann")
    with unit_of_work(h.container.sessions) as s:
        messages.post(
            s,
            team_id=h.team,
            key="probe-test",
            to=uid,
            notice=notices.AskWaitEnded(ask_id=1),
            now=h.clock.now(),
        )


def make_outbox_in_doubt(h: Harness, mp: pytest.MonkeyPatch) -> None:
    make_outbox_due(h, mp)
    now = h.clock.now()
    with unit_of_work(h.container.sessions) as s:  # a sender took it, then died
        msg = s.scalars(select(OutboxMessage)).one()
        queue.take(msg, "dead-worker", now + timedelta(minutes=2), now, posting=True)
    h.clock.advance(timedelta(minutes=3))


MAKERS: dict[str, Callable[[Harness, pytest.MonkeyPatch], None]] = {
    name.removeprefix("make_"): fn
    for name, fn in list(globals().items())
    if name.startswith("make_") and fn is not make_harness
}


def test_every_condition_has_a_test_that_makes_it_due() -> None:
    conditions = {c for cs in PARTS.values() for c in cs}
    assert set(MAKERS) == conditions


def test_every_tick_part_has_probe_conditions() -> None:
    """A new part of the tick needs its condition in the probe (else cron never does it when
    nothing else is due): add it to ``idle_probe.PARTS`` and to the query."""
    assert {f.name for f in dataclasses.fields(Tick)} == set(PARTS)
    assert all(PARTS.values())


def test_the_probe_knows_the_schema_and_the_settings_defaults() -> None:
    from peerbot.matching import learned
    from peerbot.store.migrate import head_revision

    assert head_revision() == PROBE_SCHEMA, "review idle_probe's query for the new schema"
    for name, default in DEFAULTS.items():
        assert str(Settings.model_fields[name].default) == default, name
    assert due_rules.MIN_TRAINING_ASKS == learned.MIN_TRAINING_ASKS
    assert due_rules.REFRESH_NEW_ASKS == learned.REFRESH_NEW_ASKS
    assert TickReport().summary() == QUIET_SUMMARY


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_each_due_kind_makes_the_probe_say_due(
    kind: str,
    engine: Engine,
    db_url: str,
    real_embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = {"circle_target_size": 10} if kind == "circle_channels" else {}
    for h in make_harness(engine, db_url, real_embedder, **settings):
        h.clock.advance(WEDNESDAY)
        assert kind not in h.probe_due()
        MAKERS[kind](h, monkeypatch)
        assert kind in h.probe_due()


def test_a_paused_pairings_held_did_you_meet_is_not_due_until_it_resumes(
    harness: Harness,
) -> None:
    """The tick holds a paused pairing's "did you meet?" (services.pairs): the probe must not
    call it due every minute meanwhile (each such minute would import the app for nothing)."""
    h = harness
    h.clock.advance(WEDNESDAY)
    paired(h)
    with unit_of_work(h.container.sessions) as s:
        s.execute(update(Pair).values(status=PairStatus.PAUSED))
    h.clock.advance(timedelta(days=6))  # past its three working days
    assert "meeting_checks" not in h.probe_due()
    with unit_of_work(h.container.sessions) as s:
        s.execute(update(Pair).values(status=PairStatus.ACTIVE))
    assert "meeting_checks" in h.probe_due()


def test_a_fresh_database_has_nothing_due_and_doubts_run_the_full_tick(harness: Harness) -> None:
    h = harness
    h.clock.advance(WEDNESDAY)
    assert h.probe_due() == frozenset()
    h.tick()  # the invariant: nothing done
    env = {"DATABASE_URL": "sqlite:////nonexistent/dir/p.db", "SLACK_BOT_TOKEN": "x"}
    with pytest.raises(Unknown):
        due_now(h.clock.now(), environ=env, env_file="")
    with pytest.raises(Unknown):  # no token: the full command says what to set
        due_now(h.clock.now(), environ={"DATABASE_URL": env["DATABASE_URL"]}, env_file="")
    for url in ("sqlite://", "sqlite:///:memory:", "mysql://x/y", "sqlite:///a.db?mode=ro"):
        with pytest.raises(Unknown):
            target_of(url)
    assert target_of("sqlite:///rel/p.db").where == "rel/p.db"
    assert target_of("postgres://u@h/db").where == "postgresql://u@h/db"


# --------------------------------------------------------------------------- the command

SCRIPT = """
import json, sys
from peerbot.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("sqlalchemy", "pydantic", "numpy", "slack_sdk", "peerbot.app")
               if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}))
"""


def _cli(url: str, cwd: Path, api: str, *args: str) -> tuple[list[str], dict[str, object]]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": url,
        "SLACK_BOT_TOKEN": "xoxb-probe",
        "SLACK_API_URL": api,
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    return lines[:-1], json.loads(lines[-1])


def test_the_command_answers_a_quiet_minute_light_and_a_due_one_in_full(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    url = h.container.engine.url.render_as_string(hide_password=False)
    paired(h)
    at = (h.clock.now() + WEDNESDAY).isoformat()  # nothing due yet
    out, info = _cli(url, tmp_path, h.emulator.api_url, "jobs", "run-due", "--at", at)
    assert out == [QUIET_SUMMARY]
    assert info == {"code": 0, "heavy": []}, "the quiet minute imported the app"
    # --full: the whole tick, the same answer.
    out, info = _cli(url, tmp_path, h.emulator.api_url, "jobs", "run-due", "--full", "--at", at)
    assert out == [QUIET_SUMMARY] and "sqlalchemy" in info["heavy"]  # type: ignore[operator]

    # A week on, the asker's check-in is due: the full tick runs and sends it.
    at = (h.clock.now() + timedelta(days=8)).replace(hour=18).isoformat()
    before = len(h.emulator.calls_to("chat.postMessage"))
    out, info = _cli(url, tmp_path, h.emulator.api_url, "jobs", "run-due", "--at", at)
    assert info["code"] == 0 and "sqlalchemy" in info["heavy"]  # type: ignore[operator]
    assert out[-1].startswith("offers expired 0, check-ins 1,"), out
    assert len(h.emulator.calls_to("chat.postMessage")) > before  # the check-in, delivered


def test_the_time_rule_of_the_digest() -> None:
    monday = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert due_rules.maybe_monday_morning_somewhere(monday)
    assert due_rules.maybe_monday_morning_somewhere(monday - timedelta(hours=17))  # Sun 19
    assert not due_rules.maybe_monday_morning_somewhere(monday - timedelta(hours=19))  # Sun 17
    assert not due_rules.maybe_monday_morning_somewhere(monday + timedelta(days=1))
    assert date(2026, 11, 23).weekday() == 0
