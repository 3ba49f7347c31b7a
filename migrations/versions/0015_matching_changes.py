# ruff: noqa: S608 - DDL built from the constants of this file
"""The matching change feed: which person each change to matching's facts was about.

- ``matching_changes``: one row per changed row of the tables 0010 watches (but expertise
  vectors: the index reads those), naming the workspace, the change number at the time and the
  person whose helper facts it touches: a profile's or person's own id, a pair's helper, a
  rating's pair's helper, a never-match list's helper. A worker holding the facts of version
  ``v`` reloads only the people named at ``version >= v`` (a few rows), not every helper.
- ``matching_versions.pruned_before``: the tick deletes old feed rows; a worker whose version is
  older than this loads everything again.
- Indexes that make a full load cheap: ``pairs (team_id, helper_id, status)`` (helps given and
  active pairs per helper, from the index alone) and ``offers (team_id, status, helper_id,
  sent_at, responded_at)`` (the offer ledger's grouped build, from the index alone).

Both dialects record the person in 0010's triggers, right after the bump, so a change row
carries the number its change made: a reader holding number ``v`` asks for ``version > v``.
SQLite: 0010's row triggers (writers are serial) get one more statement at the end of their
body. PostgreSQL: 0010's deferred trigger function records the person too, after it has bumped
(and so locked until commit) the workspace's number.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 01:15:00.000000
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, event, SELECT of the person ids the row change is about): the row changes 0010's
#: triggers count (but expertise vectors), under the same conditions (0010's ``WHEN``).
_SQLITE: tuple[tuple[str, str, str], ...] = (
    ("helper_profiles", "INSERT", "SELECT NEW.person_id AS pid"),
    ("helper_profiles", "UPDATE", "SELECT NEW.person_id AS pid"),
    ("helper_profiles", "DELETE", "SELECT OLD.person_id AS pid"),
    ("people", "INSERT", "SELECT NEW.id AS pid"),
    ("people", "UPDATE", "SELECT NEW.id AS pid"),
    ("people", "DELETE", "SELECT OLD.id AS pid"),
    ("pairs", "INSERT", "SELECT NEW.helper_id AS pid"),
    ("pairs", "UPDATE", "SELECT NEW.helper_id AS pid UNION SELECT OLD.helper_id"),
    ("pairs", "DELETE", "SELECT OLD.helper_id AS pid"),
    ("feedback", "INSERT", "SELECT helper_id AS pid FROM pairs WHERE id = NEW.pair_id"),
    (
        "feedback",
        "UPDATE",
        "SELECT helper_id AS pid FROM pairs WHERE id IN (NEW.pair_id, OLD.pair_id)",
    ),
    ("feedback", "DELETE", "SELECT helper_id AS pid FROM pairs WHERE id = OLD.pair_id"),
    ("helper_never_match", "INSERT", "SELECT NEW.helper_person_id AS pid"),
    (
        "helper_never_match",
        "UPDATE",
        "SELECT NEW.helper_person_id AS pid UNION SELECT OLD.helper_person_id",
    ),
    ("helper_never_match", "DELETE", "SELECT OLD.helper_person_id AS pid"),
)


def _name(table: str, event: str) -> str:
    """0010's trigger for the row change."""
    return f"trg_{table}_{event.lower()}_matching_version"


def _record(event: str, people: str) -> str:
    """The statement appended to 0010's trigger body: after its bump, so the row carries the
    number the change made (writers are serial on SQLite)."""
    row = "OLD" if event == "DELETE" else "NEW"
    return (
        "INSERT INTO matching_changes (team_id, version, person_id) "
        f"SELECT {row}.team_id, "
        f"(SELECT version FROM matching_versions WHERE team_id = {row}.team_id), pid "
        f"FROM ({people}) WHERE pid IS NOT NULL; "
    )


