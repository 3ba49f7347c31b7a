"""Finding candidates for an ask: the hard rules from the database, then the ranker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from peerbot.domain.ports import Vector
from peerbot.domain.rules import AskFacts, HelperFacts, why_ineligible
from peerbot.store.models import (
    Ask,
    Embedding,
    EmbeddingOwner,
    HelperNeverMatch,
    HelperProfile,
    Offer,
    Pair,
    PairStatus,
    Person,
)
from peerbot.store.types import vector_from_bytes


@dataclass
class Candidate:
    """A helper who passed every hard rule, with what the ranker may use."""

    person_id: int
    user_id: str
    tz: str | None
    expertise: str
    topics: list[str]
    years_managing: int | None
    capacity_left: int
    expertise_vector: Vector | None = None
    past_vectors: list[Vector] = field(default_factory=list)
    past_texts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Ranked:
    """A candidate's place in the ranking, with a short true reason."""

    candidate: Candidate
    score: float
    explanation: str


class Ranker(Protocol):
    """Orders eligible candidates for an ask (the matching issue makes this much better)."""

    def rank(
        self, ask_vector: Vector, ask_text: str, candidates: Sequence[Candidate]
    ) -> list[Ranked]:
        """Best first."""
        ...


class SemanticRanker:
    """Similarity of the ask to the helper's expertise and to asks they helped on before."""

    def rank(
        self, ask_vector: Vector, ask_text: str, candidates: Sequence[Candidate]
    ) -> list[Ranked]:
        """Score = the larger of expertise similarity and the best past-ask similarity."""
        out: list[Ranked] = []
        for c in candidates:
            exp = float(c.expertise_vector @ ask_vector) if c.expertise_vector is not None else 0.0
            past = [float(v @ ask_vector) for v in c.past_vectors]
            best_past = max(past, default=-1.0)
            if past and best_past > exp:
                i = int(np.argmax(past))
                why = f"Has helped on a similar ask before: “{c.past_texts[i][:80]}”"
            else:
                why = "Their experience as a manager is close to your challenge"
            out.append(Ranked(c, max(exp, best_past), why))
        out.sort(key=lambda r: (-r.score, r.candidate.person_id))
        return out


def _vectors(
    session: Session, team_id: str, kind: EmbeddingOwner, ids: Sequence[int], model: str
) -> dict[int, Vector]:
    if not ids:
        return {}
    rows = session.execute(
        select(Embedding.owner_id, Embedding.vector, Embedding.dim).where(
            Embedding.team_id == team_id,
            Embedding.owner_kind == kind,
            Embedding.model_name == model,
            Embedding.owner_id.in_(list(ids)),
        )
    )
    return {owner: vector_from_bytes(vec, dim) for owner, vec, dim in rows}


def eligible_candidates(
    session: Session, ask: Ask, asker: Person, now: datetime, model_name: str
) -> list[Candidate]:
    """Every helper the hard rules allow for ``ask``, with their vectors loaded."""
    team = ask.team_id
    rows = session.execute(
        select(HelperProfile, Person)
        .join(Person, Person.id == HelperProfile.person_id)
        .where(HelperProfile.team_id == team, HelperProfile.opted_in.is_(True))
    ).all()
    if not rows:
        return []
    active = dict(
        session.execute(
            select(Pair.helper_id, func.count())
            .where(Pair.team_id == team, Pair.status == PairStatus.ACTIVE)
            .group_by(Pair.helper_id)
        ).all()
    )
    never: dict[int, set[str]] = {}
    for hid, blocked in session.execute(
        select(HelperNeverMatch.helper_person_id, HelperNeverMatch.blocked_slack_user_id).where(
            HelperNeverMatch.team_id == team
        )
    ):
        never.setdefault(hid, set()).add(blocked)
    offered = set(
        session.scalars(
            select(Person.slack_user_id)
            .join(Offer, Offer.helper_id == Person.id)
            .where(Offer.ask_id == ask.id)
        )
    )
    managers = dict(
        session.execute(
            select(Person.slack_user_id, Person.manager_slack_user_id).where(Person.team_id == team)
        ).all()
    )
    facts = AskFacts(
        asker_id=asker.slack_user_id,
        asker_never_match=frozenset(never.get(asker.id, set())),
        already_offered=frozenset(offered),
    )
    allowed: list[tuple[HelperProfile, Person]] = []
    for profile, person in rows:
        helper = HelperFacts(
            user_id=person.slack_user_id,
            opted_in=profile.opted_in,
            paused_until=profile.paused_until,
            capacity=profile.capacity,
            active_pairs=int(active.get(person.id, 0)),
            never_match=frozenset(never.get(person.id, set())),
            reachable=person.can_be_messaged and not person.deleted,
        )
        if why_ineligible(helper, facts, managers, now) is None:
            allowed.append((profile, person))
    ids = [p.id for _, p in allowed]
    expertise = _vectors(session, team, EmbeddingOwner.HELPER_EXPERTISE, ids, model_name)
    past: dict[int, list[tuple[Vector, str]]] = {}
    helped = session.execute(
        select(Pair.helper_id, Pair.ask_id, Ask.challenge)
        .join(Ask, Ask.id == Pair.ask_id)
        .where(Pair.team_id == team, Pair.helper_id.in_(ids))
    ).all()
    ask_vecs = _vectors(session, team, EmbeddingOwner.ASK, [a for _, a, _ in helped], model_name)
    for hid, aid, text in helped:
        if aid in ask_vecs:
            past.setdefault(hid, []).append((ask_vecs[aid], text))
    out = []
    for profile, person in allowed:
        pv = past.get(person.id, [])
        out.append(
            Candidate(
                person_id=person.id,
                user_id=person.slack_user_id,
                tz=person.tz,
                expertise=profile.expertise,
                topics=list(profile.topics or []),
                years_managing=profile.years_managing,
                capacity_left=profile.capacity - int(active.get(person.id, 0)),
                expertise_vector=expertise.get(person.id),
                past_vectors=[v for v, _ in pv],
                past_texts=[t for _, t in pv],
            )
        )
    return out
