"""Keeping one in-memory :class:`HelperIndex` per workspace current with the database.

The index holds what is costly to rebuild: expertise and past-help vectors and texts. The facts
(capacity, offers, ratings, ...) are not loaded here: each ranking loads them once in its
snapshot (see :mod:`peerbot.services.matching`) and brings the index's copy up to date.

Keeping current, also across several worker processes: before each ranking, the workspace's
change number (:func:`matching_version`, bumped by database triggers on every change to helper
profiles, expertise vectors, pairs, ...) is read: one primary-key lookup. When it differs from
the one the index was built at, the helpers touched since the last refresh (with a safety
overlap for transactions that committed late) are reloaded and upserted. Every process does
this on its own, so a profile saved on one worker is seen by the next ask on any worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVarTuple

import numpy as np
from sqlalchemy import Select, Subquery, and_, func, select, union
from sqlalchemy.orm import Session

from peerbot.matching import HelperIndex, HelperRecord, PastHelp
from peerbot.store.models import (
    Ask,
    Embedding,
    EmbeddingOwner,
    HelperProfile,
    MatchingVersion,
    Pair,
    Person,
)
from peerbot.store.types import VECTOR_DTYPE, vector_from_bytes

log = logging.getLogger(__name__)
_Ts = TypeVarTuple("_Ts")

OVERLAP = timedelta(minutes=10)
#: More changed helpers than this (and than a quarter of the index) rebuild it instead.
REBUILD_AT = 1000
#: Up to this many vectors the index scores every row (one matrix product: ~10 ms per 100k rows,
#: recall 1.0, nothing to train at build time); above it, IVF partitions.
EXACT_MAX_ROWS = 400_000


@dataclass
class _TeamIndex:
    index: HelperIndex
    version: int
    watermark: datetime | None


def matching_version(session: Session, team_id: str) -> int:
    """The workspace's change number (:class:`~peerbot.store.models.MatchingVersion`): it grows
    with every change matching reads from the database, so an unchanged number means the index
    and the helpers' facts are current. One primary-key read."""
    return int(
        session.scalar(select(MatchingVersion.version).where(MatchingVersion.team_id == team_id))
        or 0
    )


def _changed_helpers(team_id: str, since: datetime) -> Subquery:
    """Person ids of the helpers touched since ``since``, as a subquery (no bound id lists)."""
    return union(
        select(HelperProfile.person_id.label("pid")).where(
            HelperProfile.team_id == team_id, HelperProfile.updated_at >= since
        ),
        select(Embedding.owner_id).where(
            Embedding.team_id == team_id,
            Embedding.owner_kind == EmbeddingOwner.HELPER_EXPERTISE,
            Embedding.created_at >= since,
        ),
        select(Pair.helper_id).where(Pair.team_id == team_id, Pair.created_at >= since),
    ).subquery()


def _live(stmt: Select[*_Ts], person_id: Any) -> Select[*_Ts]:
    """``stmt`` joined to the opted-in, not deleted helper whose person id is ``person_id``."""
    return (
        stmt.join(HelperProfile, HelperProfile.person_id == person_id)
        .join(Person, Person.id == HelperProfile.person_id)
        .where(HelperProfile.opted_in.is_(True), Person.deleted.is_(False))
    )


