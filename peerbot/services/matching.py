"""Finding candidates for an ask: load one snapshot of facts, keep the index current, rank.

The SQL lives here (the snapshot loader and, in :mod:`peerbot.services.ranking`, the index
keeping); the rules and the ranking are the pure :mod:`peerbot.matching` package.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVarTuple

import numpy as np
from sqlalchemy import Row, Select, func, literal, select, union_all
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.asks import text_for_matching
from peerbot.domain.ports import Vector
from peerbot.domain.schedule import zone
from peerbot.domain.topics import ask_topics
from peerbot.matching import (
    Ask as MatchAsk,
)
from peerbot.matching import (
    Candidate,
    Eligibility,
    HelperFacts,
    HelperIndex,
    Ranked,
    Ranker,
    RankerWeights,
    RulesThenHybrid,
    Snapshot,
    profiles,
)
from peerbot.services.index_child import ChildBuildError, ChildBuilds, build_request
from peerbot.services.index_snapshot import SnapshotStore
from peerbot.services.matching_feed import changed_people, changed_since
from peerbot.services.offer_ledger import OfferFacts, OfferLedger
from peerbot.services.ranking import Built, HelperIndexes, matching_position
from peerbot.store.db import read_only
from peerbot.store.models import (
    Ask,
    Feedback,
    FeedbackRole,
    HelperNeverMatch,
    HelperProfile,
    Offer,
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
    "StartUp",
    "active_pair_counts",
    "load_snapshot",
    "utc_offset_minutes",
]

_Ts = TypeVarTuple("_Ts")

#: An :class:`Eligibility` is rebuilt (and every helper's facts synced into the index again)
#: once the helpers handed to its ``replace`` since it was built outnumber twice the helpers
#: plus this: rarely, however many helpers there are (its first ``replace`` holds them all).
REPLACED_SLACK = 50_000
#: Offers sent within this window count against a helper's fairness signal.
FAIRNESS_WINDOW = timedelta(days=30)

log = logging.getLogger(__name__)


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


_HELPER_COLUMNS = (
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


@dataclass
class _Base:
    """The facts that change seldom (profiles, people, pairs, ratings, never-match lists).

    ``key`` is (the change number they were read at, the hour of the time-zone offsets);
    ``managers`` holds only people with a manager, ``uids`` their person ids (to drop a
    person's old entry when they change or go).
    """

    key: tuple[int, datetime]
    rows: dict[int, Row[*tuple[Any, ...]]]
    managers: dict[str, str | None]
    active: dict[int, int]
    helps: dict[int, int]
    never: dict[int, frozenset[str]]
    ratings: dict[int, tuple[int, int]]
    offsets: dict[str | None, int | None]
    uids: dict[int, str] = field(default_factory=dict)
    offers: dict[int, OfferFacts] = field(default_factory=dict)
    facts: dict[int, HelperFacts] = field(default_factory=dict)
    helpers: dict[int, Candidate] = field(default_factory=dict)
    eligibility: Eligibility | None = None
    listed: list[Candidate] = field(default_factory=list)
    position: dict[int, int] = field(default_factory=dict)


@dataclass
class _Read:
    """The base facts of some helpers (all, or the ones a subquery names), as read."""

    rows: dict[int, Row[*tuple[Any, ...]]]
    people: list[tuple[int, str, str | None]]
    active: dict[int, int]
    helps: dict[int, int]
    never: dict[int, frozenset[str]]
    ratings: dict[int, tuple[int, int]]

    def ids(self) -> set[int]:
        """Every person id read."""
        return (
            set(self.rows)
            | {p for p, _u, _m in self.people}
            | set(self.active)
            | set(self.helps)
            | set(self.never)
            | set(self.ratings)
        )


def _read(session: Session, team_id: str, only: Select[int] | None) -> _Read:
    """The base facts of the workspace's helpers, or (``only``: a subquery of person ids) of
    those people alone: every statement is restricted by a join on it, never an id list."""

    def of(stmt: Select[*_Ts], column: Any) -> Select[*_Ts]:
        return stmt if only is None else stmt.where(column.in_(only))

    rows = {
        r.person_id: r
        for r in session.execute(
            of(
                select(*_HELPER_COLUMNS)
                .join(Person, Person.id == HelperProfile.person_id)
                .where(HelperProfile.team_id == team_id, HelperProfile.opted_in.is_(True)),
                HelperProfile.person_id,
            )
        ).all()
    }
    people: list[tuple[int, str, str | None]] = (
        [
            (int(pid), uid, mgr)
            for pid, uid, mgr in session.execute(
                of(
                    select(Person.id, Person.slack_user_id, Person.manager_slack_user_id).where(
                        Person.team_id == team_id, Person.manager_slack_user_id.is_not(None)
                    ),
                    Person.id,
                )
            )
        ]
        if rows or only is not None
        else []
    )
    active = {
        int(h): int(n)
        for h, n in session.execute(
            of(
                select(Pair.helper_id, func.count())
                .where(Pair.team_id == team_id, Pair.status == PairStatus.ACTIVE)
                .group_by(Pair.helper_id),
                Pair.helper_id,
            )
        )
    }
    helps = {
        int(h): int(n)
        for h, n in session.execute(
            of(
                select(Pair.helper_id, func.count())
                .where(Pair.team_id == team_id)
                .group_by(Pair.helper_id),
                Pair.helper_id,
            )
        )
    }
    never_sets: dict[int, set[str]] = {}
    never = select(HelperNeverMatch.helper_person_id, HelperNeverMatch.blocked_slack_user_id)
    for hid, blocked in session.execute(
        # By the people alone when given (the feed names the workspace's people only): with
        # the workspace too, SQLite would walk every never-match row of the workspace.
        never.where(HelperNeverMatch.team_id == team_id)
        if only is None
        else never.where(HelperNeverMatch.helper_person_id.in_(only))
    ):
        never_sets.setdefault(hid, set()).add(blocked)
    ratings: dict[int, tuple[int, int]] = {
        hid: (int(total or 0), int(n))
        for hid, total, n in session.execute(
            of(
                select(Pair.helper_id, func.sum(Feedback.rating), func.count(Feedback.rating))
                .join(Feedback, Feedback.pair_id == Pair.id)
                .where(
                    Pair.team_id == team_id,
                    Feedback.role == FeedbackRole.ASKER,
                    Feedback.rating.is_not(None),
                )
                .group_by(Pair.helper_id),
                Pair.helper_id,
            )
        )
    }
    return _Read(
        rows, people, active, helps, {h: frozenset(v) for h, v in never_sets.items()}, ratings
    )


def _load_base(session: Session, team_id: str, key: tuple[int, datetime], now: datetime) -> _Base:
    got = _read(session, team_id, None)
    offsets = {tz: utc_offset_minutes(tz, now) for tz in {r.tz for r in got.rows.values()}}
    return _Base(
        key,
        got.rows,
        {uid: mgr for _pid, uid, mgr in got.people},
        got.active,
        got.helps,
        got.never,
        got.ratings,
        offsets,
        uids={pid: uid for pid, uid, _mgr in got.people},
    )


def _reload_changed(
    session: Session, team_id: str, base: _Base, now: datetime
) -> tuple[set[int], bool] | None:
    """Bring ``base`` up to the workspace's current facts by reading only the people the
    change feed names since ``base``'s number. Returns (the people whose base facts were
    reloaded, whether the reporting lines changed), or ``None``: load everything instead."""
    since = base.key[0]
    named = changed_people(session, team_id, since)
    if named is None:
        return None
    if not named:
        return set(), False
    got = _read(session, team_id, changed_since(team_id, since))
    touched = named | got.ids()  # rows named by changes that committed meanwhile, too
    lines_before = {
        pid: (base.uids.get(pid), base.managers.get(base.uids.get(pid, ""))) for pid in touched
    }
    for pid in touched:
        base.rows.pop(pid, None)
        base.active.pop(pid, None)
        base.helps.pop(pid, None)
        base.never.pop(pid, None)
        base.ratings.pop(pid, None)
        uid = base.uids.pop(pid, None)
        if uid is not None:
            base.managers.pop(uid, None)
    base.rows.update(got.rows)
    base.active.update(got.active)
    base.helps.update(got.helps)
    base.never.update(got.never)
    base.ratings.update(got.ratings)
    for pid, uid, mgr in got.people:
        base.managers[uid] = mgr
        base.uids[pid] = uid
    for row in got.rows.values():
        if row.tz not in base.offsets:
            base.offsets[row.tz] = utc_offset_minutes(row.tz, now)
    lines_after = {
        pid: (base.uids.get(pid), base.managers.get(base.uids.get(pid, ""))) for pid in touched
    }
    return touched, lines_before != lines_after


def _turn_hour(base: _Base, now: datetime) -> set[int]:
    """New time-zone offsets for the hour of ``now`` (one per zone); returns the helpers in
    the zones whose offset moved (a daylight-saving change), usually none."""
    offsets = {tz: utc_offset_minutes(tz, now) for tz in base.offsets}
    moved = {tz for tz, off in offsets.items() if base.offsets[tz] != off}
    base.offsets = offsets
    if not moved:
        return set()
    return {pid for pid, row in base.rows.items() if row.tz in moved}


_NO_OFFERS: OfferFacts = (0, 0, 0, 0, None)


def worn_out(eligibility: Eligibility, helpers: int) -> bool:
    """Whether a kept :class:`Eligibility` of ``helpers`` helpers is due to be rebuilt: its
    list of replaced ids has grown past :data:`REPLACED_SLACK` plus twice the helpers (never
    right after it was built, however many helpers there are)."""
    return len(eligibility.replaced) > REPLACED_SLACK + 2 * helpers


def _facts_of(base: _Base, pid: int, max_pending_offers: int | None) -> HelperFacts:
    row = base.rows[pid]
    total, n = base.ratings.get(pid, (0, 0))
    received, accepted, pending, recent, median = base.offers.get(pid, _NO_OFFERS)
    return HelperFacts(
        opted_in=row.opted_in,
        reachable=row.can_be_messaged and not row.deleted,
        paused_until=row.paused_until,
        never_match=base.never.get(pid, frozenset()),
        capacity_total=row.capacity,
        capacity_used=base.active.get(pid, 0),
        pending_offers=pending,
        pending_offers_max=max_pending_offers,
        helps_given=base.helps.get(pid, 0),
        rating_mean=total / n if n else None,
        rating_count=n,
        years_managing=float(row.years_managing) if row.years_managing is not None else None,
        utc_offset_minutes=base.offsets[row.tz],
        offers_received=received,
        offers_accepted=accepted,
        median_accept_hours=median,
        recent_offers=recent,
    )


class HelperFactsCache:
    """The helpers' facts of each workspace, kept current instead of reloaded per ask.

    What changes seldom (profiles, people, pairs, ratings, never-match lists) is loaded once;
    when the workspace's change number (:func:`~peerbot.services.matching_feed.feed_position`)
    moves, only the people the change feed (:mod:`peerbot.services.matching_feed`) names since
    are read again (everything, when the feed was pruned past the cache's number or too many
    changed). When the hour turns, the time-zone offsets are recomputed per zone. The offer
    counts, which move with every ask, are brought up to date each time
    (:class:`~peerbot.services.offer_ledger.OfferLedger`: only the offers that can have
    changed are read). Only the helpers whose facts changed get new ones.
    """

    def __init__(self) -> None:
        self._teams: dict[str, _Base] = {}
        self._ledgers: dict[str, OfferLedger] = {}
        self._lock = threading.Lock()
        #: Full loads and partial reloads done (for tests and benchmarks).
        self.loads = 0
        self.reloads = 0

    def held(
        self, team_id: str
    ) -> tuple[list[Candidate], dict[str, str | None], Eligibility] | None:
        """What :meth:`helpers` answered last for the workspace, as it stands (no read;
        ``None`` before the first)."""
        with self._lock:
            base = self._teams.get(team_id)
            if base is None or base.eligibility is None:
                return None
            return list(base.listed), base.managers, base.eligibility

    def helpers(
        self, session: Session, team_id: str, now: datetime, max_pending_offers: int | None
    ) -> tuple[list[Candidate], dict[str, str | None], Eligibility]:
        """The workspace's opted-in helpers with current facts, the reporting lines, and the
        same helpers with the rules that do not depend on the ask applied."""
        with self._lock:  # reads inside: an older read never lands after a newer one
            # The change number, and with it the erasure count for the index's refresh that
            # follows in this ranking (:data:`VERSION_READ`): one statement for both.
            version, erasures = matching_position(session, team_id)
            session.info.setdefault(VERSION_READ, {})[team_id] = (version, erasures)
            hour = now.replace(minute=0, second=0, microsecond=0)
            ledger = self._ledgers.get(team_id)
            if ledger is None:
                ledger = self._ledgers[team_id] = OfferLedger(team_id, FAIRNESS_WINDOW)
            moved = ledger.read(session, now)
            base = self._teams.get(team_id)
            reloaded: tuple[set[int], bool] | None = None
            if base is not None and moved is not None:
                if base.key[0] == version:
                    reloaded = set(), False
                else:
                    reloaded = _reload_changed(session, team_id, base, now)
                    self.reloads += reloaded is not None
            changed: Iterable[int]
            if base is None or reloaded is None:
                base = _load_base(session, team_id, (version, hour), now)
                self.loads += 1
                self._teams[team_id] = base
                base.offers = ledger.facts
                changed = base.rows
            else:
                touched, lines_moved = reloaded
                if hour != base.key[1]:
                    touched |= _turn_hour(base, now)
                base.key = (version, hour)
                base.offers = ledger.facts
                gone = [pid for pid in touched if pid in base.helpers and pid not in base.rows]
                for pid in gone:
                    del base.helpers[pid]
                    base.facts.pop(pid, None)
                if (
                    gone
                    or lines_moved
                    or any(pid in base.rows and pid not in base.helpers for pid in touched)
                ):
                    # Helpers came or went, or the reporting lines moved: list them afresh and
                    # rebuild the rules' view (it cannot drop a helper or re-read the lines).
                    base.position = {}
                    base.eligibility = None
                changed = (touched | set(moved or ())) & base.rows.keys()
            renewed = []
            for pid in changed:
                facts = _facts_of(base, pid, max_pending_offers)
                row = base.rows[pid]
                old = base.helpers.get(pid)
                if (
                    old is None
                    or old.facts != facts
                    or old.user_id != row.slack_user_id
                    or old.tz != row.tz
                ):
                    if old is not None and old.user_id != row.slack_user_id:
                        base.position = {}  # the rules' view is keyed by user id
                        base.eligibility = None
                    base.facts[pid] = facts
                    base.helpers[pid] = Candidate(pid, row.slack_user_id, row.tz, facts)
                    renewed.append(base.helpers[pid])
            if not base.position:
                base.listed = [base.helpers[pid] for pid in base.rows]
                base.position = {pid: i for i, pid in enumerate(base.rows)}
            else:
                for c in renewed:
                    base.listed[base.position[c.person_id]] = c
            helpers = list(base.listed)
            if base.eligibility is None or worn_out(base.eligibility, len(helpers)):
                base.eligibility = Eligibility(helpers, base.managers)
            elif renewed:
                base.eligibility.replace(renewed)
            return helpers, base.managers, base.eligibility


#: ``Session.info`` key: workspace -> (change number, erasure count) :class:`HelperFactsCache`
#: read in this session, taken by the ranking's index refresh (instead of reading them again).
VERSION_READ = "peerbot.matching.version_read"


def load_snapshot(
    session: Session,
    ask: Ask,
    asker: Person,
    vector: Vector,
    now: datetime,
    *,
    max_pending_offers: int | None = None,
    cache: HelperFactsCache | None = None,
) -> Snapshot:
    """Everything one ranking of ``ask`` needs beyond the index, as plain types.

    ``max_pending_offers`` (``MAX_PENDING_OFFERS_PER_HELPER``) goes into every helper's facts,
    beside the count of offers waiting for them, for the rule that enforces it. ``cache`` keeps
    the helpers' facts between rankings (a new one, loading everything, when omitted).
    """
    team = ask.team_id
    helpers, managers, eligibility = (cache or HelperFactsCache()).helpers(
        session, team, now, max_pending_offers
    )
    # Whom the asker never wants to be matched with (0), and whom this ask was offered to
    # already (1): one statement.
    rows = session.execute(
        union_all(
            select(
                literal(0).label("kind"), HelperNeverMatch.blocked_slack_user_id.label("user")
            ).where(
                HelperNeverMatch.team_id == team, HelperNeverMatch.helper_person_id == asker.id
            ),
            select(literal(1), Person.slack_user_id)
            .join(Offer, Offer.helper_id == Person.id)
            .where(Offer.ask_id == ask.id),
        )
    ).all()
    asker_never = frozenset(u for k, u in rows if k == 0) | frozenset(
        ask.excluded_user_ids or ()  # "Don't offer this to" (issue 12)
    )
    offered = frozenset(u for k, u in rows if k == 1)
    query = MatchAsk(
        text=text_for_matching(ask.challenge, ask.desired_result, ask.obstacles),
        vector=vector,
        now=now,
        asker_id=asker.slack_user_id,
        # Anonymous: nothing derived from the asker may reach an explanation (issue 12).
        asker_utc_offset_minutes=None if ask.anonymous else utc_offset_minutes(asker.tz, now),
        asker_never_match=asker_never,
        already_offered=offered,
        topics=frozenset(ask_topics(ask.topics, ask.topic)),
    )
    return Snapshot(ask=query, helpers=helpers, managers=managers, eligibility=eligibility)


#: A full build apart (see :meth:`IndexedMatcher.warm`) waits at most this long for
#: :attr:`StartUp.model_loaded`.
MODEL_WAIT_S = 600.0


@contextmanager
def _building() -> Iterator[None]:
    """A build (or load) in this process while requests are served: the interpreter handed to
    request threads 5x as often (an acknowledgement, a few dozen short database calls each
    giving it up and waiting to take it back, is not queued behind the build), and no cyclic
    garbage collection (the build makes millions of short-lived objects, and each full
    collection walks them all with every thread paused: /healthz waited seconds for it at
    100,000 helpers; reference counting frees them; the collector runs again after). Not
    needed while a child process builds: the worker only waits then."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, 0.001))
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        if collecting:
            gc.enable()


