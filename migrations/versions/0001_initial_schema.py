"""Initial schema: workspaces, people, helpers, asks, offers, pairs, follow-up, outbox, embeddings.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 12:17:21.004949
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

#: JSON everywhere, JSONB on PostgreSQL (as peerbot.store.types.JSONType).
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _enum(name: str, *values: str) -> sa.Enum:
    """A string-stored enumeration with a CHECK constraint ``ck_<table>_<name>`` (as the models)."""
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "embeddings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column(
            "owner_kind",
            _enum("owner_kind", "helper_expertise", "ask"),
            nullable=False,
        ),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("dim > 0", name=op.f("ck_embeddings_dim_positive")),
        sa.CheckConstraint("length(vector) = dim * 4", name=op.f("ck_embeddings_vector_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_embeddings")),
        sa.UniqueConstraint(
            "owner_kind",
            "owner_id",
            "model_name",
            name=op.f("uq_embeddings_owner_kind_owner_id_model_name"),
        ),
    )
    op.create_index(
        op.f("ix_embeddings_team_id_owner_kind_model_name"),
        "embeddings",
        ["team_id", "owner_kind", "model_name"],
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column(
            "kind",
            _enum(
                "kind", "post", "update", "delete", "ephemeral", "publish_home", "open_dm", "call"
            ),
            nullable=False,
        ),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("payload", JSON_TYPE, nullable=False),
        sa.Column(
            "status",
            _enum("status", "pending", "sending", "sent", "dead"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", JSON_TYPE, nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_outbox_attempts_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    op.create_index(
        op.f("ix_outbox_status_next_attempt_at"), "outbox", ["status", "next_attempt_at"]
    )
    op.create_index(op.f("ix_outbox_team_id"), "outbox", ["team_id"])

    op.create_table(
        "processed_slack_ids",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column(
            "kind",
            _enum("kind", "event", "action", "command", "view", "shortcut"),
            nullable=False,
        ),
        sa.Column("slack_id", sa.String(length=255), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "kind", "slack_id", name=op.f("pk_processed_slack_ids")),
    )
    op.create_index(
        op.f("ix_processed_slack_ids_processed_at"), "processed_slack_ids", ["processed_at"]
    )

    op.create_table(
        "workspaces",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("enterprise_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column("bot_user_id", sa.String(length=32), nullable=True),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settings", JSON_TYPE, nullable=False),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_workspaces")),
    )
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("enterprise_id", sa.String(length=32), nullable=True),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("real_name", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("tz", sa.String(length=64), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("function", sa.String(length=120), nullable=True),
        sa.Column("manager_slack_user_id", sa.String(length=32), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("can_be_messaged", sa.Boolean(), nullable=False),
        sa.Column("last_dm_failure", sa.String(length=255), nullable=True),
        sa.Column("last_dm_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["workspaces.team_id"],
            name=op.f("fk_people_team_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint(
            "team_id", "slack_user_id", name=op.f("uq_people_team_id_slack_user_id")
        ),
    )
    op.create_index(op.f("ix_people_team_id"), "people", ["team_id"])

    op.create_table(
        "asks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("enterprise_id", sa.String(length=32), nullable=True),
        sa.Column("asker_id", sa.Integer(), nullable=False),
        sa.Column("challenge", sa.Text(), nullable=False),
        sa.Column("desired_result", sa.Text(), nullable=True),
        sa.Column("obstacles", sa.Text(), nullable=True),
        sa.Column(
            "urgency",
            _enum("urgency", "low", "normal", "high"),
            nullable=False,
        ),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            _enum(
                "status", "open", "matching", "offered", "paired", "unmet", "closed", "cancelled"
            ),
            nullable=False,
        ),
        sa.Column("topic", sa.String(length=200), nullable=True),
        sa.Column("client_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["asker_id"], ["people.id"], name=op.f("fk_asks_asker_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asks")),
        sa.UniqueConstraint("team_id", "client_key", name=op.f("uq_asks_team_id_client_key")),
    )
    op.create_index(op.f("ix_asks_asker_id"), "asks", ["asker_id"])
    op.create_index(op.f("ix_asks_team_id_status"), "asks", ["team_id", "status"])

    op.create_table(
        "helper_never_match",
        sa.Column("helper_person_id", sa.Integer(), nullable=False),
        sa.Column("blocked_slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["helper_person_id"],
            ["people.id"],
            name=op.f("fk_helper_never_match_helper_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "helper_person_id", "blocked_slack_user_id", name=op.f("pk_helper_never_match")
        ),
    )
    op.create_index(op.f("ix_helper_never_match_team_id"), "helper_never_match", ["team_id"])

    op.create_table(
        "helper_profiles",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("opted_in", sa.Boolean(), nullable=False),
        sa.Column("expertise", sa.Text(), nullable=False),
        sa.Column("topics", JSON_TYPE, nullable=False),
        sa.Column("years_managing", sa.Integer(), nullable=True),
        sa.Column("function", sa.String(length=120), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_helper_profiles_capacity_non_negative")),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_helper_profiles_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_helper_profiles")),
    )
    op.create_index(op.f("ix_helper_profiles_team_id"), "helper_profiles", ["team_id"])

    op.create_table(
        "offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("ask_id", sa.Integer(), nullable=False),
        sa.Column("helper_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column(
            "status",
            _enum("status", "pending", "accepted", "passed", "expired", "withdrawn", "skipped"),
            nullable=False,
        ),
        sa.Column("pass_reason", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ask_id"], ["asks.id"], name=op.f("fk_offers_ask_id_asks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["helper_id"], ["people.id"], name=op.f("fk_offers_helper_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.UniqueConstraint("ask_id", "helper_id", name=op.f("uq_offers_ask_id_helper_id")),
    )
    op.create_index(op.f("ix_offers_ask_id"), "offers", ["ask_id"])
    op.create_index(op.f("ix_offers_helper_id_status"), "offers", ["helper_id", "status"])
    op.create_index(op.f("ix_offers_status_expires_at"), "offers", ["status", "expires_at"])
    op.create_index(op.f("ix_offers_team_id"), "offers", ["team_id"])

    op.create_table(
        "pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("ask_id", sa.Integer(), nullable=False),
        sa.Column("helper_id", sa.Integer(), nullable=False),
        sa.Column("asker_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column(
            "status",
            _enum("status", "active", "paused", "closed"),
            nullable=False,
        ),
        sa.Column(
            "cadence",
            _enum("cadence", "weekly", "biweekly"),
            nullable=False,
        ),
        sa.Column("next_checkin_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missed_checkins", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["ask_id"], ["asks.id"], name=op.f("fk_pairs_ask_id_asks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["asker_id"], ["people.id"], name=op.f("fk_pairs_asker_id_people")),
        sa.ForeignKeyConstraint(
            ["helper_id"], ["people.id"], name=op.f("fk_pairs_helper_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairs")),
        sa.UniqueConstraint("ask_id", name=op.f("uq_pairs_ask_id")),
    )
    op.create_index(op.f("ix_pairs_asker_id"), "pairs", ["asker_id"])
    op.create_index(op.f("ix_pairs_helper_id"), "pairs", ["helper_id"])
    op.create_index(op.f("ix_pairs_status_next_checkin_at"), "pairs", ["status", "next_checkin_at"])
    op.create_index(op.f("ix_pairs_team_id_status"), "pairs", ["team_id", "status"])

    op.create_table(
        "checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            _enum("kind", "asker", "helper_monthly", "bump"),
            nullable=False,
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "answer",
            _enum("answer", "done", "in_progress", "stuck", "close", "none"),
            nullable=False,
        ),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["pair_id"], ["pairs.id"], name=op.f("fk_checkins_pair_id_pairs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkins")),
        sa.UniqueConstraint(
            "pair_id", "kind", "due_at", name=op.f("uq_checkins_pair_id_kind_due_at")
        ),
    )
    op.create_index(op.f("ix_checkins_sent_at_due_at"), "checkins", ["sent_at", "due_at"])
    op.create_index(op.f("ix_checkins_team_id"), "checkins", ["team_id"])

    op.create_table(
        "commitments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column(
            "status",
            _enum("status", "open", "done", "dropped"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["pair_id"], ["pairs.id"], name=op.f("fk_commitments_pair_id_pairs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitments")),
    )
    op.create_index(op.f("ix_commitments_pair_id_status"), "commitments", ["pair_id", "status"])
    op.create_index(op.f("ix_commitments_team_id"), "commitments", ["team_id"])

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            _enum("role", "asker", "helper"),
            nullable=False,
        ),
        sa.Column(
            "outcome",
            _enum("outcome", "resolved", "partly", "not"),
            nullable=True,
        ),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("thanks", sa.Text(), nullable=True),
        sa.Column("reflection", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rating IS NULL OR (rating >= 1 AND rating <= 5)",
            name=op.f("ck_feedback_rating_1_to_5"),
        ),
        sa.ForeignKeyConstraint(
            ["pair_id"], ["pairs.id"], name=op.f("fk_feedback_pair_id_pairs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_feedback_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("pair_id", "role", name=op.f("uq_feedback_pair_id_role")),
    )
    op.create_index(op.f("ix_feedback_person_id"), "feedback", ["person_id"])
    op.create_index(op.f("ix_feedback_team_id"), "feedback", ["team_id"])


def downgrade() -> None:
    """Drop everything (dependants first)."""
    op.drop_table("feedback")
    op.drop_table("commitments")
    op.drop_table("checkins")
    op.drop_table("pairs")
    op.drop_table("offers")
    op.drop_table("helper_profiles")
    op.drop_table("helper_never_match")
    op.drop_table("asks")
    op.drop_table("people")
    op.drop_table("workspaces")
    op.drop_table("processed_slack_ids")
    op.drop_table("outbox")
    op.drop_table("embeddings")
