"""Helpers by consent: an import invites, it does not enrol; what a helper set stays theirs.

- ``helper_profiles.consent``: ``self`` (signed up themselves), ``invited`` (imported, no answer
  yet), ``yes`` (imported and said yes), ``declined`` (imported and said not now).
- ``helper_profiles.edited_at``: when the helper last saved their own profile; a re-import never
  changes a profile after that.
- ``asks.excluded_user_ids``: the people the asker does not want this question offered to
  ("Don't offer this to" in the intake), a JSON list of Slack user ids.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the two columns (existing helpers signed up themselves)."""
    with op.batch_alter_table("helper_profiles") as batch:
        batch.add_column(
            sa.Column("consent", sa.String(length=32), nullable=False, server_default="self")
        )
        batch.add_column(sa.Column("edited_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("asks") as batch:
        batch.add_column(
            sa.Column("excluded_user_ids", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"))
        )


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("asks") as batch:
        batch.drop_column("excluded_user_ids")
    with op.batch_alter_table("helper_profiles") as batch:
        batch.drop_column("edited_at")
        batch.drop_column("consent")
