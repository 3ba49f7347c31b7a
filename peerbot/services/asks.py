"""Ask → offer → accept or pass → intro: the core journey, consent first.

Every public method is one unit of work: state changes and the messages they cause (through the
outbox) commit together or not at all. Methods are idempotent where Slack may deliver twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import delete, event, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain import notices
from peerbot.domain.asks import AskInput, still_waiting, text_for_matching
from peerbot.domain.followup import GHOST_AFTER, GHOST_PAUSE
from peerbot.domain.journey_notices import AskEnded
from peerbot.domain.ports import (
    Clock,
    DeliveryOutcome,
    Directory,
    DirectoryError,
    Embedder,
    Failure,
    SentRef,
    UserInfo,
    Vector,
)
from peerbot.domain.privacy import is_redacted
from peerbot.domain.schedule import WorkingHours, add_working_hours, zone
from peerbot.domain.topics import TOPICS, ask_topics
from peerbot.services import messages, programme_settings
from peerbot.services.errors import StoreUnavailable, is_outage
from peerbot.services.matching import Matcher, Ranked, StartUp
from peerbot.services.pairs import retire_pair_buttons, schedule_new_pair
from peerbot.services.people import (
    find_or_add_person,
    find_person,
    mark_unreachable,
    refresh_person,
)
from peerbot.services.vectors import store_vector, upsert_vector
from peerbot.store.ask_filters import ASKS_LOOKING, ask_still_waiting
from peerbot.store.db import read_only, unit_of_work
from peerbot.store.models import (
    Ask,
    AskStatus,
    Cadence,
    Checkin,
    Embedding,
    EmbeddingOwner,
    HelperProfile,
    MeetingCheck,
    Offer,
    OfferStatus,
    Pair,
    PairStatus,
    Person,
    ProgrammeSetting,
    Urgency,
    Workspace,
)
from peerbot.store.types import vector_from_bytes

log = logging.getLogger(__name__)

#: Offers in these states used up one of the ask's tries.
COUNTED = (OfferStatus.PENDING, OfferStatus.ACCEPTED, OfferStatus.PASSED, OfferStatus.EXPIRED)


@dataclass(frozen=True)
class MatchPolicy:
    """How offers are made (from settings)."""

    offer_timeout_working_hours: float = 4.0
    max_offers: int = 3
    parallel: int = 1
    #: Offers skipped because they could not be delivered, at most, before the asker is told.
    max_skips: int = 5
    #: Asks of one person waiting for a helper at once (``MAX_OPEN_ASKS_PER_ASKER``).
    max_open_asks: int = 3
    #: Offers waiting for one helper's answer at once (``MAX_PENDING_OFFERS_PER_HELPER``).
    max_pending_offers: int = 2
    #: An urgent ask ("In the next day or two"): its shorter answer window, in working hours,
    #: and how many helpers it is offered to at once.
    urgent_timeout_working_hours: float = 2.0
    urgent_parallel: int = 2
    #: Days a "Tell me when someone can" ask waits for a newly available helper (``ASK_WAIT_DAYS``).
    wait_days: int = 30
    #: The working day answer windows are counted in (the workspace's programme settings).
    working_hours: WorkingHours = field(default_factory=WorkingHours)


class AcceptOutcome(StrEnum):
    """What happened when a helper pressed Accept."""

    PAIRED = "paired"
    ALREADY_PAIRED = "already_paired"  # a second click, or a redelivery: nothing new
    TAKEN = "taken"  # another helper accepted first
    CLOSED = "closed"  # the offer expired, was passed or withdrawn
    NOT_YOURS = "not_yours"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class SubmitResult:
    """The ask that a submission created (or had already created)."""

    ask_id: int
    duplicate: bool


#: Pairs still running: one per ask at most (a failed or a re-paired, closed pair is not).
RUNNING_PAIRS = (PairStatus.ACTIVE, PairStatus.PAUSED)


@dataclass(frozen=True)
class OpenAsk:
    """One of a person's asks still waiting for a helper (for telling them which)."""

    ask_id: int
    challenge: str
    created_at: datetime


@dataclass(frozen=True)
class TooManyOpen:
    """A new ask was refused: the asker already has ``limit`` asks waiting (``open_asks``)."""

    limit: int
    open_asks: tuple[OpenAsk, ...]


@dataclass(frozen=True)
class _Recorded:
    """What :meth:`AskService.match` reads of an ask before embedding it."""

    ask_id: int
    team_id: str
    slack_user_id: str
    asker_id: int
    challenge: str
    desired_result: str | None
    obstacles: str | None


class _JustRecorded:
    """Asks this worker has just recorded, for the :meth:`AskService.match` that follows in the
    same request: it need not read back what it was handed (a round trip). Taken once; bounded
    (an ask recorded but never matched here, the process stopping in between, is forgotten
    after :data:`KEEP` more). Nothing here can go stale: a match that finds its ask no longer
    waiting (another worker's tick took it on) changes nothing (its writes re-check)."""

    KEEP = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asks: dict[int, _Recorded] = {}

    def put(self, recorded: _Recorded) -> None:
        with self._lock:
            self._asks[recorded.ask_id] = recorded
            while len(self._asks) > self.KEEP:
                del self._asks[next(iter(self._asks))]

    def take(self, ask_id: int) -> _Recorded | None:
        with self._lock:
            return self._asks.pop(ask_id, None)


def _key(*parts: object) -> str:
    return ":".join(str(p) for p in parts)


#: ``Session.info`` key: asks to move on once the session's transaction commits.
_MOVE_ON = "peerbot.asks.move_on"