def _rank_once(
    ranker: Ranker,
    index: HelperIndex,
    facts: tuple[list[Candidate], dict[str, str | None], Eligibility],
    now: datetime,
) -> None:
    """One ranking of an empty ask that nobody asked, on ``index`` with the helpers'
    ``facts``: loads the rules' view of them and the ranker's caches of the index."""
    helpers, managers, eligibility = facts
    if not helpers:
        return
    query = MatchAsk(text="", vector=np.zeros(index.dimension, np.float32), now=now)
    ranked = ranker.rank(index, Snapshot(query, helpers, managers, eligibility))
    if len(ranked):
        ranked[0]  # writes one explanation: loads what that reads


class StartUp:
    """The order of a worker's start-up (`peerbot serve`): first what the first ask needs (each
    workspace's index loaded from its snapshot, built when small, or a provisional one, and
    the helpers' facts: :attr:`first_phase`), then the embedding model, then the full builds
    apart in the worker (they wait for :attr:`model_loaded`). Run at once, each part took 3-7
    times its CPU time: they share one interpreter lock, and a thread reading rows from SQLite
    gives it up at every row and then waits for the other thread to hand it back. A full build
    in a child process (:mod:`peerbot.services.index_child`) shares no lock with the worker:
    it starts right after the first phase, beside the model load, at a lower priority."""

    def __init__(self) -> None:
        #: Set once the first phase of :meth:`IndexedMatcher.warm` is done (or failed).
        self.first_phase = threading.Event()
        #: Full builds apart start once this is set (set until :meth:`hold_builds`).
        self.model_loaded = threading.Event()
        self.model_loaded.set()

    def hold_builds(self) -> None:
        """Keep full builds apart waiting until :attr:`model_loaded` is set again."""
        self.model_loaded.clear()


