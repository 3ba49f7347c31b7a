"""A person's peer-circle data: exported with the rest of their data, and redacted when they
are forgotten (called by ``peerbot.store.export`` and ``peerbot.services.privacy``); an ended
circle's texts are redacted by the retention job after the retention period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from peerbot.domain.privacy import REDACTED
from peerbot.store.models import (
    Circle,
    CircleAction,
    CircleFeedback,
    CircleMember,
    CirclePoolEntry,
)


def circle_export(session: Session, person_id: int) -> dict[str, Any]:
    """Their place in the pool, their circles (theme, what they wrote, when they left), their
    actions and their pulse and close-out answers. Nothing another member wrote."""
    entry = session.scalar(select(CirclePoolEntry).where(CirclePoolEntry.person_id == person_id))
    circles = session.execute(
        select(CircleMember, Circle)
        .join(Circle, Circle.id == CircleMember.circle_id)
        .where(CircleMember.person_id == person_id)
        .order_by(Circle.id)
    ).all()
    actions = session.scalars(
        select(CircleAction).where(CircleAction.person_id == person_id).order_by(CircleAction.id)
    )
    feedback = session.scalars(
        select(CircleFeedback)
        .where(CircleFeedback.person_id == person_id)
        .order_by(CircleFeedback.id)
    )

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "pool": None
        if entry is None
        else {"text": entry.text, "function": entry.function, "joined_at": iso(entry.joined_at)},
        "circles": [
            {
                "circle_id": c.id,
                "theme": c.theme,
                "text": m.text,
                "function": m.function,
                "status": c.status.value,
                "starts_at": iso(c.starts_at),
                "ends_at": iso(c.ends_at),
                "left_at": iso(m.left_at),
            }
            for m, c in circles
        ],
        "actions": [
            {"circle_id": a.circle_id, "text": a.text, "created_at": iso(a.created_at)}
            for a in actions
        ],
        "feedback": [
            {
                "circle_id": f.circle_id,
                "kind": f.kind.value,
                "rating": f.rating,
                "note": f.note,
                "created_at": iso(f.created_at),
            }
            for f in feedback
        ],
    }


def forget_circle_data(session: Session, person_id: int, now: datetime) -> None:
    """Leave the pool and every circle, and redact what they wrote there (the join text, their
    actions, their notes); ratings stay, without them once their id is replaced."""
    session.execute(delete(CirclePoolEntry).where(CirclePoolEntry.person_id == person_id))
    session.execute(
        update(CircleMember)
        .where(CircleMember.person_id == person_id, CircleMember.left_at.is_(None))
        .values(left_at=now)
    )
    session.execute(
        update(CircleMember).where(CircleMember.person_id == person_id).values(text=REDACTED)
    )
    session.execute(
        update(CircleAction).where(CircleAction.person_id == person_id).values(text=REDACTED)
    )
    session.execute(
        update(CircleFeedback).where(CircleFeedback.person_id == person_id).values(note=None)
    )
    session.execute(
        update(Circle).where(Circle.facilitator_id == person_id).values(facilitator_id=None)
    )


def redact_circles(session: Session, circle_ids: list[int]) -> None:
    """Retention: redact what members wrote in these (ended) circles, with the marker used on
    forget: the text each joined with, their actions, their notes. Ratings stay."""
    session.execute(
        update(CircleMember)
        .where(CircleMember.circle_id.in_(circle_ids), CircleMember.text != REDACTED)
        .values(text=REDACTED)
    )
    session.execute(
        update(CircleAction)
        .where(CircleAction.circle_id.in_(circle_ids), CircleAction.text != REDACTED)
        .values(text=REDACTED)
    )
    session.execute(
        update(CircleFeedback)
        .where(CircleFeedback.circle_id.in_(circle_ids), CircleFeedback.note.is_not(None))
        .values(note=None)
    )
