"""Finding candidates for an ask: load one snapshot of facts, keep the index current, rank.

The SQL lives here (the snapshot loader and, in :mod:`peerbot.services.ranking`, the index
keeping); the rules and the ranking are the pure :mod:`peerbot.matching` package.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.asks import text_for_matching
from peerbot.domain.ports import Vector
from peerbot.domain.schedule import zone
from peerbot.matching import (
    Ask as MatchAsk,
)
from peerbot.matching import (
    Candidate,
    HelperFacts,
    Ranked,
    Ranker,
    RankerWeights,
    RulesThenHybrid,
    Snapshot,
)
from peerbot.services.ranking import HelperIndexes
from peerbot.store.db import read_only
from peerbot.store.models import (
    Ask,
    Feedback,
    FeedbackRole,
    HelperNeverMatch,
    HelperProfile,
    Offer,
    OfferStatus,
    Pair,
    PairStatus,
    Person,
)

__all__ = [
    "FAIRNESS_WINDOW",
    "Candidate",
    "IndexedMatcher",
    "Matcher",
    "Ranked",
    "active_pair_counts",
    "load_snapshot",
    "utc_offset_minutes",
]

#: Offers sent within this window count against a helper's fairness signal.
FAIRNESS_WINDOW = timedelta(days=30)


def utc_offset_minutes(tz: str | None, when: datetime) -> int | None:
    """The UTC offset of ``tz`` at ``when`` in minutes (None for an unknown zone)."""
    if not tz:
        return None
    offset = when.astimezone(zone(tz)).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else None


def active_pair_counts(
    session: Session, team_id: str, helper_ids: Iterable[int] | None = None
) -> dict[int, int]:
    """Active pairs per helper person id (helpers with none are absent): capacity in use."""
    stmt = (
        select(Pair.helper_id, func.count())
        .where(Pair.team_id == team_id, Pair.status == PairStatus.ACTIVE)
        .group_by(Pair.helper_id)
    )
    if helper_ids is not None:
        stmt = stmt.where(Pair.helper_id.in_(list(helper_ids)))
    return {int(h): int(n) for h, n in session.execute(stmt).all()}


def _helper_facts(
    session: Session,
    team_id: str,
    rows: Sequence[Row[*tuple[Any, ...]]],
    now: datetime,
    max_pending_offers: int | None = None,
) -> dict[int, HelperFacts]:
    """Facts of each helper in ``rows``, by person id: a few grouped queries for all of them."""
    active = active_pair_counts(session, team_id)
    helps = dict(
        session.execute(
            select(Pair.helper_id, func.count())
            .where(Pair.team_id == team_id)
            .group_by(Pair.helper_id)
        ).all()
    )
    never: dict[int, set[str]] = {}
    for hid, blocked in session.execute(
        select(HelperNeverMatch.helper_person_id, HelperNeverMatch.blocked_slack_user_id).where(
            HelperNeverMatch.team_id == team_id
        )
    ):
        never.setdefault(hid, set()).add(blocked)
    ratings: dict[int, tuple[int, int]] = {
        hid: (int(total or 0), int(n))
        for hid, total, n in session.execute(
            select(Pair.helper_id, func.sum(Feedback.rating), func.count(Feedback.rating))
            .join(Feedback, Feedback.pair_id == Pair.id)
            .where(
                Pair.team_id == team_id,
                Feedback.role == FeedbackRole.ASKER,
                Feedback.rating.is_not(None),
            )
            .group_by(Pair.helper_id)
        )
    }
    received: dict[int, int] = {}
    accepted: dict[int, int] = {}
    pending: dict[int, int] = {}
    for hid, status, n in session.execute(
        select(Offer.helper_id, Offer.status, func.count())
        .where(Offer.team_id == team_id)
        .group_by(Offer.helper_id, Offer.status)
    ):
        if status != OfferStatus.PENDING:
            received[hid] = received.get(hid, 0) + int(n)
        else:
            pending[hid] = pending.get(hid, 0) + int(n)
        if status == OfferStatus.ACCEPTED:
            accepted[hid] = accepted.get(hid, 0) + int(n)
    recent = dict(
        session.execute(
            select(Offer.helper_id, func.count())
            .where(Offer.team_id == team_id, Offer.sent_at >= now - FAIRNESS_WINDOW)
            .group_by(Offer.helper_id)
        ).all()
    )
    accept_hours: dict[int, list[float]] = {}
    for hid, sent, responded in session.execute(
        select(Offer.helper_id, Offer.sent_at, Offer.responded_at).where(
            Offer.team_id == team_id,
            Offer.status == OfferStatus.ACCEPTED,
            Offer.sent_at.is_not(None),
            Offer.responded_at.is_not(None),
        )
    ):
        if sent is not None and responded is not None:
            hours = (responded - sent).total_seconds() / 3600
            accept_hours.setdefault(hid, []).append(hours)
    out: dict[int, HelperFacts] = {}
    offsets: dict[str | None, int | None] = {}
    for row in rows:
        pid = row.person_id
        total, n = ratings.get(pid, (0, 0))
        accepted_in = accept_hours.get(pid)
        if row.tz not in offsets:
            offsets[row.tz] = utc_offset_minutes(row.tz, now)
        out[pid] = HelperFacts(
            opted_in=row.opted_in,
            reachable=row.can_be_messaged and not row.deleted,
            paused_until=row.paused_until,
            never_match=frozenset(never.get(pid, set())),
            capacity_total=row.capacity,
            capacity_used=active.get(pid, 0),
            pending_offers=pending.get(pid, 0),
            pending_offers_max=max_pending_offers,
            helps_given=int(helps.get(pid, 0)),
            rating_mean=total / n if n else None,
            rating_count=n,
            years_managing=float(row.years_managing) if row.years_managing is not None else None,
            utc_offset_minutes=offsets[row.tz],
            offers_received=received.get(pid, 0),
            offers_accepted=accepted.get(pid, 0),
            median_accept_hours=statistics.median(accepted_in) if accepted_in else None,
            recent_offers=int(recent.get(pid, 0)),
        )
    return out


def load_snapshot(
    session: Session,
    ask: Ask,
    asker: Person,
    vector: Vector,
    now: datetime,
    *,
    max_pending_offers: int | None = None,
) -> Snapshot:
    """Everything one ranking of ``ask`` needs beyond the index, loaded once, as plain types.

    ``max_pending_offers`` (``MAX_PENDING_OFFERS_PER_HELPER``) goes into every helper's facts,
    beside the count of offers waiting for them, for the rule that enforces it.
    """
    team = ask.team_id
    # Plain columns, not ORM objects: a workspace may have 100,000 helpers.
    rows = session.execute(
        select(
            HelperProfile.person_id,
            HelperProfile.opted_in,
            HelperProfile.paused_until,
            HelperProfile.capacity,
            HelperProfile.years_managing,
            Person.slack_user_id,
            Person.tz,
            Person.can_be_messaged,
            Person.deleted,
        )
        .join(Person, Person.id == HelperProfile.person_id)
        .where(HelperProfile.team_id == team, HelperProfile.opted_in.is_(True))
    ).all()
    facts = _helper_facts(session, team, rows, now, max_pending_offers) if rows else {}
    asker_never = frozenset(
        session.scalars(
            select(HelperNeverMatch.blocked_slack_user_id).where(
                HelperNeverMatch.team_id == team, HelperNeverMatch.helper_person_id == asker.id
            )
        )
    )
    offered = frozenset(
        session.scalars(
            select(Person.slack_user_id)
            .join(Offer, Offer.helper_id == Person.id)
            .where(Offer.ask_id == ask.id)
        )
    )
    managers = (
        dict(
            session.execute(
                select(Person.slack_user_id, Person.manager_slack_user_id).where(
                    Person.team_id == team
                )
            ).all()
        )
        if rows
        else {}
    )
    query = MatchAsk(
        text=text_for_matching(ask.challenge, ask.desired_result, ask.obstacles),
        vector=vector,
        now=now,
        asker_id=asker.slack_user_id,
        asker_utc_offset_minutes=utc_offset_minutes(asker.tz, now),
        asker_never_match=asker_never,
        already_offered=offered,
    )
    helpers = [
        Candidate(row.person_id, row.slack_user_id, row.tz, facts[row.person_id]) for row in rows
    ]
    return Snapshot(ask=query, helpers=helpers, managers=managers)


class Matcher(Protocol):
    """What the ask service needs: the ranked candidates for an ask, best first."""

    def candidates_for(
        self, session: Session, ask: Ask, asker: Person, vector: Vector, now: datetime
    ) -> Sequence[Ranked]:
        """Helpers who pass every hard rule, best first, each with a true explanation."""
        ...


class IndexedMatcher:
    """:class:`Matcher`: one snapshot per ranking, an index per workspace, a pure ranker."""

    def __init__(
        self,
        model_name: str,
        dimension: int,
        weights: RankerWeights | None = None,
        *,
        ranker: Ranker | None = None,
        max_pending_offers: int | None = None,
    ) -> None:
        self._indexes = HelperIndexes(model_name, dimension)
        self._max_pending_offers = max_pending_offers
        self._ranker = ranker or RulesThenHybrid(weights)
        self._lock = threading.RLock()

    def warm(self, sessions: sessionmaker[Session], now: datetime) -> int:
        """Build the index of every workspace with helpers (at worker start-up, in a background
        thread, so the first ask does not wait for it); reads only, never the write lock.
        Returns how many workspaces were built."""
        with read_only(sessions) as session:
            teams = list(session.scalars(select(HelperProfile.team_id).distinct()))
        for team in teams:
            with read_only(sessions) as session, self._lock:
                self._indexes.refresh(session, team, now)
        return len(teams)

    def candidates_for(
        self, session: Session, ask: Ask, asker: Person, vector: Vector, now: datetime
    ) -> Sequence[Ranked]:
        """Load the snapshot, bring the workspace's index up to date, rank (:class:`Matcher`)."""
        snapshot = load_snapshot(
            session, ask, asker, vector, now, max_pending_offers=self._max_pending_offers
        )
        if not snapshot.helpers:
            return []
        with self._lock:
            index = self._indexes.refresh(session, ask.team_id, now)
            if isinstance(self._ranker, RulesThenHybrid):
                return self._ranker.rank(index, snapshot, self._lock)
            return self._ranker.rank(index, snapshot)
