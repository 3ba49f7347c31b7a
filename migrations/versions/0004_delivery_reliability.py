"""Delivery that survives outages: workspace-wide sending pauses, crash counts apart from
retries, and pairs whose introduction failed (so the ask can be paired again).

- ``workspaces.sending_paused_until`` / ``sending_paused_reason``: Slack refused the app's token
  or scopes for the whole workspace; nothing is sent there until an operator fixes it.
- ``outbox.lost_claims``: how many times a sender died holding the message (a message that
  crashes its senders is given up on); ``outbox.failing_since``: when the current run of
  transient failures began (they retry on a time budget, not a count).
- ``pairs.status`` may be ``failed``; at most one live (not failed) pair per ask.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 14:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_PAIR = "uq_pairs_ask_id_live"


def _status_check(*values: str) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    """Add the columns, let a pair fail, keep one live pair per ask."""
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("sending_paused_until", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("sending_paused_reason", sa.String(length=255)))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lost_claims", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("failing_since", sa.DateTime(timezone=True)))
    if context.is_offline_mode() and op.get_context().dialect.name == "sqlite":
        # SQLite rebuilds the table to change constraints, which needs the live schema.
        op.execute("-- pairs: run this revision against the database to rebuild its constraints")
        return
    with op.batch_alter_table("pairs", recreate="auto") as batch:
        batch.drop_constraint(op.f("uq_pairs_ask_id"), type_="unique")
        batch.drop_constraint(op.f("ck_pairs_status"), type_="check")
        batch.create_check_constraint(
            "status", _status_check("active", "paused", "closed", "failed")
        )
    op.create_index(
        LIVE_PAIR,
        "pairs",
        ["ask_id"],
        unique=True,
        sqlite_where=sa.text("status <> 'failed'"),
        postgresql_where=sa.text("status <> 'failed'"),
    )


def downgrade() -> None:
    """Back to one pair per ask (failed pairs are removed first)."""
    op.drop_index(LIVE_PAIR, table_name="pairs")
    op.execute("DELETE FROM pairs WHERE status = 'failed'")
    with op.batch_alter_table("pairs", recreate="auto") as batch:
        batch.drop_constraint(op.f("ck_pairs_status"), type_="check")
        batch.create_check_constraint("status", _status_check("active", "paused", "closed"))
        batch.create_unique_constraint(op.f("uq_pairs_ask_id"), ["ask_id"])
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("failing_since")
        batch.drop_column("lost_claims")
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("sending_paused_reason")
        batch.drop_column("sending_paused_until")
