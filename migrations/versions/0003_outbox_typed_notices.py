"""Outbox: typed notices that carry ids, not copies of what people typed.

``outbox.method`` (a Slack Web API method) becomes ``outbox.notice`` (the notice's kind), and
every payload is rewritten from ``{"template", "data", "user" | "users" | "ref", ...}`` to
``{"notice": {...ids...}, "to": {...}}``. The rewrite drops the copies of questions, thanks and
commitments that the old payloads held, for sent messages too. A message still to send whose old
payload does not name what it is about (an old commitment notice) is retired as a dead letter
with ``last_error = 'retired_by_upgrade'``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 13:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Old template → (notice kind, the id fields it keeps from the old data).
_FIELDS: dict[str, tuple[str, ...]] = {
    "ask_received": ("ask_id", "answer_by", "max_offers"),
    "ask_matched": ("ask_id", "pair_id"),
    "ask_unmet": ("ask_id", "tried"),
    "offer_request": ("offer_id",),
    "offer_closed": ("offer_id", "state"),
    "intro": ("pair_id",),
    "checkin": ("checkin_id", "bump"),
    "checkin_answered": ("checkin_id",),
    "helper_check": ("checkin_id",),
    "helper_check_answered": ("checkin_id",),
    "stuck_nudge": ("checkin_id",),
    "pair_paused": ("pair_id",),
    "pair_closed": ("pair_id",),
    "feedback_request": ("pair_id", "role"),
    "thanks": ("pair_id",),
}


def _convert(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The new payload for an old one, or None when it cannot be expressed as a notice."""
    template = payload.get("template")
    data = payload.get("data") or {}
    if template not in _FIELDS or not all(f in data for f in _FIELDS[template]):
        return None
    notice: dict[str, Any] = {"kind": template}
    for field in _FIELDS[template]:
        value = data[field]
        if field == "role":
            notice["to"] = value
        elif field == "bump":
            notice["bump"] = bool(value)
        elif field in ("max_offers", "tried") or field.endswith("_id"):
            notice[field] = int(value)
        else:
            notice[field] = value
    if "ref" in payload:
        to: dict[str, Any] = {"type": "replacing", "key": payload["ref"], "fallback": None}
    elif "users" in payload:
        to = {"type": "group", "user_ids": list(payload["users"])}
    elif "user" in payload:
        to = {"type": "person", "user_id": payload["user"]}
    else:
        return None
    return {"notice": notice, "to": to}


def upgrade() -> None:
    """Rename ``method`` to ``notice`` and rewrite every payload as a notice."""
    # Plain RENAME COLUMN: PostgreSQL and SQLite (3.25+) both have it, and it needs no table copy.
    op.execute("ALTER TABLE outbox RENAME COLUMN method TO notice")
    if context.is_offline_mode():
        op.execute("-- outbox payloads are rewritten as notices when run against a database")
        return
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.Integer),
        sa.column("notice", sa.String),
        sa.column("payload", sa.JSON),
        sa.column("status", sa.String),
        sa.column("last_error", sa.Text),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(outbox.c.id, outbox.c.payload, outbox.c.status)).all()
    for row_id, payload, status in rows:
        new = _convert(payload or {})
        values: dict[str, Any]
        if new is not None:
            values = {"payload": new, "notice": new["notice"]["kind"]}
        else:
            values = {"payload": {}, "notice": str((payload or {}).get("template") or "unknown")}
            if status in ("pending", "sending"):
                values.update(status="dead", last_error="retired_by_upgrade")
        conn.execute(sa.update(outbox).where(outbox.c.id == row_id).values(**values))


def downgrade() -> None:
    """Rename ``notice`` back to ``method`` (payloads stay in the new form)."""
    op.execute("ALTER TABLE outbox RENAME COLUMN notice TO method")
