"""Erasures in the database: index snapshots may be on with several hosts (issue 11).

- ``index_erasures``: per workspace, how many erasures of the text the matching index copies
  (forget, retention, a purge) it has had, and when the latest was made, written in the
  erasure's own transaction. A snapshot records the count its index was built at: any host
  refuses (and deletes) one built before the latest erasure, and a running worker that reads a
  higher count (with the change number it reads before each ranking) deletes its host's
  snapshot files and replaces its index. No foreign key: a purged workspace's count stays.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 06:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table (empty: snapshots written before carry no count and are not loaded)."""
    op.create_table(
        "index_erasures",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("erasures", sa.BigInteger(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_index_erasures")),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("index_erasures")
