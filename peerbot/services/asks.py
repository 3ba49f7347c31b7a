"""Ask → offer → accept or pass → intro: the core journey, consent first.

Every public method is one unit of work: state changes and the messages they cause (through the
outbox) commit together or not at all. Methods are idempotent where Slack may deliver twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain import notices
from peerbot.domain.asks import AskInput, text_for_matching
from peerbot.domain.ports import (
    Clock,
    DeliveryOutcome,
    Directory,
    DirectoryError,
    Embedder,
    Failure,
    SentRef,
    Vector,
)
from peerbot.domain.schedule import add_working_hours, zone
from peerbot.domain.topics import TOPICS
from peerbot.services import messages
from peerbot.services.matching import Matcher
from peerbot.services.pairs import schedule_new_pair
from peerbot.services.people import mark_unreachable, upsert_person
from peerbot.services.vectors import upsert_vector
from peerbot.store.db import unit_of_work
from peerbot.store.models import (
    Ask,
    AskStatus,
    Cadence,
    Checkin,
    Embedding,
    EmbeddingOwner,
    Offer,
    OfferStatus,
    Pair,
    PairStatus,
    Person,
    Urgency,
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


def _key(*parts: object) -> str:
    return ":".join(str(p) for p in parts)


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

    # ------------------------------------------------------------------ submit

    def _topic(self, vector: Vector) -> str:
        if self._topic_vectors is None:
            self._topic_vectors = self._embedder.embed([label for _, label in TOPICS])
        return TOPICS[int((self._topic_vectors @ vector).argmax())][0]

    def submit(self, team_id: str, user_id: str, inp: AskInput, client_key: str) -> SubmitResult:
        """Record the ask, tell the asker what happens next, and offer it to the best peer.

        ``client_key`` identifies the submission (Slack's view id): a redelivered submission
        returns the existing ask and sends nothing new.
        """
        try:
            info = self._directory.user(team_id, user_id)
        except DirectoryError as err:  # Slack's profile is a nicety here, not a need
            log.warning("ask by %s: profile not read (%s); going on without it", user_id, err)
            info = None
        vector = self._embedder.embed([inp.text_for_matching()])[0]
        now = self._clock.now()
        try:
            with unit_of_work(self._sessions) as session:
                existing = session.scalar(
                    select(Ask.id).where(Ask.team_id == team_id, Ask.client_key == client_key)
                )
                if existing is not None:
                    return SubmitResult(existing, duplicate=True)
                asker = upsert_person(session, team_id, user_id, now, info)
                ask = Ask(
                    team_id=team_id,
                    asker_id=asker.id,
                    challenge=inp.challenge,
                    desired_result=inp.desired_result or None,
                    obstacles=inp.obstacles or None,
                    urgency=Urgency(inp.urgency),
                    anonymous=inp.anonymous,
                    status=AskStatus.MATCHING,
                    topic=self._topic(vector),
                    client_key=client_key,
                    created_at=now,
                    updated_at=now,
                )
                session.add(ask)
                session.flush()
                upsert_vector(
                    session,
                    team_id=team_id,
                    kind=EmbeddingOwner.ASK,
                    owner_id=ask.id,
                    text=inp.text_for_matching(),
                    embedder=self._embedder,
                    now=now,
                    vector=vector,
                )
                self._advance(session, ask, asker, vector, now, first=True)
                result = SubmitResult(ask.id, duplicate=False)
        except IntegrityError:
            # Two deliveries of the same submission raced; the other one recorded it.
            with unit_of_work(self._sessions) as session:
                ask_id = session.scalar(
                    select(Ask.id).where(Ask.team_id == team_id, Ask.client_key == client_key)
                )
            if ask_id is None:
                raise
            return SubmitResult(ask_id, duplicate=True)
        return result

    # ------------------------------------------------------------------ offers

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

    @staticmethod
    def _skipped(session: Session, ask: Ask) -> int:
        return (
            session.scalar(
                select(func.count()).where(
                    Offer.ask_id == ask.id, Offer.status == OfferStatus.SKIPPED
                )
            )
            or 0
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
    ) -> None:
        """Offer ``ask`` to the next best candidates, or tell the asker nobody is free."""
        used = (
            session.scalar(
                select(func.count()).where(Offer.ask_id == ask.id, Offer.status.in_(COUNTED))
            )
            or 0
        )
        pending = (
            session.scalar(
                select(func.count()).where(
                    Offer.ask_id == ask.id, Offer.status == OfferStatus.PENDING
                )
            )
            or 0
        )
        slots = min(self._policy.parallel - pending, self._policy.max_offers - used)
        if self._skipped(session, ask) >= self._policy.max_skips:
            slots = 0  # helpers who could not be messaged do not count as tries, but are bounded
        made: list[Offer] = []
        if slots > 0:
            ranked = self._ranker.candidates_for(session, ask, asker, vector, now)
            position = session.scalar(select(func.count()).where(Offer.ask_id == ask.id)) or 0
            for r in ranked[:slots]:
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
                    expires_at=add_working_hours(
                        now, self._policy.offer_timeout_working_hours, helper_tz
                    ),
                    created_at=now,
                )
                session.add(offer)
                session.flush()
                made.append(offer)
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
                        ask_id=ask.id, answer_by=latest, max_offers=self._policy.max_offers
                    ),
                    now=now,
                )
            return
        self._unmet(session, ask, asker, now, first=first)

    def _unmet(
        self, session: Session, ask: Ask, asker: Person, now: datetime, *, first: bool
    ) -> None:
        ask.status = AskStatus.UNMET
        ask.updated_at = now
        ask.closed_at = now
        tried = (
            session.scalar(
                select(func.count()).where(Offer.ask_id == ask.id, Offer.status.in_(COUNTED))
            )
            or 0
        )
        log.info("ask %s unmet after %d offer(s); topic %s", ask.id, tried, ask.topic)
        messages.post(
            session,
            team_id=ask.team_id,
            key=_key("ask", ask.id, "unmet"),
            to=asker.slack_user_id,
            notice=notices.AskUnmet(ask_id=ask.id, tried=tried),
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
            select(Pair).where(Pair.ask_id == ask.id, Pair.status != PairStatus.FAILED)
        )
        if existing is not None:
            return AcceptOutcome.TAKEN
        if offer.status != OfferStatus.PENDING:
            return AcceptOutcome.CLOSED
        asker = session.get(Person, ask.asker_id)
        assert asker is not None
        offer.status = OfferStatus.ACCEPTED
        offer.responded_at = now
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
            self._close_offer_message(session, offer, notices.OfferState.PASSED, now)
            self._move_on(session, offer, now)
        return True

    def _move_on(self, session: Session, offer: Offer, now: datetime) -> None:
        ask = session.get(Ask, offer.ask_id)
        assert ask is not None
        if ask.status != AskStatus.OFFERED:
            return
        asker = session.get(Person, ask.asker_id)
        assert asker is not None
        self._advance(session, ask, asker, self._ask_vector(session, ask), now)

    def expire_due(self) -> int:
        """Expire offers nobody answered in time and move their asks on. Returns how many."""
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
                self._move_on(session, offer, now)
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
        self._move_on(session, offer, now)

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
        self._advance(session, ask, asker, self._ask_vector(session, ask), now)

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
