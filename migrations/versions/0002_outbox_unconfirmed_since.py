"""Outbox: remember when an unconfirmed chat.postMessage attempt began (exactly-once after a crash).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``outbox.unconfirmed_since``."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("unconfirmed_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop ``outbox.unconfirmed_since``."""
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("unconfirmed_since")
