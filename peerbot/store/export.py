"""Every row about one person, as JSON-ready data (export), and the outbox rows naming them.

Used by ``peerbot privacy export``, by the person's own Download my data (rendered at send time
from the tables, so the outbox holds no copy) and by ``forget``.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from peerbot.store.models import (
    Ask,
    Checkin,
    CheckinKind,
    Commitment,
    Embedding,
    EmbeddingOwner,
    Feedback,
    FeedbackRole,
    HelperNeverMatch,
    HelperProfile,
    MeetingCheck,
    Offer,
    OfferStatus,
    OutboxMessage,
    Pair,
    Person,
)


def find(session: Session, team_id: str, user_id: str) -> Person | None:
    """The person ``user_id`` of ``team_id``."""
    return session.scalar(
        select(Person).where(Person.team_id == team_id, Person.slack_user_id == user_id)
    )


def _iso(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    return value


def _row(obj: Any, *names: str) -> dict[str, object]:
    return {n: _iso(getattr(obj, n)) for n in names}


def person_export(session: Session, team_id: str, user_id: str, now: datetime) -> dict[str, Any]:
    """Every row about ``user_id`` in ``team_id`` as JSON-ready data; of a shared pair, only
    what they could already see. Nothing about anyone else."""
    out: dict[str, Any] = {
        "team_id": team_id,
        "user_id": user_id,
        "exported_at": now.isoformat(),
    }
    me = find(session, team_id, user_id)
    if me is None:
        out["person"] = None
        return out
    out["person"] = _row(
        me,
        "slack_user_id",
        "display_name",
        "real_name",
        "email",
        "tz",
        "title",
        "function",
        "manager_slack_user_id",
        "deleted",
        "can_be_messaged",
        "last_dm_failure",
        "last_dm_failure_at",
        "created_at",
        "updated_at",
    )
    profile = session.get(HelperProfile, me.id)
    out["helper_profile"] = (
        None
        if profile is None
        else _row(
            profile,
            "opted_in",
            "expertise",
            "topics",
            "years_managing",
            "function",
            "capacity",
            "paused_until",
            "created_at",
            "updated_at",
        )
    )
    out["never_match"] = sorted(
        session.scalars(
            select(HelperNeverMatch.blocked_slack_user_id).where(
                HelperNeverMatch.helper_person_id == me.id
            )
        )
    )
    ask_fields = (
        "id",
        "challenge",
        "desired_result",
        "obstacles",
        "urgency",
        "anonymous",
        "excluded_user_ids",
        "status",
        "topic",
        "created_at",
        "matched_at",
        "closed_at",
    )
    asks = list(
        session.scalars(
            select(Ask).where(Ask.team_id == team_id, Ask.asker_id == me.id).order_by(Ask.id)
        )
    )
    out["asks"] = [_row(a, *ask_fields) for a in asks]
    offers = []
    for offer, ask in session.execute(
        select(Offer, Ask)
        .join(Ask, Ask.id == Offer.ask_id)
        .where(Offer.team_id == team_id, Offer.helper_id == me.id)
        .order_by(Offer.id)
    ):
        row = _row(
            offer,
            "id",
            "status",
            "explanation",
            "pass_reason",
            "sent_at",
            "expires_at",
            "responded_at",
        )
        # The offer as the helper saw it: the ask's text, and its asker unless anonymous.
        seen = _row(ask, "challenge", "desired_result", "obstacles", "urgency")
        if not ask.anonymous or offer.status == OfferStatus.ACCEPTED:
            asker = session.get(Person, ask.asker_id)
            seen["asker"] = asker.slack_user_id if asker else None
        row["ask"] = seen
        offers.append(row)
    out["offers_received"] = offers
    pairs = []
    for pair in session.scalars(
        select(Pair)
        .where(Pair.team_id == team_id, or_(Pair.asker_id == me.id, Pair.helper_id == me.id))
        .order_by(Pair.id)
    ):
        role = "asker" if pair.asker_id == me.id else "helper"
        other = session.get(Person, pair.helper_id if role == "asker" else pair.asker_id)
        row = _row(pair, "id", "status", "cadence", "created_at", "closed_at", "channel_id")
        row["role"] = role
        row["with"] = other.slack_user_id if other else None
        row["ask_id"] = pair.ask_id
        if role == "helper":
            helped = session.get(Ask, pair.ask_id)
            row["ask"] = (
                _row(helped, "challenge", "desired_result", "obstacles") if helped else None
            )
        row["commitments"] = [
            _row(c, "id", "text", "due_date", "status", "created_at", "done_at")
            for c in session.scalars(
                select(Commitment).where(Commitment.pair_id == pair.id).order_by(Commitment.id)
            )
        ]
        mine = (
            (CheckinKind.ASKER, CheckinKind.BUMP)
            if role == "asker"
            else (CheckinKind.HELPER_MONTHLY,)
        )
        row["checkins"] = [
            _row(c, "id", "kind", "due_at", "sent_at", "answered_at", "answer")
            for c in session.scalars(
                select(Checkin)
                .where(Checkin.pair_id == pair.id, Checkin.kind.in_(mine))
                .order_by(Checkin.id)
            )
        ]
        row["did_you_meet"] = [  # their own answers only
            _row(m, "id", "due_at", "sent_at", "answered_at", "answer")
            for m in session.scalars(
                select(MeetingCheck)
                .where(MeetingCheck.pair_id == pair.id, MeetingCheck.side == role)
                .order_by(MeetingCheck.id)
            )
        ]
        given = session.scalar(
            select(Feedback).where(Feedback.pair_id == pair.id, Feedback.person_id == me.id)
        )
        row["feedback_given"] = (
            None
            if given is None
            else _row(given, "role", "outcome", "rating", "thanks", "reflection", "created_at")
        )
        if role == "helper":
            thanks = session.scalar(
                select(Feedback.thanks).where(
                    Feedback.pair_id == pair.id, Feedback.role == FeedbackRole.ASKER
                )
            )
            row["thanks_received"] = thanks
        pairs.append(row)
    out["pairs"] = pairs
    ask_ids = [a.id for a in asks]
    out["embeddings"] = [
        _row(e, "owner_kind", "owner_id", "model_name", "dim", "created_at")
        for e in session.scalars(
            select(Embedding)
            .where(
                Embedding.team_id == team_id,
                or_(
                    (Embedding.owner_kind == EmbeddingOwner.HELPER_EXPERTISE)
                    & (Embedding.owner_id == me.id),
                    (Embedding.owner_kind == EmbeddingOwner.ASK)
                    & Embedding.owner_id.in_(ask_ids or [-1]),
                ),
            )
            .order_by(Embedding.id)
        )
    ]
    out["messages"] = [
        {**_row(m, "notice", "status", "created_at", "sent_at"), "kind": m.kind.value}
        for m in messages_naming(session, team_id, user_id)
    ]
    from peerbot.store.circle_privacy import circle_export

    out["peer_circles"] = circle_export(session, me.id)
    return out


def messages_naming(session: Session, team_id: str, user_id: str) -> list[OutboxMessage]:
    """Outbox rows that name ``user_id`` anywhere (audience, key, Slack's answer)."""
    rows = session.scalars(
        select(OutboxMessage).where(OutboxMessage.team_id == team_id).order_by(OutboxMessage.id)
    )
    names = re.compile(rf"(?<![A-Za-z0-9]){re.escape(user_id)}(?![A-Za-z0-9])")
    return [
        m
        for m in rows
        if names.search(
            " ".join(
                (
                    m.idempotency_key,
                    json.dumps(m.payload),
                    json.dumps(m.result),
                    m.last_error or "",
                )
            )
        )
    ]