class LearnedWeights(Protocol):
    """The weights to rank a workspace's asks with (see :mod:`peerbot.services.learning`)."""

    def weights(self, session: Session, team_id: str) -> RankerWeights:
        """Learned weights, or the hand-set ones while the workspace has too little history."""
        ...


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
        learning: LearnedWeights | None = None,
        snapshots: SnapshotStore | None = None,
        build_in_child: bool = True,
        provisional_above: int | None = None,
    ) -> None:
        #: Per-workspace learned weights (issue 17); None: ``weights`` for every workspace.
        self.learning = learning
        #: ``snapshots``: where each workspace's index is read from at start-up and written
        #: after a build (``None``: always built from the database).
        self._lock = threading.RLock()
        #: ``provisional_above``: past helps above which a start-up with no snapshot serves
        #: from a provisional index while the full one builds (``None``: the default).
        self._indexes = HelperIndexes(
            model_name, dimension, snapshots, self._lock, provisional_above
        )
        self._facts = HelperFactsCache()
        self._max_pending_offers = max_pending_offers
        self._ranker = ranker or RulesThenHybrid(weights)
        #: The order of the start-up warm-up and the model load (see :class:`StartUp`).
        self.start_up = StartUp()
        #: Full builds apart run in child processes (snapshots on; see
        #: :mod:`peerbot.services.index_child`); False: in a thread of the worker.
        self.build_in_child = build_in_child
        #: The child processes building (terminated by :meth:`close`).
        self.children = ChildBuilds()

    def warm(self, sessions: sessionmaker[Session], now: datetime) -> int:
        """Build the index of every workspace with helpers (at worker start-up, in a background
        thread, so the first ask does not wait for it); reads only, never the write lock.
        Returns how many workspaces were built. A large workspace with no snapshot gets a
        provisional index first, then its full index built apart (:class:`StartUp`,
        :meth:`~peerbot.services.ranking.HelperIndexes.start`): in a child process
        (:mod:`peerbot.services.index_child`) when snapshots are on."""
        try:
            with read_only(sessions) as session:
                teams = list(session.scalars(select(HelperProfile.team_id).distinct()))
                self._indexes.sweep(session, now)  # snapshots older than an erasure (0017)
        except BaseException:
            self.start_up.first_phase.set()  # nobody waits for a warm-up that failed
            raise
        try:
            self._warm_teams(sessions, teams, now)
        finally:
            self.start_up.first_phase.set()
        return len(teams)

    def _warm_teams(self, sessions: sessionmaker[Session], teams: list[str], now: datetime) -> None:
        apart = []
        with _building():
            for team in teams:  # first what an ask needs, for every workspace
                with read_only(sessions) as session, self._lock:
                    # A snapshot loaded, a small index built, or (a large workspace with no
                    # snapshot) a provisional index.
                    if self._indexes.start(session, team, now):
                        apart.append(team)
                    self._warm_team(session, team, now)
        self.start_up.first_phase.set()
        for team in apart:
            if self.children.closed:
                return  # the worker is stopping
            self._build_apart(sessions, team, now)

    def _build_apart(self, sessions: sessionmaker[Session], team: str, now: datetime) -> None:
        """Build the workspace's full index without the matcher's lock (asks are ranked on
        the provisional index meanwhile), then warm it up and put it in place
        (:meth:`_install`). In a child process when it can (:meth:`_built_by_child`), else
        (or when that failed) here."""
        # A child starts at once, beside the model load (its own process, at a lower priority:
        # the load comes first); a build here waits for the model (:class:`StartUp`).
        built = self._built_by_child(sessions, team, now)
        if built is None:
            if self.children.closed:
                return  # stopping: the child was terminated, nothing is built here
            if not self.start_up.model_loaded.wait(MODEL_WAIT_S):
                log.warning("the embedding model is not loaded yet: building the index anyway")
            t0, c0 = time.monotonic(), time.thread_time()
            with _building(), read_only(sessions) as session:
                built = self._indexes.build_apart(session, team, now)
                profiles.warm(built.index)  # its centroids, before any ranking sees it
            log.info(
                "full index of %s built apart in %.1f s (CPU %.1f)",
                team, time.monotonic() - t0, time.thread_time() - c0,
            )  # fmt: skip
        self._install(sessions, team, built, now)

    def _install(
        self, sessions: sessionmaker[Session], team: str, built: Built, now: datetime
    ) -> None:
        """Put ``built`` in place of the workspace's provisional index. What takes time is
        done first, without the matcher's lock, while asks still rank on the provisional
        index: the changes committed since its read (:meth:`HelperIndexes.bring_up`), its
        centroids and one ranking of it that loads the ranker's caches, with a ranker of its
        own (:meth:`RulesThenHybrid.apart`). Under the lock only the swap: the install, the
        changes committed since (usually none) and the warmed ranker's state adopted (at
        100,000 helpers the ranking took 0.8 s: an ask waited for it under the lock)."""
        t0, c0 = time.monotonic(), time.thread_time()
        ranker = self._ranker
        warmed = ranker.apart() if isinstance(ranker, RulesThenHybrid) else None
        # The facts as the last ask left them (asks meanwhile read them at later times:
        # reading them at ``now`` again would look like the clock went back).
        facts = self._facts.held(team)
        with _building(), read_only(sessions) as session:
            built = self._indexes.bring_up(session, team, built, now)
            profiles.warm(built.index)  # kept in a snapshot, made by a build here: at once
            if warmed is not None:
                read = facts or self._facts.helpers(session, team, now, self._max_pending_offers)
                _rank_once(warmed, built.index, read, now)
        t1, c1 = time.monotonic(), time.thread_time()
        with _building(), read_only(sessions) as session, self._lock:
            if not self._indexes.install(team, built):
                return
            if warmed is None or not isinstance(ranker, RulesThenHybrid):
                self._warm_team(session, team, now, facts=facts)  # another kind: in place
            else:
                self._indexes.refresh(session, team, now)
                ranker.adopt(warmed)
        log.info(
            "installed the full index of %s: warmed apart in %.1f s (CPU %.1f), "
            "under the lock %.2f s (CPU %.2f)",
            team, t1 - t0, c1 - c0, time.monotonic() - t1, time.thread_time() - c1,
        )  # fmt: skip

    def _built_by_child(
        self, sessions: sessionmaker[Session], team: str, now: datetime
    ) -> Built | None:
        """The workspace's full index built by a child process and loaded from the snapshot
        it wrote (see :mod:`peerbot.services.index_child`); ``None`` (logged) when snapshots
        are off, the database is in memory, the child is turned off (``INDEX_BUILD_CHILD``)
        or it failed: then the caller builds here."""
        store = self._indexes.snapshots
        if store is None or not self.build_in_child or self.children.closed:
            return None
        bind = sessions.kw.get("bind")  # the factory's engine: no session needed to read it
        engine = bind if isinstance(bind, Engine) else getattr(bind, "engine", None)
        if not isinstance(engine, Engine):
            log.info("the sessions are bound to no engine: the index of %s builds here", team)
            return None
        url = engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            return None
        t0, c0 = time.monotonic(), time.thread_time()
        request = build_request(
            url.render_as_string(hide_password=False),
            team,
            self._indexes.model_name,
            self._indexes.dimension,
            store.root,
            store.database,
            now,
        )
        try:
            report = self.children.run(request)
            t1, c1 = time.monotonic(), time.thread_time()
            with _building(), read_only(sessions) as session:
                built = self._indexes.load_apart(session, team)
            if built is None:
                raise ChildBuildError("the snapshot it wrote could not be loaded")
        except Exception:
            if not self.children.closed:
                log.exception("the child build of the index of %s failed: building it here", team)
            return None
        log.info(
            "full index of %s built by a child process (pid %s) in %.1f s (child CPU %.1f s, "
            "peak RSS %s MB, start %.2f s), loaded in %.1f s (CPU %.1f); waiting cost CPU %.2f",
            team, report.get("pid"), t1 - t0, report.get("cpu_s", 0.0),
            report.get("peak_rss_mb"), report.get("start_s", 0.0),
            time.monotonic() - t1, time.thread_time() - c1, c1 - c0,
        )  # fmt: skip
        return built

    def close(self) -> None:
        """A stopping worker: terminate the child builds running (see :class:`ChildBuilds`)."""
        self.children.close()

    def _warm_team(
        self,
        session: Session,
        team: str,
        now: datetime,
        *,
        facts: tuple[list[Candidate], dict[str, str | None], Eligibility] | None = None,
    ) -> None:
        """Bring the workspace's index current (building it when none is held), its
        centroids, the helpers' facts (``facts``: those, not read) and the ranker's caches
        (callers hold the lock)."""
        t0, c0 = time.monotonic(), time.thread_time()
        index = self._indexes.refresh(session, team, now)
        t1, c1 = time.monotonic(), time.thread_time()
        profiles.warm(index)  # the semantic_profile centroids (kept in a snapshot)
        t2, c2 = time.monotonic(), time.thread_time()
        # The helpers' facts, the rules' view of them and the ranker's caches too: one
        # ranking of an empty ask that nobody asked loads them all.
        helpers, managers, eligibility = facts or self._facts.helpers(
            session, team, now, self._max_pending_offers
        )
        t3, c3 = time.monotonic(), time.thread_time()
        _rank_once(self._ranker, index, (helpers, managers, eligibility), now)
        log.info(
            "warm-up of %s%s: index %.1f s (CPU %.1f), profiles %.1f s (CPU %.1f), "
            "facts %.1f s (CPU %.1f), ranking %.1f s (CPU %.1f)",
            team, " (provisional)" if self._indexes.provisional(team) else "",
            t1 - t0, c1 - c0, t2 - t1, c2 - c1, t3 - t2, c3 - c2,
            time.monotonic() - t3, time.thread_time() - c3,
        )  # fmt: skip

    def candidates_for(
        self, session: Session, ask: Ask, asker: Person, vector: Vector, now: datetime
    ) -> Sequence[Ranked]:
        """Load the snapshot, bring the workspace's index up to date, rank (:class:`Matcher`)."""
        snapshot = load_snapshot(
            session,
            ask,
            asker,
            vector,
            now,
            max_pending_offers=self._max_pending_offers,
            cache=self._facts,
        )
        # The change number the helpers' facts were read at: the index is brought to it too.
        version, erasures = session.info.get(VERSION_READ, {}).pop(ask.team_id, (None, None))
        if not snapshot.helpers:
            return []
        with self._lock:
            index = self._indexes.refresh(session, ask.team_id, now, version, erasures)
            if isinstance(self._ranker, RulesThenHybrid):
                # Learned weights rank with the same ranker: what it keeps between asks
                # (the rules' state, the facts synced, its caches) is kept for them too.
                learned = None
                if self.learning is not None:
                    learned = self.learning.weights(session, ask.team_id)
                return self._ranker.rank(index, snapshot, self._lock, learned)
            return self._ranker.rank(index, snapshot)
