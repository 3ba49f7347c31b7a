"""Finding candidates for an ask: the hard rules from the database, then the ranker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from peerbot.domain.ports import Vector
from peerbot.domain.rules import AskFacts, HelperFacts, why_ineligible
from peerbot.store.models import (
    Ask,
    HelperNeverMatch,
    HelperProfile,
    Offer,
    Pair,
    PairStatus,
    Person,
)


@dataclass
class Candidate:
    """A helper who passed every hard rule."""

    person_id: int
    user_id: str
    tz: str | None


@dataclass(frozen=True)
class Ranked:
    """A candidate's place in the ranking, with a short true reason."""

    candidate: Candidate
    score: float
    explanation: str


class Ranker(Protocol):
    """Orders eligible candidates for an ask, best first (see ``peerbot.services.ranking``)."""

    def rank(
        self,
        session: Session,
        ask: Ask,
        vector: Vector,
        candidates: Sequence[Candidate],
        asker_tz: str | None,
        now: datetime,
    ) -> list[Ranked]:
        """Best first, each with a true explanation."""
        ...


def eligible_candidates(
    session: Session, ask: Ask, asker: Person, now: datetime
) -> list[Candidate]:
    """Every helper the hard rules allow for ``ask``."""
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
    return [
        Candidate(person_id=person.id, user_id=person.slack_user_id, tz=person.tz)
        for _, person in allowed
    ]
