"""People and workspaces: created on first sight, refreshed from Slack's profile."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from peerbot.domain.due_rules import RECHECK_AFTER
from peerbot.domain.ports import UserInfo
from peerbot.store.models import Person, Workspace


def ensure_workspace(session: Session, team_id: str, now: datetime) -> Workspace:
    """The workspace row for ``team_id``, created when first seen."""
    ws = session.get(Workspace, team_id)
    if ws is None:
        try:
            with session.begin_nested():  # a concurrent request may create it first
                ws = Workspace(team_id=team_id, installed_at=now, settings={})
                session.add(ws)
        except IntegrityError:
            ws = session.get_one(Workspace, team_id)
    return ws


def find_person(
    session: Session, team_id: str, user_id: str, *, lock: bool = False
) -> Person | None:
    """The person with Slack id ``user_id`` in ``team_id``, if known; ``lock``: their row
    locked until commit on PostgreSQL (SQLite's writers are serial already)."""
    stmt = select(Person).where(Person.team_id == team_id, Person.slack_user_id == user_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def find_or_add_person(
    session: Session,
    team_id: str,
    user_id: str,
    now: datetime,
    *,
    lock: bool = False,
    workspace_known: bool = False,
) -> tuple[Person, bool]:
    """The person with Slack id ``user_id`` in ``team_id``, created when first seen; and
    whether this call created them (then nothing else refers to them yet: no asks, no pairs).
    ``lock`` and ``workspace_known`` as for :func:`upsert_person`."""
    if not workspace_known:
        ensure_workspace(session, team_id, now)
    person = find_person(session, team_id, user_id, lock=lock)
    if person is not None:
        return person, False
    # Two first requests from one person at once (a double click, a command and an event)
    # both find nobody: the second insert loses and reads the first one's row.
    values = {
        "team_id": team_id,
        "slack_user_id": user_id,
        "created_at": now,
        "updated_at": now,
        "deleted": False,
        "can_be_messaged": True,
    }
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        # ``INSERT .. ON CONFLICT DO NOTHING RETURNING``: one statement, no SAVEPOINT around
        # it (a lost race inserts nothing instead of failing the transaction).
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = (
            insert(Person)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["team_id", "slack_user_id"])
            .returning(Person)
        )
        person = session.scalars(stmt, execution_options={"populate_existing": True}).first()
        if person is not None:
            return person, True
    else:
        try:
            with session.begin_nested():
                person = Person(**values)
                session.add(person)
            return person, True
        except IntegrityError:
            pass
    person = find_person(session, team_id, user_id, lock=lock)
    assert person is not None
    return person, False


def upsert_person(
    session: Session,
    team_id: str,
    user_id: str,
    now: datetime,
    info: UserInfo | None = None,
    *,
    lock: bool = False,
    workspace_known: bool = False,
) -> Person:
    """Create or refresh a person; ``info`` (their Slack profile) updates name, email, tz.

    ``lock``: the person's row is locked until commit on PostgreSQL, in the statement that
    reads it (one created here is new in this transaction: nobody else can lock it).
    ``workspace_known``: the workspace's row is known to exist (a row of the workspace was
    just read): it is not looked up."""
    person, _new = find_or_add_person(
        session, team_id, user_id, now, lock=lock, workspace_known=workspace_known
    )
    if info is not None:
        person.display_name = info.name or person.display_name
        person.real_name = info.real_name or person.real_name
        person.email = info.email or person.email
        person.tz = info.tz or person.tz
        person.deleted = info.deleted
        person.updated_at = now
    session.flush()
    return person


def refresh_person(session: Session, person_id: int, info: UserInfo, now: datetime) -> None:
    """:func:`upsert_person`'s refresh from a Slack profile, for a person known by id: one
    UPDATE, no read first. Only while the row is still ``info.user_id``'s: a person forgotten
    meanwhile (their Slack id replaced) is neither refreshed nor created again."""
    values: dict[str, object] = {"deleted": info.deleted, "updated_at": now}
    for column, value in (
        ("display_name", info.name),
        ("real_name", info.real_name),
        ("email", info.email),
        ("tz", info.tz),
    ):
        if value:  # an empty field in Slack's answer keeps what is known
            values[column] = value
    session.execute(
        update(Person)
        .where(Person.id == person_id, Person.slack_user_id == info.user_id)
        .values(values),
        execution_options={"synchronize_session": False},
    )


def mark_unreachable(
    session: Session, person: Person, reason: str, now: datetime, *, deactivated: bool = False
) -> None:
    """Record that ``person`` cannot be messaged (DMs closed, ...; ``deactivated``: their account
    is gone); ``reason`` is kept for operators."""
    person.can_be_messaged = False
    person.last_dm_failure = reason[:255]
    person.last_dm_failure_at = now
    if deactivated:
        person.deleted = True


def refresh_known_person(session: Session, team_id: str, info: UserInfo, now: datetime) -> bool:
    """Apply a Slack profile change (``user_change``) to a person peerbot already knows.

    Returns False for people peerbot has never seen (nothing is stored about them). A deactivated
    account is marked so that nobody offers them an ask; an active one that could not be messaged
    before is given another chance (a change in Slack may have fixed it).
    """
    person = find_person(session, team_id, info.user_id)
    if person is None:
        return False
    upsert_person(session, team_id, info.user_id, now, info)
    if not info.deleted:
        mark_reachable(person)
    return True


def mark_reachable(person: Person) -> None:
    """``person`` may be messaged again (their account is active in Slack)."""
    person.can_be_messaged = True
    person.last_dm_failure = None
    person.last_dm_failure_at = None


def due_for_recheck(session: Session, now: datetime, limit: int) -> list[Person]:
    """People marked unreachable at least :data:`RECHECK_AFTER` ago (oldest first)."""
    return list(
        session.scalars(
            select(Person)
            .where(
                Person.can_be_messaged.is_(False),
                Person.last_dm_failure_at <= now - RECHECK_AFTER,
                # Not where sending is paused (a refused token, or the app was removed).
                Person.team_id.not_in(
                    select(Workspace.team_id).where(Workspace.sending_paused_until > now)
                ),
            )
            .order_by(Person.last_dm_failure_at, Person.id)
            .limit(limit)
        )
    )
