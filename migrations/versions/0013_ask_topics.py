"""Ask topics: the built-in topics an asker picks in the intake modal (issue 17).

- ``asks.topics``: the picked topic keys (none: the automatic ``asks.topic`` label stands in),
  read by the ranker's ``topic_history`` signal for the ask and for every past help on it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 23:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``asks.topics`` (existing asks picked none)."""
    with op.batch_alter_table("asks") as batch:
        batch.add_column(
            sa.Column("topics", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"))
        )


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("asks") as batch:
        batch.drop_column("topics")
