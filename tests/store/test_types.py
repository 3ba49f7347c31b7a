"""Column types: aware UTC datetimes, JSON, enums, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from peerbot.store.models import (
    Ask,
    AskStatus,
    HelperProfile,
    OutboxMessage,
    Urgency,
    Workspace,
)
from peerbot.store.types import NaiveDatetimeError, UTCDateTime
from tests.store.builders import add_workspace, flush_in_savepoint, graph, outbox_message

IST = timezone(timedelta(hours=5, minutes=30))


def test_naive_datetimes_are_refused(db_session: Session) -> None:
    naive = datetime(2025, 1, 1, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(StatementError, match="naive datetime") as info:
        flush_in_savepoint(db_session, Workspace(team_id="T1", installed_at=naive))
    assert isinstance(info.value.orig, NaiveDatetimeError)


def test_naive_datetimes_are_refused_in_queries_too(db_session: Session) -> None:
    naive = datetime(2025, 1, 1, 12, 0)  # noqa: DTZ001
    with pytest.raises(StatementError, match="naive datetime"):
        db_session.execute(select(Workspace).where(Workspace.installed_at < naive)).all()


def test_non_datetimes_are_refused() -> None:
    with pytest.raises(TypeError, match="needs a datetime"):
        UTCDateTime().process_bind_param(date(2025, 1, 1), dialect=None)  # type: ignore[arg-type]


def test_aware_datetimes_round_trip_as_utc(db_session: Session) -> None:
    local = datetime(2025, 6, 30, 23, 45, 12, 654321, tzinfo=IST)
    db_session.add(Workspace(team_id="T1", installed_at=local))
    db_session.flush()
    db_session.expire_all()

    loaded = db_session.scalars(select(Workspace.installed_at)).one()
    assert loaded == local
    assert loaded.tzinfo is UTC
    assert loaded.isoformat() == "2025-06-30T18:15:12.654321+00:00"


def test_values_are_stored_as_utc(db_session: Session, db_backend: str) -> None:
    db_session.add(Workspace(team_id="T1", installed_at=datetime(2025, 1, 1, 12, 0, tzinfo=IST)))
    db_session.flush()
    raw = db_session.execute(text("SELECT installed_at FROM workspaces")).scalar_one()
    if db_backend == "sqlite":
        assert raw == "2025-01-01 06:30:00.000000"
    else:
        assert raw == datetime(2025, 1, 1, 6, 30, tzinfo=UTC)


def test_comparisons_across_time_zones(db_session: Session) -> None:
    """Scheduler-style queries ('what is due at T?') work whatever zone T is written in."""
    due = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    msg = outbox_message("k1")
    msg.next_attempt_at = due
    db_session.add(msg)
    db_session.flush()

    def due_at(now: datetime) -> list[str]:
        stmt = select(OutboxMessage.idempotency_key).where(OutboxMessage.next_attempt_at <= now)
        return list(db_session.scalars(stmt))

    assert due_at(due.astimezone(IST)) == ["k1"]
    assert due_at((due - timedelta(microseconds=1)).astimezone(IST)) == []
    assert due_at(due + timedelta(days=400)) == ["k1"]


def test_json_round_trips(db_session: Session) -> None:
    asker, _, _ = graph(db_session)
    profile = HelperProfile(
        person_id=asker.id, team_id="T001", topics=["hiring", "délégation", "1:1s"]
    )
    ws = db_session.get(Workspace, "T001")
    assert ws is not None
    ws.settings = {"offer_timeout_hours": 24, "admins": ["U1"], "nested": {"ok": True}}
    db_session.add(profile)
    db_session.flush()
    db_session.expire_all()

    assert db_session.get(HelperProfile, asker.id).topics == ["hiring", "délégation", "1:1s"]  # type: ignore[union-attr]
    ws = db_session.get(Workspace, "T001")
    assert ws is not None
    assert ws.settings == {"offer_timeout_hours": 24, "admins": ["U1"], "nested": {"ok": True}}


def test_defaults(db_session: Session) -> None:
    asker, _, ask = graph(db_session)
    db_session.add(HelperProfile(person_id=asker.id, team_id="T001"))
    db_session.flush()
    db_session.expire_all()
    profile = db_session.get(HelperProfile, asker.id)
    assert profile is not None
    assert (profile.capacity, profile.opted_in, profile.topics) == (2, False, [])
    loaded = db_session.get(Ask, ask.id)
    assert loaded is not None
    assert (loaded.status, loaded.urgency, loaded.anonymous) == (
        AskStatus.OPEN,
        Urgency.NORMAL,
        False,
    )
    assert loaded.created_at.tzinfo is UTC


def test_enums_are_stored_as_their_values(db_session: Session) -> None:
    _, _, ask = graph(db_session)
    ask.status = AskStatus.CANCELLED
    db_session.flush()
    raw = db_session.execute(text("SELECT status, urgency FROM asks")).one()
    assert tuple(raw) == ("cancelled", "normal")


def test_unknown_enum_values_are_refused_by_the_database(db_session: Session) -> None:
    _, _, ask = graph(db_session)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(text("UPDATE asks SET status = 'bogus' WHERE id = :id"), {"id": ask.id})


def test_unknown_enum_values_are_refused_in_python(db_session: Session) -> None:
    asker, _, _ = graph(db_session)
    bad = Ask(team_id="T001", asker_id=asker.id, challenge="x", status="bogus")
    with pytest.raises(StatementError):
        flush_in_savepoint(db_session, bad)


def test_workspace_fixture_row(db_session: Session) -> None:
    ws = add_workspace(db_session, "T_OTHER")
    assert db_session.get(Workspace, "T_OTHER") is ws
