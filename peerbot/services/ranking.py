"""Keeping one in-memory :class:`HelperIndex` per workspace current with the database.

The index holds what is costly to rebuild: expertise and past-help vectors and texts. The facts
(capacity, offers, ratings, ...) are not loaded here: each ranking loads them once in its
snapshot (see :mod:`peerbot.services.matching`) and brings the index's copy up to date.

Keeping current, also across several worker processes: before each ranking, a cheap fingerprint of
the workspace's matching data is read from the database (counts and latest change times of helper
profiles, expertise vectors and pairs). When it differs from the one the index was built at, the
helpers touched since the last refresh (with a safety overlap for transactions that committed
late) are reloaded and upserted. Every process does this on its own, so a profile saved on one
worker is seen by the next ask on any worker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from peerbot.domain.ports import Vector
from peerbot.matching import HelperIndex, HelperRecord, PastHelp
from peerbot.store.models import Ask, Embedding, EmbeddingOwner, HelperProfile, Pair, Person
from peerbot.store.types import vector_from_bytes

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=10)


@dataclass
class _TeamIndex:
    index: HelperIndex
    fingerprint: tuple[Any, ...]
    watermark: datetime | None


def _fingerprint(session: Session, team_id: str, model: str) -> tuple[Any, ...]:
    def one(stmt: Any) -> tuple[Any, ...]:
        row = session.execute(stmt).one()
        return tuple(row)

    return (
        one(
            select(func.count(), func.max(HelperProfile.updated_at)).where(
                HelperProfile.team_id == team_id
            )
        )
        + one(
            select(func.count(), func.max(Embedding.created_at)).where(
                Embedding.team_id == team_id,
                Embedding.owner_kind == EmbeddingOwner.HELPER_EXPERTISE,
                Embedding.model_name == model,
            )
        )
        + one(select(func.count(), func.max(Pair.created_at)).where(Pair.team_id == team_id))
    )


def _changed_helpers(session: Session, team_id: str, since: datetime) -> set[int]:
    ids: set[int] = set()
    ids.update(
        session.scalars(
            select(HelperProfile.person_id).where(
                HelperProfile.team_id == team_id, HelperProfile.updated_at >= since
            )
        )
    )
    ids.update(
        session.scalars(
            select(Embedding.owner_id).where(
                Embedding.team_id == team_id,
                Embedding.owner_kind == EmbeddingOwner.HELPER_EXPERTISE,
                Embedding.created_at >= since,
            )
        )
    )
    ids.update(
        session.scalars(
            select(Pair.helper_id).where(Pair.team_id == team_id, Pair.created_at >= since)
        )
    )
    return ids


def _vectors(
    session: Session, team_id: str, kind: EmbeddingOwner, model: str, owners: list[int]
) -> dict[int, Vector]:
    """The ``model``'s vectors of ``owners`` of one kind, by owner id."""
    if not owners:
        return {}
    rows = session.execute(
        select(Embedding.owner_id, Embedding.vector, Embedding.dim).where(
            Embedding.team_id == team_id,
            Embedding.owner_kind == kind,
            Embedding.model_name == model,
            Embedding.owner_id.in_(owners),
        )
    )
    return {owner: vector_from_bytes(vec, dim) for owner, vec, dim in rows}


def load_records(
    session: Session, team_id: str, model: str, only: Iterable[int] | None = None
) -> tuple[list[HelperRecord], list[str]]:
    """Index records of the workspace's opted-in helpers (or of person ids ``only``), keyed by
    Slack user id, and the user ids to remove. Facts are left empty (the snapshot brings them)."""
    stmt = select(HelperProfile, Person).join(Person, Person.id == HelperProfile.person_id)
    stmt = stmt.where(HelperProfile.team_id == team_id)
    wanted = None if only is None else set(only)
    if wanted is not None:
        if not wanted:
            return [], []
        stmt = stmt.where(HelperProfile.person_id.in_(wanted))
    rows = session.execute(stmt).all()
    live = [(p, person) for p, person in rows if p.opted_in and not person.deleted]
    removed = [
        person.slack_user_id for p, person in rows if not (p.opted_in and not person.deleted)
    ]
    if wanted is not None:
        missing = wanted - {p.person_id for p, _ in rows}
        if missing:
            removed += list(
                session.scalars(select(Person.slack_user_id).where(Person.id.in_(missing)))
            )
    ids = [p.person_id for p, _ in live]
    if not ids:
        return [], removed
    expertise = _vectors(session, team_id, EmbeddingOwner.HELPER_EXPERTISE, model, ids)
    helped = session.execute(
        select(Pair.helper_id, Pair.ask_id, Pair.created_at, Ask.challenge)
        .join(Ask, Ask.id == Pair.ask_id)
        .where(Pair.team_id == team_id, Pair.helper_id.in_(ids))
    ).all()
    ask_vectors = _vectors(
        session, team_id, EmbeddingOwner.ASK, model, [a for _, a, _, _ in helped]
    )
    past: dict[int, list[PastHelp]] = {}
    for hid, aid, created, text in helped:
        if aid in ask_vectors:
            past.setdefault(hid, []).append(PastHelp(str(aid), ask_vectors[aid], text, created))
    records = []
    for profile, person in live:
        text = profile.expertise or ""
        if profile.topics:
            text += "\nTopics: " + ", ".join(profile.topics)
        records.append(
            HelperRecord(
                helper_id=person.slack_user_id,
                expertise_vector=expertise.get(person.id),
                expertise_text=text,
                past_helps=tuple(past.get(person.id, [])),
            )
        )
    return records, removed


class HelperIndexes:
    """One :class:`HelperIndex` per workspace, refreshed from the database before each use."""

    def __init__(self, model_name: str, dimension: int) -> None:
        self._model = model_name
        self._dim = dimension
        self._teams: dict[str, _TeamIndex] = {}

    def refresh(self, session: Session, team_id: str, now: datetime) -> HelperIndex:
        """The workspace's index, brought up to date with the database (callers serialise)."""
        fp = _fingerprint(session, team_id, self._model)
        current = self._teams.get(team_id)
        if current is None:
            records, _ = load_records(session, team_id, self._model)
            index = HelperIndex.build(records, self._dim, self._model)
            self._teams[team_id] = _TeamIndex(index, fp, now)
            log.info("built the helper index of %s: %d helpers", team_id, len(records))
            return index
        if current.fingerprint != fp:
            since = (current.watermark or now) - OVERLAP
            changed = _changed_helpers(session, team_id, since)
            records, removed = load_records(session, team_id, self._model, changed)
            for helper_id in removed:
                current.index.remove(helper_id)
            for record in records:
                current.index.upsert(record)
            current.fingerprint = fp
            current.watermark = now
        return current.index
