"""The learned ranker's high-water marks: the tick's retraining check reads only what is new.

- ``ranker_models.last_offer_id`` / ``ranker_models.last_pair_id``: the largest offer and pair
  ids when the workspace's model was trained. The tick counts the asks labelled by offers and
  pairs beyond them (a primary-key range), and counts the whole history only when that says a
  retraining may be due (before: every tick counted every labelled ask: 3.7 s at 1.1 million
  asks on PostgreSQL).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 01:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the two marks (unknown for models trained before: the next tick counts in full)."""
    with op.batch_alter_table("ranker_models") as batch:
        batch.add_column(sa.Column("last_offer_id", sa.Integer()))
        batch.add_column(sa.Column("last_pair_id", sa.Integer()))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("ranker_models") as batch:
        batch.drop_column("last_pair_id")
        batch.drop_column("last_offer_id")
