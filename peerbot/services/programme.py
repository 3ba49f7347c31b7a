"""The programme view's figures, read from the database for one workspace and one period.

Privacy by construction: nothing here reads a question's text, a commitment, a thank-you or a
name of an asker. Totals are always shown; any breakdown cell that would describe fewer than
:data:`MIN_PEOPLE` distinct people is replaced by :data:`FEWER` (the "fewer than 5" rule). Pass
reasons are free text that their authors never agreed to show admins, so only their *category*
(matched on keywords) is counted.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, distinct, exists, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.ports import Clock
from peerbot.domain.topics import topic_label
from peerbot.services.programme_settings import AWAITING_APPROVAL
from peerbot.store.db import read_only
from peerbot.store.models import (
    Ask,
    AskStatus,
    Checkin,
    CheckinAnswer,
    CheckinKind,
    Commitment,
    CommitmentStatus,
    Feedback,
    FeedbackRole,
    HelperProfile,
    Offer,
    OfferStatus,
    Pair,
    PairStatus,
    Person,
)

#: A breakdown cell describing fewer people than this is not shown.
MIN_PEOPLE = 5
#: What is shown instead.
FEWER = "fewer than 5"
#: An ask without a topic.
NO_TOPIC = "(no topic)"

#: A cell of a people-level breakdown: a count, or :data:`FEWER`.
Cell = int | str

#: Pass-reason categories, matched on keywords (first match wins); the text itself is never shown.
PASS_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("busy", ("busy", "time", "travel", "holiday", "vacation", "leave", "week", "capacity",
              "swamped", "workload", "deadline", "bandwidth")),
    ("not my area", ("area", "expert", "experience", "not my", "don't know", "outside",
                     "not the right", "skill", "unfamiliar")),
    ("conflict of interest", ("conflict", "know them", "know the person", "colleague",
                              "same team", "my team", "report", "close to")),
)  # fmt: skip
NO_REASON = "no reason given"
OTHER_REASON = "other"
NO_ANSWER = "no answer in time"


def categorise_pass(reason: str | None) -> str:
    """The category of a helper's pass reason (never the text)."""
    cleaned = (reason or "").strip().lower()
    if not cleaned:
        return NO_REASON
    for category, words in PASS_CATEGORIES:
        if any(w in cleaned for w in words):
            return category
    return OTHER_REASON


def cell(count: int, people: int) -> Cell:
    """``count`` when it describes at least :data:`MIN_PEOPLE` distinct people (or nobody: 0),
    else :data:`FEWER`."""
    return count if count == 0 or people >= MIN_PEOPLE else FEWER


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


@dataclass(frozen=True)
class Period:
    """The period figures describe: ``[since, until]``; ``since`` None means from the start."""

    since: datetime | None
    until: datetime

    @classmethod
    def from_date(cls, since: date | None, until: datetime) -> Period:
        """From a start date (midnight UTC) to ``until``."""
        start = datetime.combine(since, time(0), tzinfo=UTC) if since else None
        return cls(start, until)

    @classmethod
    def month_of(cls, now: datetime) -> Period:
        """This calendar month (UTC) up to ``now``."""
        return cls(now.replace(day=1, hour=0, minute=0, second=0, microsecond=0), now)

    def holds(self, column: Any) -> Any:
        """A SQL condition: ``column`` falls in the period."""
        if self.since is None:
            return column <= self.until
        return and_(column >= self.since, column <= self.until)


@dataclass
class TopicRow:
    """Demand and supply of one topic (cells follow the fewer-than-5 rule)."""

    topic: str
    label: str
    asks: Cell
    unmet: Cell
    helpers: Cell
    #: For ordering the supply gaps (never shown when it is a FEWER cell).
    unmet_raw: int = field(default=0, repr=False)
    helpers_raw: int = field(default=0, repr=False)


@dataclass
class HelperRow:
    """One helper, for the admins who manage helpers (no asks, no askers)."""

    user_id: str
    name: str
    state: str
    capacity: int
    active_pairs: int

    @property
    def near_capacity(self) -> bool:
        """At or over their capacity."""
        return self.capacity > 0 and self.active_pairs >= self.capacity


