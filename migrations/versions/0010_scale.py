# ruff: noqa: S608 - DDL built from the constants of this file
"""Matching at scale: one change number per workspace instead of scanning for changes per ask.

- ``matching_versions``: per workspace, a number that grows with every change matching reads
  from the database (helper profiles, helpers' reachability, time zone and id, anyone's
  manager, pairs, ratings, never-match lists, expertise vectors). A worker keeps its in-memory index and helper facts
  while the number is unchanged: one primary-key read per ask instead of aggregate scans.
- Triggers bump it, so every writer (the app, an import, a hand-made fix in SQL) is counted.
  SQLite: ``AFTER`` row triggers (writers are serial). PostgreSQL: deferred constraint
  triggers, so the counter row is locked only while the transaction commits (no waits inside
  a transaction, no lock-order cycles with the rows it locks), and bumped once per transaction
  and workspace (a transaction-local setting remembers it): a bulk insert of many rows updates
  the counter row once, not once per row.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 16:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PEOPLE_FIELDS = ("slack_user_id", "tz", "deleted", "can_be_messaged", "manager_slack_user_id")
_PAIR_FIELDS = ("status", "helper_id", "team_id")

#: (table, event, condition or None): the row changes that bump the workspace's number.
TRIGGERS: tuple[tuple[str, str, str | None], ...] = (
    ("helper_profiles", "INSERT", None),
    ("helper_profiles", "UPDATE", None),
    ("helper_profiles", "DELETE", None),
    ("people", "INSERT", "NEW.manager_slack_user_id IS NOT NULL"),
    ("people", "UPDATE", " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _PEOPLE_FIELDS)),
    ("people", "DELETE", None),
    ("pairs", "INSERT", None),
    ("pairs", "UPDATE", " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _PAIR_FIELDS)),
    ("pairs", "DELETE", None),
    ("feedback", "INSERT", None),
    ("feedback", "UPDATE", None),
    ("feedback", "DELETE", None),
    ("helper_never_match", "INSERT", None),
    ("helper_never_match", "UPDATE", None),
    ("helper_never_match", "DELETE", None),
    ("embeddings", "INSERT", "NEW.owner_kind = 'helper_expertise'"),
    ("embeddings", "UPDATE", "NEW.owner_kind = 'helper_expertise'"),
    ("embeddings", "DELETE", "OLD.owner_kind = 'helper_expertise'"),
)


def _name(table: str, event: str) -> str:
    return f"trg_{table}_{event.lower()}_matching_version"


#: People's fields that matter only for helpers (reachability, time zone, id): a change to an
#: asker's (their Slack profile refreshed on every first ask) is not matching's business.
_HELPER_ONLY = " OR ".join(
    f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _PEOPLE_FIELDS if c != "manager_slack_user_id"
)
_IS_HELPER = "EXISTS (SELECT 1 FROM helper_profiles WHERE helper_profiles.person_id = NEW.id)"


def _sqlite(table: str, event: str, when: str | None) -> str:
    row = "OLD" if event == "DELETE" else "NEW"
    if (table, event) == ("people", "UPDATE"):
        when = (
            "OLD.manager_slack_user_id IS DISTINCT FROM NEW.manager_slack_user_id "
            f"OR (({_HELPER_ONLY}) AND {_IS_HELPER})"
        )
    # Not for a workspace being removed: its number goes with it (foreign key, cascade).
    alive = f"EXISTS (SELECT 1 FROM workspaces WHERE workspaces.team_id = {row}.team_id)"
    when = alive if when is None else f"({when}) AND {alive}"
    cond = f" WHEN {when.replace('IS DISTINCT FROM', 'IS NOT')}"
    return (
        f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} FOR EACH ROW{cond} BEGIN "
        f"INSERT OR IGNORE INTO matching_versions (team_id, version) VALUES ({row}.team_id, 0); "
        f"UPDATE matching_versions SET version = version + 1 WHERE team_id = {row}.team_id; "
        "END"
    )


_PG_FUNCTION = """
CREATE FUNCTION peerbot_bump_matching_version() RETURNS trigger AS $$
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


def _pg(table: str, event: str, when: str | None) -> str:
    cond = "" if when is None else f" WHEN ({when})"
    return (
        f"CREATE CONSTRAINT TRIGGER {_name(table, event)} AFTER {event} ON {table} "
        f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW{cond} "
        "EXECUTE FUNCTION peerbot_bump_matching_version()"
    )


def upgrade() -> None:
    """Create the table and the triggers."""
    op.create_table(
        "matching_versions",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["workspaces.team_id"],
            name=op.f("fk_matching_versions_team_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_matching_versions")),
    )
    postgresql = op.get_context().dialect.name == "postgresql"
    if postgresql:
        op.execute(_PG_FUNCTION)
    for table, event, when in TRIGGERS:
        op.execute(_pg(table, event, when) if postgresql else _sqlite(table, event, when))


def downgrade() -> None:
    """Drop the triggers and the table."""
    postgresql = op.get_context().dialect.name == "postgresql"
    for table, event, _when in TRIGGERS:
        op.execute(
            f"DROP TRIGGER IF EXISTS {_name(table, event)}" + (f" ON {table}" if postgresql else "")
        )
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS peerbot_bump_matching_version()")
    op.drop_table("matching_versions")
