"""Indexes for the tick's scans across workspaces (issue 11).

At 100,000 helpers (1.1 million past asks) an idle `peerbot jobs run-due` spent about 2.5 s in
full scans of ``asks``: the stranded, waiting and expiring asks are found by status (the one
index had the workspace first), and retention looked at every ended ask for the ones past
their period.

- ``ix_asks_status_updated_at``: asks by status (few are matching, offered or waiting);
- ``ix_asks_unredacted_closed_at``: the end time of the asks whose text is not redacted yet
  (partial: the redacted ones, most of an old workspace's history, are not in it).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 02:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create both indexes."""
    op.create_index("ix_asks_status_updated_at", "asks", ["status", "updated_at"])
    op.create_index(
        "ix_asks_unredacted_closed_at",
        "asks",
        ["closed_at"],
        sqlite_where=sa.text("challenge != ''"),
        postgresql_where=sa.text("challenge != ''"),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_asks_unredacted_closed_at", table_name="asks")
    op.drop_index("ix_asks_status_updated_at", table_name="asks")
