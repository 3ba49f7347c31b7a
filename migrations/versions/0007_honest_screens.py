"""The helper's monthly check answers: going well, haven't met yet, the asker has gone quiet,
not a fit (``checkins.answer`` may hold ``well``, ``not_met``, ``quiet``, ``not_fit``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import context, op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("done", "in_progress", "stuck", "close", "none")
HELPER_ANSWERS = ("well", "not_met", "quiet", "not_fit")


def _answer_check(*values: str) -> str:
    return "answer IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _set_answers(*values: str) -> None:
    if context.is_offline_mode() and op.get_context().dialect.name == "sqlite":
        # SQLite rebuilds the table to change constraints, which needs the live schema.
        op.execute("-- checkins: run this revision against the database to rebuild its check")
        return
    with op.batch_alter_table("checkins", recreate="auto") as batch:
        batch.drop_constraint(op.f("ck_checkins_answer"), type_="check")
        batch.create_check_constraint("answer", _answer_check(*values))


def upgrade() -> None:
    """Allow the helper's four monthly-check answers."""
    _set_answers(*BEFORE, *HELPER_ANSWERS)


def downgrade() -> None:
    """Back to the asker's answers only (a helper's answer becomes in_progress)."""
    op.execute(
        "UPDATE checkins SET answer = 'in_progress' "
        "WHERE answer IN ('well', 'not_met', 'quiet', 'not_fit')"
    )
    _set_answers(*BEFORE)
