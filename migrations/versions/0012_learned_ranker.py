"""Learned ranker: one row of learned weights per workspace (issue 17).

- ``ranker_models``: the weights learned from the workspace's history, how many asks they were
  learned from, how many labelled asks there were then, and when.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 16:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``ranker_models``."""
    op.create_table(
        "ranker_models",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column(
            "model", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("trained_on_asks", sa.Integer(), nullable=False),
        sa.Column("labelled_asks", sa.Integer(), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_ranker_models")),
    )


def downgrade() -> None:
    """Drop ``ranker_models``."""
    op.drop_table("ranker_models")
