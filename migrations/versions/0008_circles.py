"""Peer circles: the waiting pool, rounds, circles, members, weekly prompts, actions, and the
pulse and close-out answers.

- ``circle_pool``: who waits for the next round, with what they want to work on and their
  function (and why the last round could not place them).
- ``circle_rounds`` / ``circles`` / ``circle_members``: each formation, its circles (theme,
  facilitator, conversation, schedule, status) and their members (presenter order, left_at).
- ``circle_prompts`` / ``circle_actions``: each weekly prompt (week, presenter) and the actions
  members recorded for it.
- ``circle_feedback``: the midpoint pulse and the close-out (1–5 and an optional note).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 16:07:10.204588
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the circle tables."""
    op.create_table(
        "circle_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("formed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circle_rounds")),
    )
    with op.batch_alter_table("circle_rounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_circle_rounds_team_id"), ["team_id"], unique=False)

    op.create_table(
        "circle_pool",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("function", sa.String(length=120), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_reason", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_circle_pool_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circle_pool")),
        sa.UniqueConstraint("team_id", "person_id", name=op.f("uq_circle_pool_team_id_person_id")),
    )
    op.create_table(
        "circles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("theme", sa.String(length=200), nullable=False),
        sa.Column("facilitator_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "closed",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_prompt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prompts_sent", sa.Integer(), nullable=False),
        sa.Column("pulse_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pulse_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["facilitator_id"], ["people.id"], name=op.f("fk_circles_facilitator_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["circle_rounds.id"],
            name=op.f("fk_circles_round_id_circle_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circles")),
    )
    with op.batch_alter_table("circles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_circles_status_next_prompt_at", ["status", "next_prompt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_circles_team_id"), ["team_id"], unique=False)

    op.create_table(
        "circle_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "pulse",
                "closeout",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rating IS NULL OR (rating >= 1 AND rating <= 5)",
            name=op.f("ck_circle_feedback_rating_1_to_5"),
        ),
        sa.ForeignKeyConstraint(
            ["circle_id"],
            ["circles.id"],
            name=op.f("fk_circle_feedback_circle_id_circles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_circle_feedback_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circle_feedback")),
        sa.UniqueConstraint(
            "circle_id",
            "person_id",
            "kind",
            name=op.f("uq_circle_feedback_circle_id_person_id_kind"),
        ),
    )
    with op.batch_alter_table("circle_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_circle_feedback_team_id"), ["team_id"], unique=False)

    op.create_table(
        "circle_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("function", sa.String(length=120), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["circle_id"],
            ["circles.id"],
            name=op.f("fk_circle_members_circle_id_circles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_circle_members_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circle_members")),
        sa.UniqueConstraint(
            "circle_id", "person_id", name=op.f("uq_circle_members_circle_id_person_id")
        ),
    )
    with op.batch_alter_table("circle_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_circle_members_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_circle_members_team_id"), ["team_id"], unique=False)

    op.create_table(
        "circle_prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("presenter_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["circle_id"],
            ["circles.id"],
            name=op.f("fk_circle_prompts_circle_id_circles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["presenter_id"],
            ["people.id"],
            name=op.f("fk_circle_prompts_presenter_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circle_prompts")),
        sa.UniqueConstraint("circle_id", "week", name=op.f("uq_circle_prompts_circle_id_week")),
    )
    with op.batch_alter_table("circle_prompts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_circle_prompts_team_id"), ["team_id"], unique=False)

    op.create_table(
        "circle_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["circle_id"],
            ["circles.id"],
            name=op.f("fk_circle_actions_circle_id_circles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_circle_actions_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["circle_prompts.id"],
            name=op.f("fk_circle_actions_prompt_id_circle_prompts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circle_actions")),
        sa.UniqueConstraint(
            "prompt_id", "person_id", name=op.f("uq_circle_actions_prompt_id_person_id")
        ),
    )
    with op.batch_alter_table("circle_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_circle_actions_team_id"), ["team_id"], unique=False)


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("circle_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_circle_actions_team_id"))

    op.drop_table("circle_actions")
    with op.batch_alter_table("circle_prompts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_circle_prompts_team_id"))

    op.drop_table("circle_prompts")
    with op.batch_alter_table("circle_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_circle_members_team_id"))
        batch_op.drop_index(batch_op.f("ix_circle_members_person_id"))

    op.drop_table("circle_members")
    with op.batch_alter_table("circle_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_circle_feedback_team_id"))

    op.drop_table("circle_feedback")
    with op.batch_alter_table("circles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_circles_team_id"))
        batch_op.drop_index("ix_circles_status_next_prompt_at")

    op.drop_table("circles")
    op.drop_table("circle_pool")
    with op.batch_alter_table("circle_rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_circle_rounds_team_id"))

    op.drop_table("circle_rounds")
