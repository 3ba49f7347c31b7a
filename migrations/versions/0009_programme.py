"""The programme view: programme settings per workspace with their audit log, one-time admin
sign-in links, and the weekly admin digests sent.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create the four tables."""
    op.create_table(
        "programme_settings",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", JSON_TYPE, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["workspaces.team_id"],
            name=op.f("fk_programme_settings_team_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "key", name=op.f("pk_programme_settings")),
    )
    op.create_table(
        "programme_setting_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("old_value", JSON_TYPE, nullable=True),
        sa.Column("new_value", JSON_TYPE, nullable=False),
        sa.Column("changed_by", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["workspaces.team_id"],
            name=op.f("fk_programme_setting_changes_team_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_setting_changes")),
    )
    op.create_index(
        op.f("ix_programme_setting_changes_team_id"),
        "programme_setting_changes",
        ["team_id"],
        unique=False,
    )
    op.create_table(
        "admin_links",
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["workspaces.team_id"],
            name=op.f("fk_admin_links_team_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_admin_links")),
    )
    op.create_index(op.f("ix_admin_links_team_id"), "admin_links", ["team_id"], unique=False)
    op.create_table(
        "admin_digests",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["workspaces.team_id"],
            name=op.f("fk_admin_digests_team_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", "week_start", name=op.f("pk_admin_digests")),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("admin_digests")
    op.drop_index(op.f("ix_admin_links_team_id"), table_name="admin_links")
    op.drop_table("admin_links")
    op.drop_index(
        op.f("ix_programme_setting_changes_team_id"), table_name="programme_setting_changes"
    )
    op.drop_table("programme_setting_changes")
    op.drop_table("programme_settings")