def load_records(
    session: Session, team_id: str, model: str, only: Subquery | None = None
) -> tuple[list[HelperRecord], list[str]]:
    """Index records of the workspace's opted-in helpers (or of the person ids the subquery
    ``only`` selects), keyed by Slack user id, and the user ids to remove. Facts are left empty
    (the snapshot brings them).

    Every statement filters on the server (joins and subqueries): none binds a parameter per
    helper or per past ask, so the workspace's size never meets a driver's parameter limit.
    """
    scope = None if only is None else select(only.c[0])
    stmt = (
        select(
            HelperProfile.person_id,
            HelperProfile.opted_in,
            HelperProfile.expertise,
            HelperProfile.topics,
            Person.slack_user_id,
            Person.deleted,
        )
        .join(Person, Person.id == HelperProfile.person_id)
        .where(HelperProfile.team_id == team_id)
    )
    if scope is not None:
        stmt = stmt.where(HelperProfile.person_id.in_(scope))
    # Core execution (no ORM row processing): a full load reads ~11 rows per helper.
    conn = session.connection()
    rows = conn.execute(stmt).all()
    live = [r for r in rows if r.opted_in and not r.deleted]
    removed = [r.slack_user_id for r in rows if not (r.opted_in and not r.deleted)]
    if scope is not None:
        removed += list(
            session.scalars(
                select(Person.slack_user_id).where(
                    Person.id.in_(scope),
                    ~select(HelperProfile.person_id)
                    .where(HelperProfile.person_id == Person.id)
                    .exists(),
                )
            )
        )
    if not live:
        return [], removed
    exp_stmt = _live(
        select(Embedding.owner_id, Embedding.vector, Embedding.dim), Embedding.owner_id
    ).where(
        Embedding.team_id == team_id,
        Embedding.owner_kind == EmbeddingOwner.HELPER_EXPERTISE,
        Embedding.model_name == model,
    )
    help_stmt = (
        _live(
            select(Pair.helper_id, Pair.ask_id, Pair.created_at, Ask.challenge, Embedding.vector)
            .select_from(Pair)
            .join(Ask, Ask.id == Pair.ask_id)
            .join(
                Embedding,
                and_(
                    Embedding.owner_kind == EmbeddingOwner.ASK,
                    Embedding.owner_id == Pair.ask_id,
                    Embedding.model_name == model,
                ),
            ),
            Pair.helper_id,
        )
        .where(Pair.team_id == team_id)
        .order_by(Pair.helper_id, Pair.id)
    )
    if scope is not None:
        exp_stmt = exp_stmt.where(Embedding.owner_id.in_(scope))
        help_stmt = help_stmt.where(Pair.helper_id.in_(scope))
    expertise = {owner: vector_from_bytes(vec, dim) for owner, vec, dim in conn.execute(exp_stmt)}
    rows_h = conn.execute(help_stmt).all()
    # One buffer for all past-help vectors (each PastHelp holds a row view): no array per row.
    mat = (
        np.frombuffer(b"".join(r[4] for r in rows_h), dtype=VECTOR_DTYPE)
        .astype(np.float32, copy=False)
        .reshape(len(rows_h), -1)
        if rows_h
        else np.zeros((0, 0), np.float32)
    )
    past: dict[int, list[PastHelp]] = {}
    for i, (hid, aid, created, text, _vec) in enumerate(rows_h):
        past.setdefault(hid, []).append(PastHelp(str(aid), mat[i], text, created))
    records = []
    for r in live:
        text = r.expertise or ""
        if r.topics:
            text += "\nTopics: " + ", ".join(r.topics)
        records.append(
            HelperRecord(
                helper_id=r.slack_user_id,
                expertise_vector=expertise.get(r.person_id),
                expertise_text=text,
                past_helps=tuple(past.get(r.person_id, [])),
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
        fp = matching_version(session, team_id)
        current = self._teams.get(team_id)
        if current is None:
            records, _ = load_records(session, team_id, self._model)
            index = HelperIndex.build(
                records, self._dim, self._model, exact_max_rows=EXACT_MAX_ROWS
            )
            self._teams[team_id] = _TeamIndex(index, fp, now)
            log.info("built the helper index of %s: %d helpers", team_id, len(records))
            return index
        if current.version != fp:
            since = (current.watermark or now) - OVERLAP
            changed = _changed_helpers(team_id, since)
            n_changed = session.scalar(select(func.count()).select_from(changed)) or 0
            if n_changed > max(REBUILD_AT, len(current.index) // 4):
                # Upserting means moving rows out of the partitions: past a few, rebuild.
                records, _ = load_records(session, team_id, self._model)
                index = HelperIndex.build(
                    records, self._dim, self._model, exact_max_rows=EXACT_MAX_ROWS
                )
                self._teams[team_id] = _TeamIndex(index, fp, now)
                log.info("rebuilt the helper index of %s: %d helpers", team_id, len(records))
                return index
            records, removed = load_records(session, team_id, self._model, changed)
            for helper_id in removed:
                current.index.remove(helper_id)
            for record in records:
                current.index.upsert(record)
            current.version = fp
            current.watermark = now
        return current.index
