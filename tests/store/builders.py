"""Small helpers that build rows for store tests (flushed, never committed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from peerbot.store.models import Ask, OutboxKind, OutboxMessage, Pair, Person, Workspace

NOW = datetime(2025, 3, 3, 9, 0, 0, 123456, tzinfo=UTC)


def flush_in_savepoint(session: Session, *objects: object) -> None:
    """Add and flush inside a SAVEPOINT, so a failure leaves the test's transaction usable."""
    with session.begin_nested():
        session.add_all(objects)
        session.flush()


def add_workspace(session: Session, team_id: str = "T001") -> Workspace:
    """A workspace row."""
    ws = Workspace(team_id=team_id, name=f"Team {team_id}", installed_at=NOW)
    session.add(ws)
    session.flush()
    return ws


def add_person(session: Session, team_id: str, slack_user_id: str, **kw: Any) -> Person:
    """A person in ``team_id`` (the workspace must exist)."""
    person = Person(team_id=team_id, slack_user_id=slack_user_id, created_at=NOW, **kw)
    session.add(person)
    session.flush()
    return person


def add_ask(session: Session, asker: Person, **kw: Any) -> Ask:
    """An open ask by ``asker``."""
    kw.setdefault("challenge", "My team misses deadlines")
    ask = Ask(team_id=asker.team_id, asker_id=asker.id, created_at=NOW, **kw)
    session.add(ask)
    session.flush()
    return ask


def add_pair(session: Session, ask: Ask, helper: Person) -> Pair:
    """A pair for ``ask`` with ``helper``."""
    pair = Pair(team_id=ask.team_id, ask_id=ask.id, helper_id=helper.id, asker_id=ask.asker_id)
    session.add(pair)
    session.flush()
    return pair


def outbox_message(key: str, team_id: str = "T001") -> OutboxMessage:
    """An unsaved pending post (an offer notice to U1)."""
    return OutboxMessage(
        team_id=team_id,
        idempotency_key=key,
        kind=OutboxKind.POST,
        notice="offer_request",
        payload={
            "notice": {"kind": "offer_request", "offer_id": 1},
            "to": {"type": "person", "user_id": "U1"},
        },
        next_attempt_at=NOW,
    )


def graph(session: Session) -> tuple[Person, Person, Ask]:
    """A workspace with an asker, a helper and an ask."""
    add_workspace(session)
    asker = add_person(session, "T001", "U_ASKER")
    helper = add_person(session, "T001", "U_HELPER")
    return asker, helper, add_ask(session, asker)
