"""What a person can undo or see for themselves: withdraw a request, resume check-ins they
stopped or snoozed, end their own helper pause, and their history for App Home.

Each use-case records its messages in the outbox in the same transaction as the change, like
every other service; none of them is irreversible by accident (a withdrawn request can be asked
again, a stopped check-in resumed, a pause ended).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain import notices
from peerbot.domain.asks import AskInput, still_waiting, waiting_for_helper
from peerbot.domain.journey_notices import AskEdited, AskWithdrawn, HelperPaused, OfferEdited
from peerbot.domain.ports import Clock, Embedder, Vector
from peerbot.domain.schedule import zone
from peerbot.services import messages
from peerbot.services.pairs import resume_pair
from peerbot.services.people import find_person
from peerbot.services.vectors import upsert_vector
from peerbot.store import outbox as queue
from peerbot.store.ask_filters import ASKS_LOOKING, ask_waiting_for_helper
from peerbot.store.db import unit_of_work
from peerbot.store.models import (
    Ask,
    AskStatus,
    EmbeddingOwner,
    HelperProfile,
    Offer,
    OfferStatus,
    OutboxMessage,
    OutboxStatus,
    Pair,
    PairStatus,
    Person,
)

#: Asks whose texts the asker may still edit: those peerbot is still finding a helper for (not
#: one still waiting after it went unmet: :func:`~peerbot.domain.asks.still_waiting`).
EDITABLE = ASKS_LOOKING
#: Closed pairs and ended asks App Home lists at most.
RECENT_CLOSED = 5


class Change(StrEnum):
    """The outcome of a person's own change, for the listener's reply."""

    OK = "ok"
    ALREADY = "already"  # a second click: nothing new
    NOT_YOURS = "not_yours"
    NOT_OPEN = "not_open"  # the request was answered or ended, or the pair closed
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class OpenRequest:
    """One of the person's requests still waiting for a helper."""

    ask_id: int
    challenge: str
    status: str
    #: Nobody could take it and it waits for a newly available helper until then ("Tell me
    #: when someone can"): it may be withdrawn, not edited. None while it is being looked for.
    waiting_until: datetime | None = None


@dataclass(frozen=True)
class AskTexts:
    """An ask's own words, as the edit dialog shows them."""

    ask_id: int
    challenge: str
    desired_result: str
    obstacles: str


@dataclass(frozen=True)
class LivePair:
    """A pair the person is in: who with, about what, and how its check-ins stand."""

    pair_id: int
    other: str
    challenge: str
    helping: bool
    status: str  # active or paused
    #: The asker stopped check-ins (None next check-in on an active pair).
    checkins_stopped: bool
    snoozed_until: datetime | None


@dataclass(frozen=True)
class ClosedPair:
    """A pairing that ended."""

    other: str
    challenge: str
    helping: bool
    closed_at: datetime | None


@dataclass(frozen=True)
class PendingOffer:
    """An offer waiting for this helper's answer."""

    offer_id: int
    challenge: str
    expires_at: datetime | None


@dataclass(frozen=True)
class History:
    """Everything App Home shows beside the profile: where each thing stands."""

    open_requests: list[OpenRequest] = field(default_factory=list)
    pairs: list[LivePair] = field(default_factory=list)
    closed: list[ClosedPair] = field(default_factory=list)
    offers: list[PendingOffer] = field(default_factory=list)
    #: Slack would not let peerbot message this person when it last tried (DMs closed, say).
    unreachable: bool = False
    tz: str | None = None


def _key(*parts: object) -> str:
    return ":".join(str(p) for p in parts)


