"""Follow-through: "did you meet?", re-pairing, the ghost rule, due-date reminders, waiting asks.

- ``meeting_checks``: one "did you meet?" message to one side of a pair, due at ``due_at``, with
  the answer once given (``yes``, ``not_yet``, ``no``): countable for the programme's figures.
- ``helper_profiles.missed_offers``: offers that lapsed unanswered in a row (reset by any
  answer); at three the helper is paused and told. ``auto_paused_at``: when that happened.
- ``asks.waiting_until``: the asker chose "Tell me when someone can" after nobody could help;
  the ask waits for a newly available helper until then. ``waiting_checked_at``: when the
  helpers were last looked at for it. ``tries_before``: offers made before a re-pair, which do
  not count against the new round's tries.
- ``commitments.remind_at`` / ``reminded_at``: the morning reminder of a due date.
- ``uq_pairs_ask_id_live``: one *running* pair (active or paused) per ask, so that a re-paired
  ask can have a closed pair and a new one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_PAIR = "uq_pairs_ask_id_live"


def upgrade() -> None:
    """Add the table, the columns, and narrow the one-live-pair index to running pairs."""
    op.create_table(
        "meeting_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=32), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.String(length=32), nullable=True),
        sa.CheckConstraint("side IN ('asker', 'helper')", name=op.f("ck_meeting_checks_side")),
        sa.CheckConstraint(
            "answer IN ('yes', 'not_yet', 'no')", name=op.f("ck_meeting_checks_answer")
        ),
        sa.ForeignKeyConstraint(
            ["pair_id"],
            ["pairs.id"],
            name=op.f("fk_meeting_checks_pair_id_pairs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_checks")),
    )
    op.create_index(
        "ix_meeting_checks_sent_at_due_at", "meeting_checks", ["sent_at", "due_at"], unique=False
    )
    op.create_index(op.f("ix_meeting_checks_pair_id"), "meeting_checks", ["pair_id"], unique=False)
    op.create_index(op.f("ix_meeting_checks_team_id"), "meeting_checks", ["team_id"], unique=False)
    with op.batch_alter_table("helper_profiles") as batch:
        batch.add_column(
            sa.Column("missed_offers", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("auto_paused_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("asks") as batch:
        batch.add_column(sa.Column("waiting_until", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("waiting_checked_at", sa.DateTime(timezone=True)))
        batch.add_column(
            sa.Column("tries_before", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("commitments") as batch:
        batch.add_column(sa.Column("remind_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True)))
    op.drop_index(LIVE_PAIR, table_name="pairs")
    op.create_index(
        LIVE_PAIR,
        "pairs",
        ["ask_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('active', 'paused')"),
        postgresql_where=sa.text("status IN ('active', 'paused')"),
    )


def downgrade() -> None:
    """Drop them (an ask re-paired keeps only its latest closed-or-running pair)."""
    op.drop_index(LIVE_PAIR, table_name="pairs")
    op.execute(
        "DELETE FROM pairs WHERE status = 'closed' AND id NOT IN "
        "(SELECT MAX(id) FROM pairs WHERE status <> 'failed' GROUP BY ask_id)"
    )
    op.create_index(
        LIVE_PAIR,
        "pairs",
        ["ask_id"],
        unique=True,
        sqlite_where=sa.text("status <> 'failed'"),
        postgresql_where=sa.text("status <> 'failed'"),
    )
    with op.batch_alter_table("commitments") as batch:
        batch.drop_column("reminded_at")
        batch.drop_column("remind_at")
    with op.batch_alter_table("asks") as batch:
        batch.drop_column("tries_before")
        batch.drop_column("waiting_checked_at")
        batch.drop_column("waiting_until")
    with op.batch_alter_table("helper_profiles") as batch:
        batch.drop_column("auto_paused_at")
        batch.drop_column("missed_offers")
    op.drop_index(op.f("ix_meeting_checks_team_id"), table_name="meeting_checks")
    op.drop_index(op.f("ix_meeting_checks_pair_id"), table_name="meeting_checks")
    op.drop_index("ix_meeting_checks_sent_at_due_at", table_name="meeting_checks")
    op.drop_table("meeting_checks")
