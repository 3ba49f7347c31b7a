"""Outbox: remember when an unconfirmed chat.postMessage attempt began (exactly-once after a
crash), and let the one-message claim read the due queue in index order.

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

INDEX = "ix_outbox_status_next_attempt_at"


def upgrade() -> None:
    """Add ``outbox.unconfirmed_since``; extend the claim index with ``id``."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("unconfirmed_since", sa.DateTime(timezone=True), nullable=True))
    op.drop_index(INDEX, table_name="outbox")
    op.create_index(INDEX, "outbox", ["status", "next_attempt_at", "id"])


def downgrade() -> None:
    """Drop ``outbox.unconfirmed_since``; the claim index as it was."""
    op.drop_index(INDEX, table_name="outbox")
    op.create_index(INDEX, "outbox", ["status", "next_attempt_at"])
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("unconfirmed_since")