class JourneyService:
    """The person's own changes and their history."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        embedder: Embedder | None = None,
        topic_of: Callable[[Vector], str] | None = None,
    ) -> None:
        """``embedder`` re-embeds an edited ask (no edit without it); ``topic_of`` labels its
        new text (``AskService.topic_of``), else the topic stays."""
        self._sessions = sessions
        self._clock = clock
        self._embedder = embedder
        self._topic_of = topic_of

    # ------------------------------------------------------------------ withdraw

    def withdraw(self, team_id: str, ask_id: int, user_id: str) -> Change:
        """The asker withdraws a request still waiting for a helper: every pending offer is
        withdrawn (the helper's message says so; one not sent yet is dropped) and the asker's
        receipt says it was withdrawn. A later Accept is refused politely."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            stmt = select(Ask).where(Ask.id == ask_id, Ask.team_id == team_id)
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update()
            ask = session.scalar(stmt)
            if ask is None:
                return Change.NOT_FOUND
            asker = session.get(Person, ask.asker_id)
            if asker is None or asker.slack_user_id != user_id:
                return Change.NOT_YOURS
            if ask.status == AskStatus.CANCELLED:
                return Change.ALREADY
            if not waiting_for_helper(ask.status, ask.waiting_until, now):
                return Change.NOT_OPEN
            # "Tell me when someone can": unmet, but still waiting for a newly free helper (no
            # peer has it then), or offered to one during that wait (the DM saying "we will
            # keep your request" is the one to change in both cases).
            waiting = still_waiting(ask.status, ask.waiting_until, now)
            chose_to_wait = ask.waiting_until is not None
            ask.status = AskStatus.CANCELLED
            ask.closed_at = now
            ask.updated_at = now
            ask.waiting_until = None
            for offer in session.scalars(
                select(Offer).where(Offer.ask_id == ask.id, Offer.status == OfferStatus.PENDING)
            ):
                offer.status = OfferStatus.WITHDRAWN
                offer.responded_at = now
                withdraw_offer_message(session, offer, now)
            wait_key = (
                queue.last_key_with_prefix(session, _key("ask", ask.id, "waiting", ""))
                if chose_to_wait
                else None
            )
            receipt = wait_key or _key("ask", ask.id, "received")
            if queue.by_key(session, receipt) is not None:
                messages.update(
                    session,
                    team_id=team_id,
                    key=_key("ask", ask.id, "withdrawn"),
                    replaces=receipt,
                    notice=AskWithdrawn(ask_id=ask.id, while_waiting=waiting),
                    now=now,
                )
        return Change.OK

    # ------------------------------------------------------------------ edit

    def _editable(self, session: Session, team_id: str, ask_id: int, user_id: str) -> Change:
        ask = session.scalar(select(Ask).where(Ask.id == ask_id, Ask.team_id == team_id))
        if ask is None:
            return Change.NOT_FOUND
        asker = session.get(Person, ask.asker_id)
        if asker is None or asker.slack_user_id != user_id:
            return Change.NOT_YOURS
        if ask.status not in EDITABLE:
            return Change.NOT_OPEN
        return Change.OK

    def texts_to_edit(self, team_id: str, ask_id: int, user_id: str) -> AskTexts | Change:
        """The ask's texts for the edit dialog, or why it cannot be edited (not the asker's,
        no longer waiting for a peer, gone)."""
        with unit_of_work(self._sessions) as session:
            why = self._editable(session, team_id, ask_id, user_id)
            if why != Change.OK:
                return why
            ask = session.get_one(Ask, ask_id)
            return AskTexts(ask.id, ask.challenge, ask.desired_result or "", ask.obstacles or "")

    def edit(self, team_id: str, ask_id: int, user_id: str, inp: AskInput) -> Change:
        """The asker changes the texts of a request still waiting for a peer (``inp`` validated
        by :func:`~peerbot.domain.asks.validate_ask`; only its texts are used). The ask is
        re-embedded (outside the write transaction), and the messages already showing it are
        updated in place: each pending offer's DM (with a note that the asker edited it) and
        the asker's receipt. ALREADY when nothing changed; NOT_OPEN once a peer accepted or
        the request ended."""
        if self._embedder is None:
            raise RuntimeError("JourneyService.edit needs the embedder")
        with unit_of_work(self._sessions) as session:
            why = self._editable(session, team_id, ask_id, user_id)
        if why != Change.OK:
            return why
        text = inp.text_for_matching()
        vector = self._embedder.embed([text])[0]  # the model runs before the write lock
        topic = self._topic_of(vector) if self._topic_of is not None else None
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            stmt = select(Ask).where(Ask.id == ask_id, Ask.team_id == team_id)
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update()
            ask = session.scalar(stmt)
            if ask is None:
                return Change.NOT_FOUND
            asker = session.get(Person, ask.asker_id)
            if asker is None or asker.slack_user_id != user_id:
                return Change.NOT_YOURS
            if ask.status not in EDITABLE:  # a peer accepted (or it ended) meanwhile
                return Change.NOT_OPEN
            new = (inp.challenge, inp.desired_result or None, inp.obstacles or None)
            if (ask.challenge, ask.desired_result, ask.obstacles) == new:
                return Change.ALREADY
            ask.challenge, ask.desired_result, ask.obstacles = new
            if topic:
                ask.topic = topic
            ask.updated_at = now
            upsert_vector(
                session,
                team_id=team_id,
                kind=EmbeddingOwner.ASK,
                owner_id=ask.id,
                text=text,
                embedder=self._embedder,
                now=now,
                vector=vector,
            )
            for offer in session.scalars(
                select(Offer).where(Offer.ask_id == ask.id, Offer.status == OfferStatus.PENDING)
            ):
                _replace_if_shown(
                    session,
                    team_id,
                    _key("offer", offer.id, "request"),
                    _key("offer", offer.id, "edited"),
                    OfferEdited(offer_id=offer.id),
                    now,
                )
            receipt = queue.by_key(session, _key("ask", ask.id, "received"))
            matched_since = session.scalar(select(func.count()).where(Pair.ask_id == ask.id))
            # The receipt still shows the request as waiting only until a first pairing (after
            # "another peer" it says matched, and a new message says who is asked now).
            if receipt is not None and not matched_since:
                sent = queue.notice_of(receipt)
                if isinstance(sent, notices.AskReceived):
                    _replace_if_shown(
                        session,
                        team_id,
                        receipt.idempotency_key,
                        _key("ask", ask.id, "edited"),
                        AskEdited(
                            ask_id=ask.id, answer_by=sent.answer_by, max_offers=sent.max_offers
                        ),
                        now,
                    )
        return Change.OK

    def offer_withdrawn(self, team_id: str, offer_id: int) -> bool:
        """True when this offer's request was withdrawn by the asker (for a polite refusal)."""
        with unit_of_work(self._sessions) as session:
            status = session.scalar(
                select(Ask.status)
                .join(Offer, Offer.ask_id == Ask.id)
                .where(Offer.id == offer_id, Offer.team_id == team_id)
            )
        return status == AskStatus.CANCELLED

    # ------------------------------------------------------------------ check-ins

    def resume_checkins(self, team_id: str, pair_id: int, user_id: str) -> Change:
        """Undo "Stop check-ins", a snooze or a pause: check-ins start again at the pair's
        cadence (the asker only). ALREADY when they were running."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            pair = session.scalar(select(Pair).where(Pair.id == pair_id, Pair.team_id == team_id))
            if pair is None:
                return Change.NOT_FOUND
            asker = session.get(Person, pair.asker_id)
            if asker is None or asker.slack_user_id != user_id:
                return Change.NOT_YOURS
            if pair.status not in (PairStatus.ACTIVE, PairStatus.PAUSED):
                return Change.NOT_OPEN
            snoozed = pair.snoozed_until is not None and pair.snoozed_until > now
            stopped = pair.next_checkin_at is None
            if pair.status == PairStatus.ACTIVE and not snoozed and not stopped:
                return Change.ALREADY
            helper = session.get(Person, pair.helper_id)
            assert helper is not None  # a pair's people are kept (foreign keys)
            resume_pair(session, pair, asker, helper, now)
        return Change.OK

    # ------------------------------------------------------------------ helper pause

    def pause_told(self, team_id: str, user_id: str) -> bool:
        """Tell a helper who just set a pause, in their DM, when it ends (once per date)."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            person = find_person(session, team_id, user_id)
            profile = session.get(HelperProfile, person.id) if person else None
            if person is None or profile is None or profile.paused_until is None:
                return False
            if profile.paused_until <= now:
                return False
            until = profile.paused_until.astimezone(zone(person.tz)).date()
            key = _key("helper", person.id, "paused", until.isoformat())
            if not messages.key_free(session, key):
                return False
            messages.post(
                session,
                team_id=team_id,
                key=key,
                notice=HelperPaused(person_id=person.id, until=until),
                to=user_id,
                now=now,
            )
        return True

    # ------------------------------------------------------------------ history

    def history(self, team_id: str, user_id: str) -> History:
        """Requests still waiting for a helper (also one waiting after it went unmet), live
        pairs with their status, the last closed ones, and (helpers) the offers waiting for
        their answer. Only the person's own."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            me = find_person(session, team_id, user_id)
            if me is None:
                return History()
            asks = session.execute(
                select(Ask.id, Ask.challenge, Ask.status, Ask.waiting_until)
                .where(Ask.asker_id == me.id, ask_waiting_for_helper(now))
                .order_by(Ask.created_at.desc(), Ask.id.desc())
                .limit(20)
            ).all()
            mine = (Pair.asker_id == me.id) | (Pair.helper_id == me.id)
            live = session.execute(
                select(Pair, Ask.challenge)
                .join(Ask, Ask.id == Pair.ask_id)
                .where(mine, Pair.status.in_([PairStatus.ACTIVE, PairStatus.PAUSED]))
                .order_by(Pair.created_at.desc(), Pair.id.desc())
                .limit(20)
            ).all()
            closed = session.execute(
                select(Pair, Ask.challenge)
                .join(Ask, Ask.id == Pair.ask_id)
                .where(mine, Pair.status == PairStatus.CLOSED)
                .order_by(Pair.closed_at.desc(), Pair.id.desc())
                .limit(RECENT_CLOSED)
            ).all()
            offers = session.execute(
                select(Offer.id, Ask.challenge, Offer.expires_at)
                .join(Ask, Ask.id == Offer.ask_id)
                .where(Offer.helper_id == me.id, Offer.status == OfferStatus.PENDING)
                .order_by(Offer.created_at.desc(), Offer.id.desc())
                .limit(10)
            ).all()

            def other(pair: Pair) -> str:
                person = session.get(
                    Person, pair.asker_id if pair.helper_id == me.id else pair.helper_id
                )
                return person.slack_user_id if person else ""

            return History(
                open_requests=[
                    OpenRequest(a, c, s.value, w if still_waiting(s, w, now) else None)
                    for a, c, s, w in asks
                ],
                pairs=[
                    LivePair(
                        pair_id=p.id,
                        other=other(p),
                        challenge=c,
                        helping=p.helper_id == me.id,
                        status=p.status.value,
                        checkins_stopped=p.status == PairStatus.ACTIVE
                        and p.next_checkin_at is None,
                        snoozed_until=p.snoozed_until
                        if p.snoozed_until and p.snoozed_until > now
                        else None,
                    )
                    for p, c in live
                ],
                closed=[
                    ClosedPair(other(p), c, p.helper_id == me.id, p.closed_at) for p, c in closed
                ],
                offers=[PendingOffer(o, c, e) for o, c, e in offers],
                unreachable=not me.can_be_messaged,
                tz=me.tz,
            )


def _replace_if_shown(
    session: Session,
    team_id: str,
    shown: str,
    key_prefix: str,
    notice: notices.Notice,
    now: datetime,
) -> None:
    """Replace the message sent under ``shown`` with ``notice`` (each edit its own outbox key,
    ``key_prefix:n``). Nothing when it was never sent and never will be (it renders the
    current text when it goes, so no update is needed while it waits)."""
    message = queue.by_key(session, shown)
    if message is None or message.status == OutboxStatus.DEAD:
        return
    if message.status == OutboxStatus.PENDING and message.unconfirmed_since is None:
        return  # not sent yet: it will show the new text
    n = session.scalar(
        select(func.count()).where(OutboxMessage.idempotency_key.like(f"{key_prefix}:%"))
    )
    messages.update(
        session,
        team_id=team_id,
        key=f"{key_prefix}:{(n or 0) + 1}",
        replaces=shown,
        notice=notice,
        now=now,
    )


def withdraw_offer_message(session: Session, offer: Offer, now: datetime) -> None:
    """The helper's offer DM says the request was withdrawn; one never sent is dropped."""
    request = queue.by_key(session, _key("offer", offer.id, "request"))
    if request is None:
        return
    if request.status in (OutboxStatus.PENDING, OutboxStatus.SENDING) and (
        request.unconfirmed_since is None
    ):
        session.delete(request)
        return
    messages.update(
        session,
        team_id=offer.team_id,
        key=_key("offer", offer.id, "closed"),
        replaces=request.idempotency_key,
        notice=notices.OfferClosed(offer_id=offer.id, state=notices.OfferState.WITHDRAWN),
        now=now,
    )