@dataclass
class Figures:
    """Everything the programme view shows for one workspace and period."""

    team_id: str
    since: str | None
    until: str
    asks: int
    intros: int
    match_rate: float | None
    median_hours_to_intro: float | None
    offers_answered: int
    offers_accepted: int
    acceptance_rate: float | None
    checkins_sent: int
    checkins_answered: int
    checkin_completion: float | None
    ratings: int
    mean_rating: float | None
    outcomes: dict[str, Cell]
    unmet: int
    unmet_by_topic: dict[str, Cell]
    funnel: dict[str, int]
    pass_reasons: dict[str, Cell]
    checkin_answers: dict[str, Cell]
    commitments: dict[str, int]
    pairs: dict[str, int]
    helpers: int
    helpers_paused: int
    helpers_near_capacity: int
    helper_load: dict[str, Cell]
    asks_by_week: dict[str, Cell]
    topics: list[TopicRow]
    supply_gaps: list[TopicRow]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the supply-gap and topic rows without their raw counts)."""
        out = asdict(self)
        for key in ("topics", "supply_gaps"):
            out[key] = [
                {k: v for k, v in row.items() if not k.endswith("_raw")} for row in out[key]
            ]
        return out


def _people_cells(rows: Iterable[tuple[Any, int, int]]) -> dict[str, Cell]:
    return {str(key): cell(count, people) for key, count, people in rows}


def figures(session: Session, team_id: str, period: Period) -> Figures:
    """Every figure of the programme view for ``team_id`` over ``period``."""
    in_team = Ask.team_id == team_id
    asked = and_(in_team, period.holds(Ask.created_at))
    live = and_(Pair.team_id == team_id, Pair.status != PairStatus.FAILED)

    asks = session.scalar(select(func.count()).select_from(Ask).where(asked)) or 0
    intro_times = session.execute(
        select(Ask.created_at, func.min(Pair.created_at))
        .join(Pair, Pair.ask_id == Ask.id)
        .where(asked, live)
        .group_by(Ask.id, Ask.created_at)
    ).all()
    intros = len(intro_times)
    hours = [(paired - created).total_seconds() / 3600 for created, paired in intro_times]
    median_hours = round(statistics.median(hours), 2) if hours else None

    offer_counts = dict(
        session.execute(
            select(Offer.status, func.count())
            .join(Ask, Ask.id == Offer.ask_id)
            .where(asked)
            .group_by(Offer.status)
        ).all()
    )
    accepted = offer_counts.get(OfferStatus.ACCEPTED, 0)
    answered = accepted + offer_counts.get(OfferStatus.PASSED, 0)
    answered += offer_counts.get(OfferStatus.EXPIRED, 0)

    sent_checkin = and_(
        Checkin.team_id == team_id,
        Checkin.kind == CheckinKind.ASKER,
        Checkin.sent_at.is_not(None),
        period.holds(Checkin.sent_at),
    )
    checkins_sent, checkins_answered = session.execute(
        select(
            func.count(),
            func.count(Checkin.answered_at),
        ).where(sent_checkin)
    ).one()
    answers = session.execute(
        select(Checkin.answer, func.count(), func.count(distinct(Pair.asker_id)))
        .join(Pair, Pair.id == Checkin.pair_id)
        .where(sent_checkin, Checkin.answer != CheckinAnswer.NONE)
        .group_by(Checkin.answer)
    ).all()

    rated = and_(
        Feedback.team_id == team_id,
        Feedback.role == FeedbackRole.ASKER,
        period.holds(Feedback.created_at),
    )
    ratings, mean_rating = session.execute(
        select(func.count(Feedback.rating), func.avg(Feedback.rating)).where(rated)
    ).one()
    outcomes = session.execute(
        select(Feedback.outcome, func.count(), func.count(distinct(Feedback.person_id)))
        .where(rated, Feedback.outcome.is_not(None))
        .group_by(Feedback.outcome)
    ).all()

    unmet_rows = session.execute(
        select(Ask.topic, func.count(), func.count(distinct(Ask.asker_id)))
        .where(asked, Ask.status == AskStatus.UNMET)
        .group_by(Ask.topic)
    ).all()
    unmet = sum(r[1] for r in unmet_rows)

    funnel = _funnel(session, team_id, asked, asks)
    pass_reasons = _pass_reasons(session, asked)
    commitments = dict(
        session.execute(
            select(Commitment.status, func.count())
            .where(Commitment.team_id == team_id, period.holds(Commitment.created_at))
            .group_by(Commitment.status)
        ).all()
    )
    pair_counts = dict(
        session.execute(
            select(Pair.status, func.count())
            .where(live, period.holds(Pair.created_at))
            .group_by(Pair.status)
        ).all()
    )

    helper_rows = helpers(session, team_id, period.until)
    enrolled = [h for h in helper_rows if h.state in ("active", "paused")]
    load = Counter(min(h.active_pairs, 3) for h in enrolled)
    helper_load = {
        ("3+" if n == 3 else str(n)): cell(load.get(n, 0), load.get(n, 0)) for n in range(4)
    }

    topics = _topics(session, team_id, asked)
    gaps = sorted(
        (t for t in topics if t.unmet_raw > 0 or t.helpers_raw < 2),
        key=lambda t: (-t.unmet_raw, t.helpers_raw, t.topic),
    )[:3]

    return Figures(
        team_id=team_id,
        since=period.since.isoformat() if period.since else None,
        until=period.until.isoformat(),
        asks=asks,
        intros=intros,
        match_rate=_rate(intros, asks),
        median_hours_to_intro=median_hours,
        offers_answered=answered,
        offers_accepted=accepted,
        acceptance_rate=_rate(accepted, answered),
        checkins_sent=checkins_sent,
        checkins_answered=checkins_answered,
        checkin_completion=_rate(checkins_answered, checkins_sent),
        ratings=ratings,
        mean_rating=round(float(mean_rating), 2) if mean_rating is not None else None,
        outcomes=_people_cells((str(o), n, p) for o, n, p in outcomes),
        unmet=unmet,
        unmet_by_topic=_people_cells((t or NO_TOPIC, n, p) for t, n, p in unmet_rows),
        funnel=funnel,
        pass_reasons=pass_reasons,
        checkin_answers=_people_cells((str(a), n, p) for a, n, p in answers),
        commitments={
            "made": sum(commitments.values()),
            **{str(s): commitments.get(s, 0) for s in CommitmentStatus},
        },
        pairs={str(s): pair_counts.get(s, 0) for s in PairStatus if s != PairStatus.FAILED},
        helpers=len(enrolled),
        helpers_paused=sum(1 for h in enrolled if h.state == "paused"),
        helpers_near_capacity=sum(1 for h in enrolled if h.near_capacity),
        helper_load=helper_load,
        asks_by_week=_weekly(session, asked),
        topics=topics,
        supply_gaps=gaps,
    )


def _funnel(session: Session, team_id: str, asked: Any, asks: int) -> dict[str, int]:
    """Asks reaching each step: ask → offer → accept → intro → met → closed."""
    offered = exists().where(
        Offer.ask_id == Ask.id, Offer.sent_at.is_not(None), Offer.status != OfferStatus.SKIPPED
    )
    accepted = exists().where(Offer.ask_id == Ask.id, Offer.status == OfferStatus.ACCEPTED)
    live_pair = and_(Pair.ask_id == Ask.id, Pair.status != PairStatus.FAILED)
    intro = exists().where(live_pair)
    met = exists().where(
        live_pair,
        exists().where(Checkin.pair_id == Pair.id, Checkin.answered_at.is_not(None))
        | exists().where(Commitment.pair_id == Pair.id),
    )
    closed = exists().where(live_pair, Pair.status == PairStatus.CLOSED)

    def n(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(n(offered), n(accepted), n(intro), n(met), n(closed)).where(asked)
    ).one()
    return dict(zip(("asked", "offered", "accepted", "introduced", "met", "closed"),
                    (asks, *map(int, row)), strict=True))  # fmt: skip


def _pass_reasons(session: Session, asked: Any) -> dict[str, Cell]:
    """Offers passed or left unanswered, by category, with the distinct helpers behind each."""
    rows = session.execute(
        select(Offer.status, Offer.pass_reason, Offer.helper_id)
        .join(Ask, Ask.id == Offer.ask_id)
        .where(asked, Offer.status.in_((OfferStatus.PASSED, OfferStatus.EXPIRED)))
    ).all()
    counts: Counter[str] = Counter()
    people: dict[str, set[int]] = defaultdict(set)
    for status, reason, helper_id in rows:
        category = NO_ANSWER if status == OfferStatus.EXPIRED else categorise_pass(reason)
        counts[category] += 1
        people[category].add(helper_id)
    return {c: cell(counts[c], len(people[c])) for c in sorted(counts)}


def _weekly(session: Session, asked: Any) -> dict[str, Cell]:
    """Asks per ISO week (Monday's date), with the fewer-than-5 rule on distinct askers."""
    rows = session.execute(select(Ask.created_at, Ask.asker_id).where(asked)).all()
    counts: Counter[str] = Counter()
    people: dict[str, set[int]] = defaultdict(set)
    for created, asker in rows:
        monday = (created.astimezone(UTC).date() - timedelta(days=created.weekday())).isoformat()
        counts[monday] += 1
        people[monday].add(asker)
    return {w: cell(counts[w], len(people[w])) for w in sorted(counts)}


def _topics(session: Session, team_id: str, asked: Any) -> list[TopicRow]:
    """Demand (asks, unmet) and supply (helpers listing it) per topic."""
    demand = session.execute(
        select(
            Ask.topic,
            func.count(),
            func.count(distinct(Ask.asker_id)),
            func.sum(case((Ask.status == AskStatus.UNMET, 1), else_=0)),
            func.count(distinct(case((Ask.status == AskStatus.UNMET, Ask.asker_id)))),
        )
        .where(asked)
        .group_by(Ask.topic)
    ).all()
    supply: Counter[str] = Counter()
    for (topics,) in session.execute(
        select(HelperProfile.topics).where(
            HelperProfile.team_id == team_id, HelperProfile.opted_in.is_(True)
        )
    ):
        for t in set(topics or []):
            supply[str(t)] += 1
    rows: dict[str, TopicRow] = {}
    for topic, n, people, unmet, unmet_people in demand:
        key = topic or NO_TOPIC
        rows[key] = TopicRow(
            topic=key,
            label=topic_label(key),
            asks=cell(n, people),
            unmet=cell(int(unmet or 0), unmet_people) if unmet else 0,
            helpers=cell(supply.get(key, 0), supply.get(key, 0)) if supply.get(key) else 0,
            unmet_raw=int(unmet or 0),
            helpers_raw=supply.get(key, 0),
        )
    for key, n in supply.items():
        if key not in rows:
            rows[key] = TopicRow(key, topic_label(key), 0, 0, cell(n, n), 0, n)
    return sorted(rows.values(), key=lambda r: r.topic)


def helper_state(profile: HelperProfile, now: datetime | None = None) -> str:
    """``active``, ``paused``, ``awaiting approval``, ``invited``, ``declined`` or ``removed``."""
    if profile.consent == AWAITING_APPROVAL:
        return "awaiting approval"
    if not profile.opted_in:
        return {"invited": "invited", "declined": "declined"}.get(profile.consent, "removed")
    if profile.paused_until is not None and (now is None or profile.paused_until > now):
        return "paused"
    return "active"


def helpers(session: Session, team_id: str, now: datetime | None = None) -> list[HelperRow]:
    """Every helper profile of the workspace with its state and active pairs (for admins)."""
    active = (
        select(Pair.helper_id, func.count().label("n"))
        .where(Pair.team_id == team_id, Pair.status.in_((PairStatus.ACTIVE, PairStatus.PAUSED)))
        .group_by(Pair.helper_id)
        .subquery()
    )
    rows = session.execute(
        select(
            HelperProfile, Person.slack_user_id, Person.display_name, Person.real_name, active.c.n
        )
        .join(Person, Person.id == HelperProfile.person_id)
        .outerjoin(active, active.c.helper_id == HelperProfile.person_id)
        .where(HelperProfile.team_id == team_id, Person.deleted.is_(False))
        .order_by(Person.slack_user_id)
    ).all()
    return [
        HelperRow(
            user_id=uid,
            name=display or real or uid,
            state=helper_state(profile, now),
            capacity=profile.capacity,
            active_pairs=int(n or 0),
        )
        for profile, uid, display, real, n in rows
    ]


def circles_summary(session: Session, team_id: str) -> dict[str, int] | None:
    """Circles of the workspace, or None when this deployment has no circles yet."""
    bind = session.get_bind()
    if not inspect(bind).has_table("circles"):
        return None
    total = session.execute(
        text("SELECT count(*) FROM circles WHERE team_id = :t"), {"t": team_id}
    ).scalar()
    return {"circles": int(total or 0)}


class ProgrammeView:
    """The programme view's figures for the surfaces (App Home, dashboard, digest)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def now(self) -> datetime:
        """The clock's time."""
        return self._clock.now()

    def figures(self, team_id: str, since: date | None = None) -> Figures:
        """The figures from ``since`` (UTC midnight; None: from the start) until now."""
        with read_only(self._sessions) as session:
            return figures(session, team_id, Period.from_date(since, self._clock.now()))

    def this_month(self, team_id: str) -> Figures:
        """The figures of this calendar month (UTC)."""
        with read_only(self._sessions) as session:
            return figures(session, team_id, Period.month_of(self._clock.now()))

    def helpers(self, team_id: str) -> list[HelperRow]:
        """Every helper of the workspace with state and load."""
        with read_only(self._sessions) as session:
            return helpers(session, team_id, self._clock.now())

    def circles(self, team_id: str) -> dict[str, int] | None:
        """Circles of the workspace, or None when there are none yet."""
        with read_only(self._sessions) as session:
            return circles_summary(session, team_id)
