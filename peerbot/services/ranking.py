"""The production ranker: an in-memory :class:`HelperIndex` per workspace, kept current from the
database, and :class:`HybridRanker` over the candidates the hard rules allow.

Keeping current, also across several worker processes: before each ranking, a cheap fingerprint of
the workspace's matching data is read from the database (counts and latest change times of helper
profiles, expertise vectors, pairs, feedback and answered offers). When it differs from the one the
index was built at, the helpers touched since the last refresh (with a safety overlap for
transactions that committed late) are reloaded and upserted. Every process does this on its own,
so a profile saved on one worker is seen by the next ask on any worker.
"""

from __future__ import annotations

import logging
import statistics
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from peerbot.domain.ports import Vector
from peerbot.domain.ranking import RankerWeights
from peerbot.domain.schedule import zone
from peerbot.matching import (
    Ask as RankAsk,
)
from peerbot.matching import (
    HelperFacts,
    HelperIndex,
    HelperRecord,
    HybridRanker,
    PastHelp,
)
from peerbot.services.matching import Candidate, Ranked
from peerbot.store.models import (
    Ask,
    Embedding,
    EmbeddingOwner,
    Feedback,
    FeedbackRole,
    HelperProfile,
    Offer,
    OfferStatus,
    Pair,
    PairStatus,
    Person,
)
from peerbot.store.types import vector_from_bytes

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=10)
FAIRNESS_WINDOW = timedelta(days=30)


def utc_offset_minutes(tz: str | None, when: datetime) -> int | None:
    """The UTC offset of ``tz`` at ``when`` in minutes (None for an unknown zone)."""
    if not tz:
        return None
    offset = when.astimezone(zone(tz)).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else None


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
        + one(
            select(func.count(), func.max(Feedback.created_at)).where(Feedback.team_id == team_id)
        )
        + one(
            select(func.count(), func.max(Offer.responded_at)).where(
                Offer.team_id == team_id, Offer.responded_at.is_not(None)
            )
        )
        + one(
            select(func.count()).where(
                Offer.team_id == team_id, Offer.status == OfferStatus.PENDING
            )
        )
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
            select(Pair.helper_id).where(
                Pair.team_id == team_id, (Pair.created_at >= since) | (Pair.closed_at >= since)
            )
        )
    )
    ids.update(
        session.scalars(
            select(Pair.helper_id)
            .join(Feedback, Feedback.pair_id == Pair.id)
            .where(Feedback.team_id == team_id, Feedback.created_at >= since)
        )
    )
    ids.update(
        session.scalars(
            select(Offer.helper_id).where(
                Offer.team_id == team_id,
                (Offer.created_at >= since) | (Offer.responded_at >= since),
            )
        )
    )
    return ids