def _locked_ask(session: Session, ask_id: int) -> Ask | None:
    """The ask, read afresh and locked for this transaction on PostgreSQL (SQLite's write
    transactions are serial): whoever moves an ask on sees the others' committed offers."""
    stmt = select(Ask).where(Ask.id == ask_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def _locked_ask_with(session: Session, ask_id: int, person_id: int) -> tuple[Ask, Person] | None:
    """:func:`_locked_ask` and a person (not locked), read in the same statement; and the
    ask's workspace's programme settings with them, kept for the rest of the transaction
    (:func:`~peerbot.services.programme_settings.remember`: the offer policy reads them)."""
    stmt = (
        select(Ask, Person, ProgrammeSetting.key, ProgrammeSetting.value)
        .select_from(Ask)
        .join(Person, Person.id == person_id)
        .outerjoin(ProgrammeSetting, ProgrammeSetting.team_id == Ask.team_id)
        .where(Ask.id == ask_id)
        .execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Ask)
    rows = session.execute(stmt).all()
    if not rows:
        return None
    ask, person = rows[0][0], rows[0][1]
    programme_settings.remember(session, ask.team_id, [(r[2], r[3]) for r in rows])
    return ask, person


def _forget_move_on(session: Session, _transaction: object) -> None:
    """A rolled-back transaction moves no ask on (a rolled-back savepoint leaves it be)."""
    if not getattr(_transaction, "nested", False):
        session.info.pop(_MOVE_ON, None)


#: An ask still ``matching`` this long after it was saved was left by a stopped process.
STRANDED_AFTER = timedelta(minutes=2)


def _lock_person(session: Session, person_id: int) -> None:
    """Lock a person row until commit on PostgreSQL (SQLite writers are serial already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Person.id).where(Person.id == person_id).with_for_update())


class AskService:
    """The journey from a submitted ask to an introduced pair."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        embedder: Embedder,
        directory: Directory,
        ranker: Matcher,
        policy: MatchPolicy = MatchPolicy(),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._embedder = embedder
        self._directory = directory
        self._ranker = ranker
        self._policy = policy
        self._topic_vectors: Vector | None = None
        self._recorded = _JustRecorded()
        #: The workspace's programme settings over ``policy`` (set by the composition root).
        self.policy_lookup: Callable[[Session, str, MatchPolicy], MatchPolicy] | None = None
        #: Waiting ask → the helper profiles' state when its helpers were last looked at.
        self._waiting_seen: dict[int, tuple[object, ...]] = {}
        #: How long an ask may stay unmatched or offered to nobody before :meth:`match_stranded`
        #: takes it on (``STRANDED_AFTER_SECONDS``).
        self.stranded_after = STRANDED_AFTER
        # Asks left to move on by a transaction (a released or undeliverable offer) are moved
        # on once it commits, ranked outside any write transaction.
        event.listen(sessions, "after_commit", self._after_commit)
        event.listen(sessions, "after_soft_rollback", _forget_move_on)

    def policy_for(self, session: Session, team_id: str) -> MatchPolicy:
        """The offer policy of ``team_id`` now: its programme settings over the defaults."""
        if self.policy_lookup is None:
            return self._policy
        return self.policy_lookup(session, team_id, self._policy)

    def offer_policy(self, team_id: str) -> MatchPolicy:
        """:meth:`policy_for` in its own read: what screens say about who will see a request
        (helpers asked in all, and how many at once) is then this workspace's truth."""
        with unit_of_work(self._sessions) as session:
            return self.policy_for(session, team_id)

    # ------------------------------------------------------------------ submit

    def _topic(self, vector: Vector) -> str:
        if self._topic_vectors is None:
            self._topic_vectors = self._embedder.embed([label for _, label in TOPICS])
        return TOPICS[int((self._topic_vectors @ vector).argmax())][0]

    def topic_of(self, vector: Vector) -> str:
        """The topic label nearest ``vector`` (an ask's embedding), as a new ask gets."""
        return self._topic(vector)

    def submit(
        self, team_id: str, user_id: str, inp: AskInput, client_key: str
    ) -> SubmitResult | TooManyOpen:
        """:meth:`record` the ask, then :meth:`match` it (tell the asker, offer it to the best
        peer). A redelivered submission returns the existing ask and sends nothing new."""
        result = self.record(team_id, user_id, inp, client_key)
        if isinstance(result, SubmitResult) and not result.duplicate:
            self.match(result.ask_id)
        return result

    def record(
        self, team_id: str, user_id: str, inp: AskInput, client_key: str
    ) -> SubmitResult | TooManyOpen:
        """Save the ask (status ``matching``), nothing else: quick enough to finish before the
        modal is acknowledged, so a submission is either saved or answered with an error.

        ``client_key`` identifies the submission (Slack's view id): a redelivered or repeated
        submission returns the existing ask. An asker who already has
        ``MatchPolicy.max_open_asks`` asks waiting gets :class:`TooManyOpen` and nothing is
        saved. Raises :class:`~peerbot.services.errors.StoreUnavailable` when the database
        cannot be reached. :meth:`match` (or the tick's :meth:`match_stranded`) takes it on:
        it embeds the ask (the model is not on the acknowledgement's path: a worker still
        building its matching index at start-up answers within Slack's 3 seconds).
        """
        now = self._clock.now()
        try:
            try:
                with unit_of_work(self._sessions) as session:
                    # The submission seen before, and whether the workspace is known: one read.
                    existing, workspace_known = session.execute(
                        select(
                            select(Ask.id)
                            .where(Ask.team_id == team_id, Ask.client_key == client_key)
                            .scalar_subquery(),
                            select(Workspace.team_id).where(Workspace.team_id == team_id).exists(),
                        )
                    ).one()
                    if existing is not None:
                        return SubmitResult(existing, duplicate=True)
                    # Locked as it is read: one asker's submissions one at a time.
                    asker, new = find_or_add_person(
                        session, team_id, user_id, now, lock=True, workspace_known=workspace_known
                    )
                    if inp.manager and inp.manager != user_id:
                        asker.manager_slack_user_id = inp.manager  # the reporting-line rule
                    # Someone seen for the first time has no asks yet.
                    waiting = () if new else self._waiting(session, asker.id)
                    if len(waiting) >= self._policy.max_open_asks:
                        return TooManyOpen(self._policy.max_open_asks, waiting)
                    ask = Ask(
                        team_id=team_id,
                        asker_id=asker.id,
                        challenge=inp.challenge,
                        desired_result=inp.desired_result or None,
                        obstacles=inp.obstacles or None,
                        urgency=Urgency(inp.urgency),
                        anonymous=inp.anonymous,
                        excluded_user_ids=sorted(set(inp.excluded)) or None,
                        topics=list(ask_topics(inp.topics, None)) or None,
                        status=AskStatus.MATCHING,
                        client_key=client_key,
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(ask)
                    session.flush()
                    recorded = _Recorded(
                        ask.id,
                        team_id,
                        user_id,
                        asker.id,
                        ask.challenge,
                        ask.desired_result,
                        ask.obstacles,
                    )
                # Committed: the match that follows in this worker need not read it back.
                self._recorded.put(recorded)
                return SubmitResult(recorded.ask_id, duplicate=False)
            except IntegrityError:
                # Two deliveries of the same submission raced; the other one recorded it.
                with unit_of_work(self._sessions) as session:
                    ask_id = session.scalar(
                        select(Ask.id).where(Ask.team_id == team_id, Ask.client_key == client_key)
                    )
                if ask_id is None:
                    raise
                return SubmitResult(ask_id, duplicate=True)
        except Exception as exc:
            if is_outage(exc):
                raise StoreUnavailable(str(exc).splitlines()[0] if str(exc) else "") from exc
            raise

    def _waiting(self, session: Session, asker_id: int) -> tuple[OpenAsk, ...]:
        rows = session.execute(
            select(Ask.id, Ask.challenge, Ask.created_at)
            # Asks being looked for a helper count against the cap (one still waiting after it
            # went unmet does not: between its offers it asks nobody).
            .where(Ask.asker_id == asker_id, Ask.status.in_(ASKS_LOOKING))
            .order_by(Ask.created_at, Ask.id)
        ).all()
        return tuple(OpenAsk(i, c, t) for i, c, t in rows)

    def cap_reached(self, team_id: str, user_id: str) -> TooManyOpen | None:
        """:class:`TooManyOpen` when ``user_id`` may not ask again now (their waiting asks), else
        None: for telling them before they type, when the intake would be opened. With the
        database unavailable it says None: the submission checks again."""
        try:
            with unit_of_work(self._sessions) as session:
                person = find_person(session, team_id, user_id)
                if person is None:
                    return None
                waiting = self._waiting(session, person.id)
        except Exception as exc:
            if not is_outage(exc):
                raise
            log.warning("could not check %s's open asks: the database is unavailable", user_id)
            return None
        if len(waiting) >= self._policy.max_open_asks:
            return TooManyOpen(self._policy.max_open_asks, waiting)
        return None

    def match(self, ask_id: int) -> bool:
        """Take a recorded ask on: refresh the asker from Slack, tell them what happens next and
        offer the ask to the best peer(s), or tell them nobody is free. Runs once per ask (a
        second call, or one racing the tick, finds it no longer ``matching`` and returns False).
        """
        row = self._recorded.take(ask_id)
        stored = False  # an ask this worker has just recorded has no vector yet
        if row is None:
            with read_only(self._sessions) as session:
                # The ask, its asker and whether its vector is stored already: one statement.
                found = session.execute(
                    select(
                        Ask.id,
                        Ask.team_id,
                        Person.slack_user_id,
                        Ask.asker_id,
                        Ask.challenge,
                        Ask.desired_result,
                        Ask.obstacles,
                        Ask.status,
                        select(Embedding.id)
                        .where(
                            Embedding.owner_kind == EmbeddingOwner.ASK,
                            Embedding.owner_id == Ask.id,
                            Embedding.model_name == self._embedder.model_name,
                        )
                        .exists()
                        .label("stored"),
                    )
                    .join(Person, Person.id == Ask.asker_id)
                    .where(Ask.id == ask_id)
                ).first()
            if found is None or found.status != AskStatus.MATCHING:
                return False
            row = _Recorded(*found[:7])
            stored = bool(found.stored)
        team_id, user_id, asker_id = row.team_id, row.slack_user_id, row.asker_id
        # The asker's Slack profile is fetched (a round trip) while the ask is embedded (the
        # model runs outside the interpreter lock): neither waits for the other.
        lookup = _Lookup(self._directory, team_id, user_id)
        # Embedded here, outside any transaction (the submission's answer did not wait for it).
        text = text_for_matching(row.challenge, row.desired_result, row.obstacles)
        try:
            vector = None if stored else self._embedder.embed([text])[0]
            topic = None if vector is None else self._topic(vector)
        finally:
            lookup.join()
        try:
            info = lookup.result()
        except DirectoryError as err:  # match on what is known; the profile refreshes later
            log.warning("ask %s: could not refresh the asker from Slack (%s)", ask_id, err)
            info = None
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            if info is not None:
                refresh_person(session, asker_id, info, now)
            if vector is not None:
                # The topic on the ask still matching (one UPDATE, no read first).
                saved = session.execute(
                    update(Ask)
                    .where(Ask.id == ask_id, Ask.status == AskStatus.MATCHING)
                    .values(topic=func.coalesce(Ask.topic, topic))
                    .execution_options(synchronize_session=False)
                )
                if cast(CursorResult[Any], saved).rowcount:
                    store_vector(
                        session,
                        team_id=team_id,
                        kind=EmbeddingOwner.ASK,
                        owner_id=ask_id,
                        text=text,
                        model_name=self._embedder.model_name,
                        vector=vector,
                        now=now,
                    )
        # Rank reading only: on SQLite no write lock is held while the index is brought up to
        # date and the helpers are scored. The write below re-checks what may have moved.
        ranked = None
        with read_only(self._sessions) as session:
            both = session.execute(
                select(Ask, Person).join(Person, Person.id == asker_id).where(Ask.id == ask_id)
            ).first()
            if both is None or both[0].status != AskStatus.MATCHING:
                return False
            ask, asker = both
            if vector is None:  # embedded before (the vector just saved is not read back)
                vector = self._stored_vector(session, ask)
            if vector is not None:
                ranked = self._ranker.candidates_for(session, ask, asker, vector, now)
        with unit_of_work(self._sessions) as session:
            locked = _locked_ask_with(session, ask_id, asker_id)
            if locked is None or locked[0].status != AskStatus.MATCHING:
                return False
            ask, asker = locked
            if vector is None:
                vector = self._ask_vector(session, ask)
            self._advance(session, ask, asker, vector, now, first=True, ranked=ranked)
        return True

    def warm_matcher(self) -> int:
        """:meth:`warm_model`, then :meth:`warm_index`; returns how many workspaces were built."""
        self.warm_model()
        return self.warm_index()

    def warm_model(self) -> None:
        """Load the embedding model and the topic vectors (the first ask needs both)."""
        self._topic(self._embedder.embed(["warm-up"])[0])

    def warm_index(self) -> int:
        """Build the matching index now (at worker start-up, in a background thread) when the
        matcher keeps one; returns how many workspaces were built. Needs no model."""
        warm = getattr(self._ranker, "warm", None)
        return int(warm(self._sessions, self._clock.now())) if warm is not None else 0

    def close(self) -> None:
        """A stopping worker: the matcher's background work ends (a child process building
        an index is terminated)."""
        close = getattr(self._ranker, "close", None)
        if close is not None:
            close()

    def start_up(self) -> StartUp | None:
        """The matcher's start-up order (:class:`~peerbot.services.matching.StartUp`), when it
        keeps an index (None otherwise)."""
        return getattr(self._ranker, "start_up", None)

    def match_stranded(self, grace: timedelta | None = None) -> int:
        """Match asks recorded at least ``grace`` ago and never matched (the process stopped
        between saving and matching, or the database went away in between). Returns how many."""
        before = self._clock.now() - (self.stranded_after if grace is None else grace)
        with unit_of_work(self._sessions) as session:
            ids = list(
                session.scalars(
                    select(Ask.id)
                    .where(Ask.status == AskStatus.MATCHING, Ask.created_at <= before)
                    .order_by(Ask.created_at, Ask.id)
                    .limit(50)
                )
            )
        done = 0
        for ask_id in ids:
            if self.match(ask_id):
                log.info("ask %s matched by the tick (it was saved but not matched)", ask_id)
                done += 1
        # Asks being offered but offered to nobody: the process stopped between releasing an
        # offer and moving its ask on (:meth:`_move_on_after_commit`). The grace runs from the
        # moment the ask became so: its last offer's end (``responded_at``; an expiry, a skip or
        # a pass does not touch the ask's own row), or the ask's last change (an introduction
        # that failed puts it back to offering).
        with read_only(self._sessions) as session:
            stalled = list(
                session.scalars(
                    select(Ask.id)
                    .where(
                        Ask.status == AskStatus.OFFERED,
                        Ask.updated_at <= before,
                        ~select(Offer.id)
                        .where(
                            Offer.ask_id == Ask.id,
                            or_(Offer.status == OfferStatus.PENDING, Offer.responded_at > before),
                        )
                        .exists(),
                    )
                    .order_by(Ask.updated_at, Ask.id)
                    .limit(50)
                )
            )
        if stalled:
            log.info("asks %s were offered to nobody; moving them on", stalled)
            done += self.move_on(stalled)
        return done

    # ------------------------------------------------------------------ offers

    def _stored_vector(self, session: Session, ask: Ask) -> Vector | None:
        row = session.scalar(
            select(Embedding).where(
                Embedding.owner_kind == EmbeddingOwner.ASK,
                Embedding.owner_id == ask.id,
                Embedding.model_name == self._embedder.model_name,
            )
        )
        return None if row is None else vector_from_bytes(row.vector, row.dim)

    def _ask_vector(self, session: Session, ask: Ask) -> Vector:
        row = session.scalar(
            select(Embedding).where(
                Embedding.owner_kind == EmbeddingOwner.ASK,
                Embedding.owner_id == ask.id,
                Embedding.model_name == self._embedder.model_name,
            )
        )
        if row is not None:
            return vector_from_bytes(row.vector, row.dim)
        text = text_for_matching(ask.challenge, ask.desired_result, ask.obstacles)
        return upsert_vector(
            session,
            team_id=ask.team_id,
            kind=EmbeddingOwner.ASK,
            owner_id=ask.id,
            text=text,
            embedder=self._embedder,
            now=self._clock.now(),
        )

    def _advance(
        self,
        session: Session,
        ask: Ask,
        asker: Person,
        vector: Vector,
        now: datetime,
        *,
        first: bool = False,
        ranked: Sequence[Ranked] | None = None,
    ) -> None:
        """Offer ``ask`` to the next best candidates, or tell the asker nobody is free.

        ``ranked``: the candidates, ranked before this transaction began (outside the write
        lock); each is re-checked here (room for an offer) before it is offered."""
        policy = self.policy_for(session, ask.team_id)
        # The ask's offers so far, in one read (helper, status): how many count as tries, wait
        # for an answer, were skipped; the next rank; who was offered it already.
        so_far = session.execute(
            select(Offer.helper_id, Offer.status).where(Offer.ask_id == ask.id)
        ).all()
        used = sum(1 for _, status in so_far if status in COUNTED)
        pending = sum(1 for _, status in so_far if status == OfferStatus.PENDING)
        skipped = sum(1 for _, status in so_far if status == OfferStatus.SKIPPED)
        parallel, timeout = self._routing(ask, policy)
        used -= ask.tries_before or 0  # a re-pair starts a new round of tries
        slots = min(parallel - pending, policy.max_offers - used)
        if skipped >= policy.max_skips:
            slots = 0  # helpers who could not be messaged do not count as tries, but are bounded
        made: list[Offer] = []
        if slots > 0:
            if ranked is None:
                ranked = self._ranker.candidates_for(session, ask, asker, vector, now)
            position = len(so_far)
            # Ranked before this transaction: someone may have been offered this ask since.
            offered = {helper_id for helper_id, _ in so_far}
            for r in ranked:
                if len(made) >= slots:
                    break
                if r.candidate.person_id in offered:
                    continue
                if not self._helper_has_room(session, r.candidate.person_id):
                    continue  # another ask's offer reached this helper since the snapshot
                position += 1
                helper_tz = zone(r.candidate.tz)
                offer = Offer(
                    team_id=ask.team_id,
                    ask_id=ask.id,
                    helper_id=r.candidate.person_id,
                    rank=position,
                    score=float(r.score),
                    explanation=r.explanation,
                    status=OfferStatus.PENDING,
                    sent_at=now,
                    expires_at=add_working_hours(now, timeout, helper_tz, policy.working_hours),
                    created_at=now,
                )
                session.add(offer)
                session.flush()
                made.append(offer)
                offered.add(offer.helper_id)
                messages.post(
                    session,
                    team_id=ask.team_id,
                    key=_key("offer", offer.id, "request"),
                    to=r.candidate.user_id,
                    notice=notices.OfferRequest(offer_id=offer.id),
                    now=now,
                )
        if made or pending > 0:
            ask.status = AskStatus.OFFERED
            ask.updated_at = now
            if first:
                latest = max((o.expires_at for o in made if o.expires_at), default=now)
                messages.post(
                    session,
                    team_id=ask.team_id,
                    key=_key("ask", ask.id, "received"),
                    to=asker.slack_user_id,
                    notice=notices.AskReceived(
                        ask_id=ask.id, answer_by=latest, max_offers=policy.max_offers
                    ),
                    now=now,
                )
            return
        self._unmet(session, ask, asker, now, first=first)

    def _helper_has_room(self, session: Session, helper_id: int) -> bool:
        """Re-check, in the write transaction, what may have changed since the ranking (which
        ran before it, reading only): the pending-offer cap under a lock on the helper's person
        row (PostgreSQL; SQLite transactions are serial), so two asks at the same moment cannot
        both pass it; the pause (e.g. the third unanswered offer in this very transaction);
        still opted in, reachable and with capacity left. A helper who fails any is skipped."""
        # The lock first, then one read of the rest (in a statement of its own: on PostgreSQL
        # a statement that waited for the lock would count with the snapshot taken before).
        _lock_person(session, helper_id)
        active = (
            select(func.count())
            .where(Pair.helper_id == helper_id, Pair.status == PairStatus.ACTIVE)
            .scalar_subquery()
        )
        pending = (
            select(func.count())
            .where(Offer.helper_id == helper_id, Offer.status == OfferStatus.PENDING)
            .scalar_subquery()
        )
        row = session.execute(
            select(HelperProfile, Person, active, pending)
            .join(Person, Person.id == HelperProfile.person_id)
            .where(HelperProfile.person_id == helper_id)
        ).first()
        if row is None:
            return False
        profile, person, n_active, n_pending = row
        if not profile.opted_in:
            return False
        if person.deleted or not person.can_be_messaged:
            return False
        paused_until = profile.paused_until
        if paused_until is not None and paused_until > self._clock.now():
            return False
        if profile.capacity is not None and (n_active or 0) >= profile.capacity:
            return False
        return (n_pending or 0) < self._policy.max_pending_offers

    def _unmet(
        self, session: Session, ask: Ask, asker: Person, now: datetime, *, first: bool
    ) -> None:
        ask.status = AskStatus.UNMET
        ask.updated_at = now
        ask.closed_at = now
        if still_waiting(ask.status, ask.waiting_until, now):
            log.info("ask %s goes back to waiting for a newly available helper", ask.id)
            return  # the asker chose to wait and was told so; nothing new to say
        tried = (
            session.scalar(
                select(func.count()).where(Offer.ask_id == ask.id, Offer.status.in_(COUNTED))
            )
            or 0
        )
        log.info("ask %s unmet after %d offer(s); topic %s", ask.id, tried, ask.topic)
        self._end_receipt(session, ask, now)
        messages.post(
            session,
            team_id=ask.team_id,
            key=_key("ask", ask.id, "unmet", *([ask.tries_before] if ask.tries_before else [])),
            to=asker.slack_user_id,
            notice=notices.AskUnmet(ask_id=ask.id, tried=tried),
            now=now,
        )

    @staticmethod
    def _end_receipt(session: Session, ask: Ask, now: datetime) -> None:
        """The asker's receipt loses its Edit and Withdraw buttons: the ask stopped waiting
        without a peer, so both would be refused (an update, sent once the receipt is)."""
        received = _key("ask", ask.id, "received")
        if messages.key_free(session, received):
            return
        messages.update(
            session,
            team_id=ask.team_id,
            key=_key("ask", ask.id, "ended", *([ask.tries_before] if ask.tries_before else [])),
            replaces=received,
            notice=AskEnded(ask_id=ask.id),
            now=now,
        )

    def _close_offer_message(
        self, session: Session, offer: Offer, state: notices.OfferState, now: datetime
    ) -> None:
        messages.update(
            session,
            team_id=offer.team_id,
            key=_key("offer", offer.id, "closed"),
            replaces=_key("offer", offer.id, "request"),
            notice=notices.OfferClosed(offer_id=offer.id, state=state),
            now=now,
        )

    def _load(self, session: Session, offer_id: int, team_id: str, *, lock: bool) -> Offer | None:
        stmt = select(Offer).where(Offer.id == offer_id, Offer.team_id == team_id)
        if lock and session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return session.scalar(stmt)

    # ------------------------------------------------------------------ accept

    def accept(self, team_id: str, offer_id: int, user_id: str) -> AcceptOutcome:
        """The helper said yes: pair them (once), introduce the two, close the other offers."""
        now = self._clock.now()
        try:
            with unit_of_work(self._sessions) as session:
                outcome = self._accept(session, team_id, offer_id, user_id, now)
        except IntegrityError:
            # Another accept for the same ask committed first (the pair is unique per ask).
            return AcceptOutcome.TAKEN
        return outcome

    def _accept(
        self, session: Session, team_id: str, offer_id: int, user_id: str, now: datetime
    ) -> AcceptOutcome:
        offer = self._load(session, offer_id, team_id, lock=False)
        if offer is None:
            return AcceptOutcome.NOT_FOUND
        helper = session.get(Person, offer.helper_id)
        assert helper is not None
        if helper.slack_user_id != user_id:
            return AcceptOutcome.NOT_YOURS
        # Serialise accepts on the same ask (PostgreSQL row lock; SQLite writes are serial).
        ask_stmt = select(Ask).where(Ask.id == offer.ask_id)
        if session.get_bind().dialect.name == "postgresql":
            ask_stmt = ask_stmt.with_for_update()
        ask = session.scalar(ask_stmt)
        assert ask is not None
        session.refresh(offer)
        if offer.status == OfferStatus.ACCEPTED:
            return AcceptOutcome.ALREADY_PAIRED
        existing = session.scalar(
            select(Pair).where(Pair.ask_id == ask.id, Pair.status.in_(RUNNING_PAIRS))
        )
        if existing is not None:
            return AcceptOutcome.TAKEN
        if offer.status != OfferStatus.PENDING:
            return AcceptOutcome.CLOSED
        asker = session.get(Person, ask.asker_id)
        assert asker is not None
        offer.status = OfferStatus.ACCEPTED
        offer.responded_at = now
        self._answered(session, helper.id)
        ask.waiting_until = None
        ask.closed_at = None
        pair = Pair(
            team_id=team_id,
            ask_id=ask.id,
            helper_id=helper.id,
            asker_id=asker.id,
            status=PairStatus.ACTIVE,
            cadence=Cadence.WEEKLY,
            missed_checkins=0,
            created_at=now,
        )
        session.add(pair)
        session.flush()  # one live pair per ask: a racing second pair fails here
        schedule_new_pair(session, pair, asker, helper, now)
        ask.status = AskStatus.PAIRED
        ask.matched_at = now
        ask.updated_at = now
        others = session.scalars(
            select(Offer).where(
                Offer.ask_id == ask.id, Offer.id != offer.id, Offer.status == OfferStatus.PENDING
            )
        )
        for other in others:
            other.status = OfferStatus.WITHDRAWN
            other.responded_at = now
            self._close_offer_message(session, other, notices.OfferState.TAKEN, now)
        # Only the introduction now: the helper's offer and the asker's receipt say "you are
        # introduced" once the group DM exists (``on_sent``), never before.
        messages.post(
            session,
            team_id=team_id,
            key=_key("pair", pair.id, "intro"),
            to=[asker.slack_user_id, helper.slack_user_id],
            notice=notices.Intro(pair_id=pair.id),
            now=now,
        )
        return AcceptOutcome.PAIRED

    # ------------------------------------------------------------------ pass / expire / skip

    def decline(self, team_id: str, offer_id: int, user_id: str, reason: str = "") -> bool:
        """The helper passed: record why and offer the ask to the next candidate.

        Returns False when the offer was not pending (a repeat, or already answered).
        """
        now = self._clock.now()
        ranked = self._rank_next(offer_id, now)  # outside the write transaction
        with unit_of_work(self._sessions) as session:
            offer = self._load(session, offer_id, team_id, lock=True)
            if offer is None or offer.status != OfferStatus.PENDING:
                return False
            helper = session.get(Person, offer.helper_id)
            if helper is None or helper.slack_user_id != user_id:
                return False
            offer.status = OfferStatus.PASSED
            offer.pass_reason = reason[:1000] or None
            offer.responded_at = now
            self._answered(session, helper.id)
            self._close_offer_message(session, offer, notices.OfferState.PASSED, now)
            self._move_on(session, offer, now, ranked=ranked.get(offer.ask_id))
        return True

    def release_offer(self, session: Session, offer: Offer, now: datetime) -> None:
        """A pending offer whose helper is gone (their data deleted): skip them in the caller's
        unit of work; the ask moves on to the next candidate once that commits (ranked reading
        only, then offered in a transaction of its own: :meth:`_move_on_after_commit`)."""
        offer.status = OfferStatus.SKIPPED
        offer.responded_at = now
        self._move_on_after_commit(session, offer.ask_id)

    def _move_on_after_commit(self, session: Session, ask_id: int) -> None:
        """Move ``ask_id`` on to its next candidates after ``session`` commits (nothing if it
        rolls back): the ranking then holds no write lock, and the write re-checks each
        candidate. Should the process stop in between, the tick's :meth:`match_stranded`
        finds the ask offered to nobody and moves it on."""
        session.info.setdefault(_MOVE_ON, []).append(ask_id)

    def _after_commit(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # a savepoint: the transaction (and its write lock) goes on
        ask_ids = session.info.pop(_MOVE_ON, None)
        if not ask_ids:
            return
        try:
            self.move_on(ask_ids)
        except Exception:  # the writer committed; the tick's match_stranded retries
            log.exception("asks %s: could not move on to the next helper; the tick will", ask_ids)

    def move_on(self, ask_ids: Sequence[int]) -> int:
        """Offer each of ``ask_ids`` still being offered, and offered to nobody now, to its
        next candidates (or tell the asker nobody is free): ranked first, reading only, then
        each written in its own short transaction. Returns how many asks were moved on."""
        now = self._clock.now()
        ranked = self._rank_asks(ask_ids, now)
        done = 0
        for ask_id in dict.fromkeys(ask_ids):
            with unit_of_work(self._sessions) as session:
                ask = _locked_ask(session, ask_id)
                if ask is None or ask.status != AskStatus.OFFERED:
                    continue
                asker = session.get_one(Person, ask.asker_id)
                vector = self._ask_vector(session, ask)
                self._advance(session, ask, asker, vector, now, ranked=ranked.get(ask_id))
                done += 1
        return done

    def _move_on(
        self,
        session: Session,
        offer: Offer,
        now: datetime,
        *,
        ranked: Sequence[Ranked] | None = None,
    ) -> None:
        """Offer the ask of ``offer`` to the next candidates (``ranked``: ranked ahead, outside
        the write transaction, by :meth:`_rank_next`; ranked here when None)."""
        # Locked on PostgreSQL: two offers of one ask settled at once (an urgent ask's pass and
        # expiry) would each count the other as pending, and the ask could end offered to nobody.
        ask = _locked_ask(session, offer.ask_id)
        assert ask is not None
        if ask.status != AskStatus.OFFERED:
            return
        asker = session.get(Person, ask.asker_id)
        assert asker is not None
        self._advance(session, ask, asker, self._ask_vector(session, ask), now, ranked=ranked)

    def _rank_next(
        self, offer_ids: int | Sequence[int], now: datetime
    ) -> dict[int, Sequence[Ranked]]:
        """The candidates of the asks of ``offer_ids`` still being offered, by ask id, ranked
        reading only: no write lock is held while the index is refreshed and helpers scored.
        The write that follows re-checks each one (room, not offered this ask meanwhile)."""
        ids = [offer_ids] if isinstance(offer_ids, int) else list(offer_ids)
        if not ids:
            return {}
        with read_only(self._sessions) as session:
            ask_ids = set(session.scalars(select(Offer.ask_id).where(Offer.id.in_(ids))))
        return self._rank_asks(sorted(ask_ids), now)

    def _rank_asks(
        self, ask_ids: Sequence[int], now: datetime, status: AskStatus = AskStatus.OFFERED
    ) -> dict[int, Sequence[Ranked]]:
        """The candidates of each of ``ask_ids`` still in ``status``, by ask id, ranked reading
        only (see :meth:`_rank_next`); an ask without a stored vector is left out (ranked in
        the write, which embeds it)."""
        out: dict[int, Sequence[Ranked]] = {}
        if not ask_ids:
            return out
        with read_only(self._sessions) as session:
            for ask_id in dict.fromkeys(ask_ids):
                ask = session.get(Ask, ask_id)
                if ask is None or ask.status != status:
                    continue
                asker = session.get(Person, ask.asker_id)
                vector = self._stored_vector(session, ask)
                if asker is None or vector is None:
                    continue
                out[ask_id] = self._ranker.candidates_for(session, ask, asker, vector, now)
        return out

    def expire_due(self) -> int:
        """Expire offers nobody answered in time and move their asks on. Returns how many.

        The expiries commit first; each ask is then ranked, reading only, with the helpers whose
        offers just lapsed free again, and offered in a short write of its own
        (:meth:`_move_on_after_commit`). Ranked before the expiries, a tick expiring many offers
        at once saw those helpers still holding them, and later asks found nobody left."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            stmt = (
                select(Offer)
                .where(Offer.status == OfferStatus.PENDING, Offer.expires_at <= now)
                .order_by(Offer.expires_at)
                .limit(200)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            due = list(session.scalars(stmt))
            for offer in due:
                offer.status = OfferStatus.EXPIRED
                offer.responded_at = now
                self._close_offer_message(session, offer, notices.OfferState.EXPIRED, now)
                self._missed(session, offer.helper_id, now)
                self._move_on_after_commit(session, offer.ask_id)
        self.follow_waiting()
        return len(due)

    def on_undeliverable(
        self, session: Session, notice: notices.Notice, outcome: DeliveryOutcome
    ) -> None:
        """Outbox failure hook: what an undeliverable offer or introduction means for the ask.

        - An offer the helper cannot receive (their DMs, their account) skips them, and marks
          them unreachable until they are re-checked; one that failed for any other reason that
          is not about the message skips them without blame. Skips are bounded.
        - An offer Slack refused for its content ends the ask: the same message would fail for
          every helper, so the asker is told, in words that do not repeat it.
        - An introduction that could not be made fails the pair: both are told in their own DMs,
          the helper is released and the ask goes back to matching.
        """
        if outcome.failure == Failure.GONE:
            return  # what it was about is gone: nothing left to say
        if isinstance(notice, notices.OfferRequest):
            self._offer_undeliverable(session, notice.offer_id, outcome)
        elif isinstance(notice, notices.Intro):
            self._intro_failed(session, notice.pair_id, outcome)

    def _offer_undeliverable(
        self, session: Session, offer_id: int, outcome: DeliveryOutcome
    ) -> None:
        offer = session.get(Offer, offer_id)
        if offer is None or offer.status != OfferStatus.PENDING:
            return
        now = self._clock.now()
        offer.status = OfferStatus.SKIPPED
        offer.responded_at = now
        helper = session.get(Person, offer.helper_id)
        if helper is not None and outcome.failure in (Failure.RECIPIENT, Failure.DEACTIVATED):
            gone = outcome.failure == Failure.DEACTIVATED
            mark_unreachable(session, helper, outcome.code, now, deactivated=gone)
        log.info("offer %s skipped: not delivered (%s)", offer.id, outcome.code)
        ask = session.get(Ask, offer.ask_id)
        if ask is None or ask.status != AskStatus.OFFERED:
            return
        if outcome.failure == Failure.REJECTED:
            self._not_sent(session, ask, now)
            return
        self._move_on_after_commit(session, ask.id)

    def _not_sent(self, session: Session, ask: Ask, now: datetime) -> None:
        """Slack refused to carry the ask: close it and tell the asker."""
        for other in session.scalars(
            select(Offer).where(Offer.ask_id == ask.id, Offer.status == OfferStatus.PENDING)
        ):
            other.status = OfferStatus.WITHDRAWN
            other.responded_at = now
            self._close_offer_message(session, other, notices.OfferState.TAKEN, now)
        ask.status = AskStatus.UNMET
        ask.updated_at = now
        ask.closed_at = now
        asker = session.get(Person, ask.asker_id)
        assert asker is not None
        log.warning("ask %s: Slack refused the offer message itself; the asker is told", ask.id)
        self._end_receipt(session, ask, now)
        messages.post(
            session,
            team_id=ask.team_id,
            key=_key("ask", ask.id, "not_sent"),
            to=asker.slack_user_id,
            notice=notices.AskNotSent(ask_id=ask.id),
            now=now,
        )

    @staticmethod
    def _accepted_offer(session: Session, pair: Pair) -> Offer | None:
        """The offer whose acceptance made ``pair``."""
        return session.scalar(
            select(Offer).where(
                Offer.ask_id == pair.ask_id,
                Offer.helper_id == pair.helper_id,
                Offer.status == OfferStatus.ACCEPTED,
            )
        )

    def _intro_failed(self, session: Session, pair_id: int, outcome: DeliveryOutcome) -> None:
        pair = session.get(Pair, pair_id)
        if pair is None or pair.status != PairStatus.ACTIVE or pair.channel_id:
            return
        now = self._clock.now()
        log.warning(
            "pair %s: the introduction could not be delivered (%s); the pair failed, both are "
            "told and the ask goes back to matching",
            pair.id,
            outcome.code,
        )
        pair.status = PairStatus.FAILED
        pair.closed_at = now
        pair.next_checkin_at = None
        session.execute(delete(Checkin).where(Checkin.pair_id == pair.id))
        asker = session.get(Person, pair.asker_id)
        helper = session.get(Person, pair.helper_id)
        assert asker is not None
        assert helper is not None
        for person, side in ((asker, notices.Side.ASKER), (helper, notices.Side.HELPER)):
            messages.post(
                session,
                team_id=pair.team_id,
                key=_key("pair", pair.id, "intro_failed", side.value),
                to=person.slack_user_id,
                notice=notices.IntroFailed(pair_id=pair.id, to=side),
                now=now,
            )
        accepted = self._accepted_offer(session, pair)
        if accepted is not None:
            self._close_offer_message(session, accepted, notices.OfferState.RELEASED, now)
        ask = session.get(Ask, pair.ask_id)
        if ask is None or ask.status != AskStatus.PAIRED:
            return
        ask.status = AskStatus.OFFERED
        ask.matched_at = None
        ask.updated_at = now
        self._move_on_after_commit(session, ask.id)

    def on_sent(self, session: Session, notice: notices.Notice, where: SentRef) -> None:
        """Outbox success hook: once the group DM exists, remember it, and only now tell the
        helper (their offer) and the asker (their receipt) that they are introduced."""
        if not isinstance(notice, notices.Intro):
            return
        pair = session.get(Pair, notice.pair_id)
        if pair is None or pair.status == PairStatus.FAILED:
            return
        pair.channel_id = where.channel
        now = self._clock.now()
        accepted = self._accepted_offer(session, pair)
        if accepted is not None:
            self._close_offer_message(session, accepted, notices.OfferState.ACCEPTED, now)
        asker = session.get(Person, pair.asker_id)
        assert asker is not None
        received = _key("ask", pair.ask_id, "received")
        if not messages.key_free(session, received):
            messages.update(
                session,
                team_id=pair.team_id,
                key=_key("ask", pair.ask_id, "matched", pair.id),
                replaces=received,
                notice=notices.AskMatched(ask_id=pair.ask_id, pair_id=pair.id),
                now=now,
                or_else_to=asker.slack_user_id,
            )

    # ------------------------------------------------------------------ follow-through (issue 13)

    @staticmethod
    def _routing(ask: Ask, policy: MatchPolicy) -> tuple[int, float]:
        """(helpers asked at once, working hours each has to answer) for ``ask`` under the
        workspace's ``policy``: an urgent ask ("In the next day or two") is offered to two at
        once with the shorter window."""
        if ask.urgency == Urgency.HIGH:
            return (
                max(policy.parallel, policy.urgent_parallel),
                min(policy.offer_timeout_working_hours, policy.urgent_timeout_working_hours),
            )
        return policy.parallel, policy.offer_timeout_working_hours

    @staticmethod
    def _answered(session: Session, helper_id: int) -> None:
        """A helper answered an offer: their run of unanswered ones is over."""
        profile = session.get(HelperProfile, helper_id)
        if profile is not None and profile.missed_offers:
            profile.missed_offers = 0

    def _missed(self, session: Session, helper_id: int, now: datetime) -> None:
        """An offer to ``helper_id`` lapsed unanswered; the third in a row pauses them (the
        "ghost" rule, kinder): new requests stop, and a DM says why, until when, and offers
        Resume now."""
        profile = session.get(HelperProfile, helper_id)
        helper = session.get(Person, helper_id)
        if profile is None or helper is None:
            return
        profile.missed_offers = (profile.missed_offers or 0) + 1
        if profile.missed_offers < GHOST_AFTER:
            return
        missed = profile.missed_offers
        profile.missed_offers = 0
        until = now + GHOST_PAUSE
        if profile.paused_until is None or profile.paused_until < until:
            profile.paused_until = until
        profile.auto_paused_at = now
        log.info("helper %s paused after %d unanswered offers in a row", helper_id, missed)
        messages.post(
            session,
            team_id=helper.team_id,
            key=_pause_key(helper_id, now),
            to=helper.slack_user_id,
            notice=notices.HelperAutoPaused(
                person_id=helper_id,
                missed=missed,
                until=profile.paused_until.astimezone(zone(helper.tz)).date(),
            ),
            now=now,
        )

    def resume(self, team_id: str, user_id: str) -> bool:
        """ "Resume now": the helper takes requests again (their pause ends now). Returns False
        when they were not paused (a second click). Asks waiting for a helper are offered to
        them at the next tick, if their experience matches."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            person = find_person(session, team_id, user_id)
            profile = None if person is None else session.get(HelperProfile, person.id)
            if person is None or profile is None:
                return False
            if profile.paused_until is None or profile.paused_until <= now:
                return False
            profile.paused_until = None
            profile.updated_at = now
            profile.missed_offers = 0
            if profile.auto_paused_at is not None:
                paused_key = _pause_key(person.id, profile.auto_paused_at)
                messages.update(
                    session,
                    team_id=team_id,
                    key=paused_key + ":resumed",
                    replaces=paused_key,
                    notice=notices.HelperResumed(person_id=person.id),
                    now=now,
                )
                profile.auto_paused_at = None
        return True

    def wait_for_helper(self, team_id: str, ask_id: int, user_id: str) -> WaitOutcome:
        """ "Tell me when someone can": the unmet ask waits ``wait_days`` for a newly available
        matching helper (offered consent first, by the tick); the asker's message says so."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            ask = session.scalar(select(Ask).where(Ask.id == ask_id, Ask.team_id == team_id))
            if ask is None:
                return WaitOutcome.NOT_FOUND
            asker = session.get_one(Person, ask.asker_id)
            if asker.slack_user_id != user_id:
                return WaitOutcome.NOT_YOURS
            if ask.waiting_until is not None:
                return WaitOutcome.ALREADY
            if ask.status != AskStatus.UNMET:
                return WaitOutcome.CLOSED
            ask.waiting_until = now + timedelta(days=self._policy.wait_days)
            ask.waiting_checked_at = None
            ask.updated_at = now
            messages.update(
                session,
                team_id=team_id,
                key=_key("ask", ask.id, "waiting", int(now.timestamp())),
                replaces=_key(
                    "ask", ask.id, "unmet", *([ask.tries_before] if ask.tries_before else [])
                ),
                notice=notices.AskWaiting(ask_id=ask.id, until=ask.waiting_until),
                now=now,
                or_else_to=user_id,
            )
        return WaitOutcome.WAITING

    def follow_waiting(self, limit: int = 50) -> int:
        """The tick's part for waiting asks: tell the askers whose wait is over, and offer each
        still waiting ask to the best newly available matching helper (consent first: Accept
        or Pass). Helpers are looked at again only when helper profiles changed (someone
        opted in, resumed or edited). Returns how many offers were made."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            for ask in session.scalars(
                select(Ask)
                .where(
                    Ask.status == AskStatus.UNMET,
                    Ask.waiting_until.is_not(None),
                    Ask.waiting_until <= now,
                )
                .limit(limit)
            ):
                ask.waiting_until = None
                ask.updated_at = now
                asker = session.get_one(Person, ask.asker_id)
                messages.post(
                    session,
                    team_id=ask.team_id,
                    key=_key("ask", ask.id, "wait_ended", int(now.timestamp())),
                    to=asker.slack_user_id,
                    notice=notices.AskWaitEnded(ask_id=ask.id),
                    now=now,
                )
        # Which waiting asks to look at again, and their candidates, reading only: no write
        # lock is held while they are ranked. The write below re-checks each.
        look: dict[int, tuple[object, ...] | None] = {}  # None: redacted, stop waiting
        with read_only(self._sessions) as session:
            waiting = session.execute(
                select(Ask.id, Ask.team_id, Ask.challenge, Ask.waiting_checked_at)
                .where(ask_still_waiting(now))
                .order_by(Ask.created_at, Ask.id)
                .limit(limit)
            ).all()
            seen_in: dict[str, tuple[object, ...]] = {}
            for ask_id, team_id, challenge, checked_at in waiting:
                if is_redacted(challenge):  # the asker's data was deleted: stop waiting
                    look[ask_id] = None
                    continue
                if team_id not in seen_in:  # one aggregate per workspace and tick
                    seen_in[team_id] = self._helpers_seen(session, team_id, now)
                seen = seen_in[team_id]
                if checked_at is not None and self._waiting_seen.get(ask_id) == seen:
                    continue
                look[ask_id] = seen
        ranked = self._rank_asks([a for a, st in look.items() if st], now, AskStatus.UNMET)
        made = 0
        if not look:
            return made
        with unit_of_work(self._sessions) as session:
            for ask_id, state in look.items():
                found = _locked_ask(session, ask_id)
                # Changed since it was read: withdrawn, offered, its wait over.
                if found is None or not still_waiting(found.status, found.waiting_until, now):
                    continue
                ask = found
                if state is None:
                    ask.waiting_until = None
                    continue
                self._waiting_seen[ask.id] = state
                ask.waiting_checked_at = now
                asker = session.get_one(Person, ask.asker_id)
                candidates = ranked.get(ask.id)
                if candidates is None:  # no stored vector: embedded and ranked here
                    vector = self._ask_vector(session, ask)
                    candidates = self._ranker.candidates_for(session, ask, asker, vector, now)
                policy = self.policy_for(session, ask.team_id)
                _, timeout = self._routing(ask, policy)
                offered = set(
                    session.scalars(select(Offer.helper_id).where(Offer.ask_id == ask.id))
                )
                for r in candidates:
                    if r.candidate.person_id in offered:
                        continue  # offered this ask since the ranking
                    if not self._helper_has_room(session, r.candidate.person_id):
                        continue
                    position = session.scalar(select(func.count()).where(Offer.ask_id == ask.id))
                    offer = Offer(
                        team_id=ask.team_id,
                        ask_id=ask.id,
                        helper_id=r.candidate.person_id,
                        rank=(position or 0) + 1,
                        score=float(r.score),
                        explanation=r.explanation,
                        status=OfferStatus.PENDING,
                        sent_at=now,
                        expires_at=add_working_hours(
                            now, timeout, zone(r.candidate.tz), policy.working_hours
                        ),
                        created_at=now,
                    )
                    session.add(offer)
                    session.flush()
                    messages.post(
                        session,
                        team_id=ask.team_id,
                        key=_key("offer", offer.id, "request"),
                        to=r.candidate.user_id,
                        notice=notices.OfferRequest(offer_id=offer.id),
                        now=now,
                    )
                    ask.status = AskStatus.OFFERED
                    ask.closed_at = None
                    ask.updated_at = now
                    log.info("waiting ask %s offered to a newly available helper", ask.id)
                    made += 1
                    break
        return made

    @staticmethod
    def _helpers_seen(session: Session, team_id: str, now: datetime) -> tuple[object, ...]:
        """What changes when a helper opts in, resumes, edits or their pause runs out (count,
        latest change, how many are paused now)."""
        row = session.execute(
            select(
                func.count(),
                func.max(HelperProfile.updated_at),
                func.count(HelperProfile.paused_until).filter(HelperProfile.paused_until > now),
            ).where(HelperProfile.team_id == team_id)
        ).one()
        return tuple(row)

    def another_peer(self, team_id: str, pair_id: int, user_id: str) -> RepairOutcome:
        """ "Try another peer": the asker's ask goes back to matching without the earlier
        helper, who is thanked and released without blame; the pair is closed (if it was not).
        The asker is told who is being asked by when, or that nobody is free.

        The next candidates are ranked first, reading only (no write lock held meanwhile);
        the write re-checks each one it offers to, as every offer does."""
        now = self._clock.now()
        ranked = self._rank_repair(team_id, pair_id, user_id, now)
        with unit_of_work(self._sessions) as session:
            stmt = select(Pair).where(Pair.id == pair_id, Pair.team_id == team_id)
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update()
            pair = session.scalar(stmt)
            if pair is None:
                return RepairOutcome.NOT_FOUND
            asker = session.get_one(Person, pair.asker_id)
            helper = session.get_one(Person, pair.helper_id)
            if asker.slack_user_id != user_id:
                return RepairOutcome.NOT_YOURS
            ask_stmt = select(Ask).where(Ask.id == pair.ask_id)
            if session.get_bind().dialect.name == "postgresql":
                ask_stmt = ask_stmt.with_for_update()
            ask = session.scalar(ask_stmt)
            if ask is None or pair.status == PairStatus.FAILED:
                return RepairOutcome.NOT_FOUND
            newer = session.scalar(
                select(func.count()).where(Pair.ask_id == ask.id, Pair.id > pair.id)
            )
            if newer or ask.status not in (AskStatus.PAIRED, AskStatus.CLOSED):
                return RepairOutcome.ALREADY  # already asking again (a second click)
            if pair.status in RUNNING_PAIRS:
                pair.status = PairStatus.CLOSED
                pair.closed_at = now
                pair.closed_by = user_id
                pair.next_checkin_at = None
                session.execute(
                    delete(Checkin).where(Checkin.pair_id == pair.id, Checkin.sent_at.is_(None))
                )
                retire_pair_buttons(session, pair, now)
            session.execute(
                delete(MeetingCheck).where(
                    MeetingCheck.pair_id == pair.id, MeetingCheck.sent_at.is_(None)
                )
            )
            messages.post(
                session,
                team_id=team_id,
                key=_key("pair", pair.id, "released"),
                to=helper.slack_user_id,
                notice=notices.HelperReleased(pair_id=pair.id),
                now=now,
            )
            ask.excluded_user_ids = sorted({*(ask.excluded_user_ids or ()), helper.slack_user_id})
            ask.tries_before = (
                session.scalar(
                    select(func.count()).where(Offer.ask_id == ask.id, Offer.status.in_(COUNTED))
                )
                or 0
            )
            ask.status = AskStatus.OFFERED
            ask.matched_at = None
            ask.closed_at = None
            ask.updated_at = now
            session.flush()
            log.info("ask %s: the asker asked for another peer; pair %s released", ask.id, pair.id)
            self._advance(session, ask, asker, self._ask_vector(session, ask), now, ranked=ranked)
            if ask.status == AskStatus.OFFERED:
                latest = session.scalar(
                    select(func.max(Offer.expires_at)).where(
                        Offer.ask_id == ask.id, Offer.status == OfferStatus.PENDING
                    )
                )
                messages.post(
                    session,
                    team_id=team_id,
                    key=_key("ask", ask.id, "rematching", pair.id),
                    to=asker.slack_user_id,
                    notice=notices.Rematching(
                        ask_id=ask.id, pair_id=pair.id, answer_by=latest or now
                    ),
                    now=now,
                )
        return RepairOutcome.ASKING

    def _rank_repair(
        self, team_id: str, pair_id: int, user_id: str, now: datetime
    ) -> Sequence[Ranked] | None:
        """The candidates for :meth:`another_peer`'s ask without the pair's helper, ranked
        reading only; None when the request will not go ahead (the write decides) or the ask
        has no stored vector (then ranked in the write, which embeds it)."""
        with read_only(self._sessions) as session:
            pair = session.scalar(select(Pair).where(Pair.id == pair_id, Pair.team_id == team_id))
            if pair is None or pair.status == PairStatus.FAILED:
                return None
            asker = session.get(Person, pair.asker_id)
            helper = session.get(Person, pair.helper_id)
            ask = session.get(Ask, pair.ask_id)
            if asker is None or helper is None or ask is None or asker.slack_user_id != user_id:
                return None
            if ask.status not in (AskStatus.PAIRED, AskStatus.CLOSED):
                return None
            vector = self._stored_vector(session, ask)
            if vector is None:
                return None
            # As the write will leave it: the earlier helper excluded. Detached first, so the
            # change is never flushed from this reading session.
            session.expunge(ask)
            ask.excluded_user_ids = sorted({*(ask.excluded_user_ids or ()), helper.slack_user_id})
            return self._ranker.candidates_for(session, ask, asker, vector, now)


class _Lookup(threading.Thread):
    """``directory.user(team_id, user_id)`` in a thread of its own: :meth:`result` gives its
    answer, or raises what it raised."""

    def __init__(self, directory: Directory, team_id: str, user_id: str) -> None:
        super().__init__(name="asker-lookup", daemon=True)
        self._call = lambda: directory.user(team_id, user_id)
        self._info: UserInfo | None = None
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        """Make the call (in the thread)."""
        try:
            self._info = self._call()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self) -> UserInfo | None:
        """The directory's answer (after :meth:`join`), or its exception raised here."""
        if self._error is not None:
            raise self._error
        return self._info


def _pause_key(person_id: int, at: datetime) -> str:
    """The outbox key of the ghost-rule pause DM sent at ``at``."""
    return _key("helper", person_id, "auto_paused", int(at.timestamp()))


class WaitOutcome(StrEnum):
    """What "Tell me when someone can" did."""

    WAITING = "waiting"
    ALREADY = "already"
    CLOSED = "closed"  # the ask is no longer unmet (paired, withdrawn, deleted)
    NOT_YOURS = "not_yours"
    NOT_FOUND = "not_found"


class RepairOutcome(StrEnum):
    """What "Try another peer" did."""

    ASKING = "asking"  # another peer is being asked (or the asker was told nobody is free)
    ALREADY = "already"
    NOT_YOURS = "not_yours"
    NOT_FOUND = "not_found"