def _migration_0010() -> Any:
    """0010's module (its trigger conditions and SQL, so they are not copied here)."""
    path = Path(__file__).with_name("0010_scale.py")
    spec = importlib.util.spec_from_file_location("peerbot_migration_0010", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sqlite_triggers(add: bool) -> None:
    """Recreate 0010's triggers with the feed's statement at the end of their body (``add``),
    or as 0010 made them."""
    m0010 = _migration_0010()
    conditions = {(table, event): when for table, event, when in m0010.TRIGGERS}
    for table, event, people in _SQLITE:
        sql = m0010._sqlite(table, event, conditions[(table, event)])
        if add:
            body, end = sql.rsplit("END", 1)
            sql = f"{body}{_record(event, people)}END{end}"
        op.execute(f"DROP TRIGGER {_name(table, event)}")
        op.execute(sql)


#: 0010's function, put back by the downgrade.
_PG_FUNCTION_0010 = """
CREATE OR REPLACE FUNCTION peerbot_bump_matching_version() RETURNS trigger AS $$
DECLARE
    team text;
    done text;
BEGIN
    IF TG_OP = 'DELETE' THEN team := OLD.team_id; ELSE team := NEW.team_id; END IF;
    -- A person's reachability, time zone or id matter only for a helper (their manager always).
    IF TG_TABLE_NAME = 'people' AND TG_OP = 'UPDATE' THEN
        IF OLD.manager_slack_user_id IS NOT DISTINCT FROM NEW.manager_slack_user_id
           AND NOT EXISTS (SELECT 1 FROM helper_profiles WHERE person_id = NEW.id) THEN
            RETURN NULL;
        END IF;
    END IF;
    -- Not for a workspace being removed: its number goes with it (foreign key, cascade).
    IF NOT EXISTS (SELECT 1 FROM workspaces WHERE team_id = team) THEN
        RETURN NULL;
    END IF;
    -- Once per transaction and workspace: a bulk insert does not rewrite the row per row.
    done := coalesce(current_setting('peerbot.matching_bumped', true), '');
    IF position(',' || team || ',' in done) > 0 THEN
        RETURN NULL;
    END IF;
    INSERT INTO matching_versions (team_id, version) VALUES (team, 1)
    ON CONFLICT (team_id) DO UPDATE SET version = matching_versions.version + 1;
    PERFORM set_config('peerbot.matching_bumped', done || ',' || team || ',', true);
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION peerbot_bump_matching_version() RETURNS trigger AS $$
DECLARE
    team text;
    done text;
    ver bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN team := OLD.team_id; ELSE team := NEW.team_id; END IF;
    -- A person's reachability, time zone or id matter only for a helper (their manager always).
    IF TG_TABLE_NAME = 'people' AND TG_OP = 'UPDATE' THEN
        IF OLD.manager_slack_user_id IS NOT DISTINCT FROM NEW.manager_slack_user_id
           AND NOT EXISTS (SELECT 1 FROM helper_profiles WHERE person_id = NEW.id) THEN
            RETURN NULL;
        END IF;
    END IF;
    -- Not for a workspace being removed: its number goes with it (foreign key, cascade).
    IF NOT EXISTS (SELECT 1 FROM workspaces WHERE team_id = team) THEN
        RETURN NULL;
    END IF;
    -- Once per transaction and workspace: a bulk insert does not rewrite the row per row.
    done := coalesce(current_setting('peerbot.matching_bumped', true), '');
    IF position(',' || team || ',' in done) = 0 THEN
        INSERT INTO matching_versions (team_id, version) VALUES (team, 1)
        ON CONFLICT (team_id) DO UPDATE SET version = matching_versions.version + 1;
        PERFORM set_config('peerbot.matching_bumped', done || ',' || team || ',', true);
    END IF;
    IF TG_TABLE_NAME = 'embeddings' THEN
        RETURN NULL;  -- the index's business, not the helpers' facts
    END IF;
    -- The number as this transaction bumped it (its row is locked by us until commit).
    SELECT version INTO ver FROM matching_versions WHERE team_id = team;
    IF TG_TABLE_NAME = 'helper_profiles' THEN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO matching_changes (team_id, version, person_id)
            VALUES (team, ver, OLD.person_id);
        ELSE
            INSERT INTO matching_changes (team_id, version, person_id)
            VALUES (team, ver, NEW.person_id);
        END IF;
    ELSIF TG_TABLE_NAME = 'people' THEN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO matching_changes (team_id, version, person_id) VALUES (team, ver, OLD.id);
        ELSE
            INSERT INTO matching_changes (team_id, version, person_id) VALUES (team, ver, NEW.id);
        END IF;
    ELSIF TG_TABLE_NAME = 'pairs' THEN
        IF TG_OP <> 'INSERT' THEN
            INSERT INTO matching_changes (team_id, version, person_id)
            VALUES (team, ver, OLD.helper_id);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO matching_changes (team_id, version, person_id)
            VALUES (team, ver, NEW.helper_id);
        END IF;
    ELSIF TG_TABLE_NAME = 'feedback' THEN
        IF TG_OP <> 'INSERT' THEN
            INSERT INTO matching_changes (team_id, version, person_id)
            SELECT team, ver, helper_id FROM pairs WHERE id = OLD.pair_id;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO matching_changes (team_id, version, person_id)
            SELECT team, ver, helper_id FROM pairs WHERE id = NEW.pair_id;
        END IF;
    ELSIF TG_TABLE_NAME = 'helper_never_match' THEN
        IF TG_OP <> 'INSERT' THEN
            INSERT INTO matching_changes (team_id, version, person_id)
            VALUES (team, ver, OLD.helper_person_id);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO matching_changes (team_id, version, person_id)
            VALUES (team, ver, NEW.helper_person_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    """Create the feed, its triggers and the indexes."""
    op.create_table(
        "matching_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["workspaces.team_id"],
            name=op.f("fk_matching_changes_team_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matching_changes")),
    )
    op.create_index(
        "ix_matching_changes_team_id_version", "matching_changes", ["team_id", "version"]
    )
    op.add_column(
        "matching_versions",
        sa.Column("pruned_before", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.create_index(
        "ix_pairs_team_id_helper_id_status", "pairs", ["team_id", "helper_id", "status"]
    )
    op.create_index(
        "ix_offers_team_id_status_helper_id",
        "offers",
        ["team_id", "status", "helper_id", "sent_at", "responded_at"],
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
    else:
        _sqlite_triggers(add=True)


def downgrade() -> None:
    """Drop them (PostgreSQL: 0010's trigger function again)."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION_0010)
    else:
        _sqlite_triggers(add=False)
    op.drop_index("ix_offers_team_id_status_helper_id", table_name="offers")
    op.drop_index("ix_pairs_team_id_helper_id_status", table_name="pairs")
    # Not batch mode: SQLite would copy the table, which 0010's triggers name.
    op.execute("ALTER TABLE matching_versions DROP COLUMN pruned_before")
    op.drop_index("ix_matching_changes_team_id_version", table_name="matching_changes")
    op.drop_table("matching_changes")