def load_records(
    session: Session, team_id: str, model: str, now: datetime, only: Iterable[int] | None = None
) -> tuple[list[HelperRecord], list[str]]:
    """Index records of the workspace's opted-in helpers (or of ``only``), and ids to remove."""
    stmt = select(HelperProfile, Person).join(Person, Person.id == HelperProfile.person_id)
    stmt = stmt.where(HelperProfile.team_id == team_id)
    wanted = None if only is None else set(only)
    if wanted is not None:
        if not wanted:
            return [], []
        stmt = stmt.where(HelperProfile.person_id.in_(wanted))
    rows = session.execute(stmt).all()
    live = [(p, person) for p, person in rows if p.opted_in and not person.deleted]
    removed = [str(p.person_id) for p, person in rows if not (p.opted_in and not person.deleted)]
    if wanted is not None:
        present = {p.person_id for p, _ in rows}
        removed += [str(i) for i in wanted - present]
    ids = [p.person_id for p, _ in live]
    if not ids:
        return [], removed
    expertise = {
        owner: vector_from_bytes(vec, dim)
        for owner, vec, dim in session.execute(
            select(Embedding.owner_id, Embedding.vector, Embedding.dim).where(
                Embedding.team_id == team_id,
                Embedding.owner_kind == EmbeddingOwner.HELPER_EXPERTISE,
                Embedding.model_name == model,
                Embedding.owner_id.in_(ids),
            )
        )
    }
    helped = session.execute(
        select(Pair.helper_id, Pair.ask_id, Pair.created_at, Pair.status, Ask.challenge)
        .join(Ask, Ask.id == Pair.ask_id)
        .where(Pair.team_id == team_id, Pair.helper_id.in_(ids))
    ).all()
    ask_vectors = {
        owner: vector_from_bytes(vec, dim)
        for owner, vec, dim in session.execute(
            select(Embedding.owner_id, Embedding.vector, Embedding.dim).where(
                Embedding.team_id == team_id,
                Embedding.owner_kind == EmbeddingOwner.ASK,
                Embedding.model_name == model,
                Embedding.owner_id.in_([a for _, a, _, _, _ in helped] or [-1]),
            )
        )
    }
    past: dict[int, list[PastHelp]] = {}
    active: dict[int, int] = {}
    for hid, aid, created, status, text in helped:
        if status == PairStatus.ACTIVE:
            active[hid] = active.get(hid, 0) + 1
        if aid in ask_vectors:
            past.setdefault(hid, []).append(PastHelp(str(aid), ask_vectors[aid], text, created))
    ratings: dict[int, list[int]] = {}
    for hid, rating in session.execute(
        select(Pair.helper_id, Feedback.rating)
        .join(Feedback, Feedback.pair_id == Pair.id)
        .where(
            Pair.team_id == team_id,
            Pair.helper_id.in_(ids),
            Feedback.role == FeedbackRole.ASKER,
            Feedback.rating.is_not(None),
        )
    ):
        if rating is not None:
            ratings.setdefault(hid, []).append(int(rating))
    offers: dict[int, list[Offer]] = {}
    for offer in session.scalars(
        select(Offer).where(Offer.team_id == team_id, Offer.helper_id.in_(ids))
    ):
        offers.setdefault(offer.helper_id, []).append(offer)
    records = []
    for profile, person in live:
        mine = offers.get(person.id, [])
        answered = [o for o in mine if o.status != OfferStatus.PENDING]
        accepted = [o for o in mine if o.status == OfferStatus.ACCEPTED]
        accept_hours = [
            (o.responded_at - o.sent_at).total_seconds() / 3600
            for o in accepted
            if o.responded_at and o.sent_at
        ]
        r = ratings.get(person.id, [])
        facts = HelperFacts(
            helps_given=len([h for h in helped if h[0] == person.id]),
            rating_mean=sum(r) / len(r) if r else None,
            rating_count=len(r),
            years_managing=float(profile.years_managing)
            if profile.years_managing is not None
            else None,
            capacity_total=profile.capacity,
            capacity_used=active.get(person.id, 0),
            utc_offset_minutes=utc_offset_minutes(person.tz, now),
            offers_received=len(answered),
            offers_accepted=len(accepted),
            median_accept_hours=statistics.median(accept_hours) if accept_hours else None,
            recent_offers=len(
                [o for o in mine if o.sent_at and o.sent_at >= now - FAIRNESS_WINDOW]
            ),
        )
        text = profile.expertise or ""
        if profile.topics:
            text += "\nTopics: " + ", ".join(profile.topics)
        records.append(
            HelperRecord(
                helper_id=str(person.id),
                expertise_vector=expertise.get(person.id),
                expertise_text=text,
                past_helps=tuple(past.get(person.id, [])),
                facts=facts,
            )
        )
    return records, removed


class IndexedRanker:
    """:class:`~peerbot.services.matching.Ranker` backed by one index per workspace."""

    def __init__(
        self, model_name: str, dimension: int, weights: RankerWeights | None = None
    ) -> None:
        self._model = model_name
        self._dim = dimension
        self._weights = weights or RankerWeights()
        self._teams: dict[str, _TeamIndex] = {}
        self._lock = threading.Lock()

    def refresh(self, session: Session, team_id: str, now: datetime) -> HelperIndex:
        """The workspace's index, brought up to date with the database."""
        with self._lock:
            fp = _fingerprint(session, team_id, self._model)
            current = self._teams.get(team_id)
            if current is None:
                records, _ = load_records(session, team_id, self._model, now)
                index = HelperIndex.build(records, self._dim, self._model)
                self._teams[team_id] = _TeamIndex(index, fp, now)
                log.info("built the helper index of %s: %d helpers", team_id, len(records))
                return index
            if current.fingerprint != fp:
                since = (current.watermark or now) - OVERLAP
                changed = _changed_helpers(session, team_id, since)
                records, removed = load_records(session, team_id, self._model, now, changed)
                for helper_id in removed:
                    current.index.remove(helper_id)
                for record in records:
                    current.index.upsert(record)
                current.fingerprint = fp
                current.watermark = now
            return current.index

    def rank(
        self,
        session: Session,
        ask: Ask,
        vector: Vector,
        candidates: Sequence[Candidate],
        asker_tz: str | None,
        now: datetime,
    ) -> list[Ranked]:
        """Rank ``candidates`` (who passed every hard rule) for ``ask``, best first."""
        if not candidates:
            return []
        index = self.refresh(session, ask.team_id, now)
        by_id = {str(c.person_id): c for c in candidates}
        text = "\n".join(p for p in (ask.challenge, ask.desired_result, ask.obstacles) if p)
        query = RankAsk(
            text=text,
            vector=vector,
            now=now,
            asker_utc_offset_minutes=utc_offset_minutes(asker_tz, now),
        )
        ranker = HybridRanker(index, self._weights)
        ranked = ranker.rank(query, allowed=list(by_id), limit=len(by_id))
        return [Ranked(by_id[r.helper_id], r.score, r.explanation) for r in ranked]
