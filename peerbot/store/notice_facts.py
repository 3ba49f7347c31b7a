"""What a notice refers to, read from the tables at send time (``NoticeFacts`` over a session).

Every read is scoped to one workspace; a row that is gone (or belongs to another workspace)
raises :class:`~peerbot.domain.notices.NoticeGone`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from peerbot.domain.asks import LOOKING
from peerbot.domain.followup import why_for_asker
from peerbot.domain.notices import (
    AskView,
    CheckinView,
    CommitmentView,
    NoticeGone,
    OfferView,
    PairView,
)
from peerbot.domain.ports import FactsReader, NoticeFacts
from peerbot.domain.privacy import is_forgotten, is_redacted
from peerbot.store.circle_facts import StoreCircleFacts
from peerbot.store.db import NO_WRITE_LOCK
from peerbot.store.export import person_export
from peerbot.store.models import (
    Ask,
    Checkin,
    CheckinAnswer,
    Commitment,
    CommitmentStatus,
    Feedback,
    FeedbackRole,
    Offer,
    OfferStatus,
    Pair,
    PairStatus,
    Person,
)

#: Open commitments listed in one message at most.
MAX_LISTED = 10

_Row = TypeVar("_Row", Ask, Offer, Pair, Checkin, Commitment, Person)


_ASKER, _HELPER = aliased(Person, name="asker"), aliased(Person, name="helper")
#: A pair with its ask and both people, in one query (built once: statements are cached).
_PAIR = (
    select(Pair, Ask, _ASKER, _HELPER)
    .join(Ask, Ask.id == Pair.ask_id)
    .join(_ASKER, _ASKER.id == Pair.asker_id)
    .join(_HELPER, _HELPER.id == Pair.helper_id)
    .where(Pair.id == bindparam("id"), Pair.team_id == bindparam("team"))
)
#: A check-in with its pair, ask and both people, in one query.
_CHECKIN = (
    select(Checkin, Pair, Ask, _ASKER, _HELPER)
    .join(Pair, Pair.id == Checkin.pair_id)
    .join(Ask, Ask.id == Pair.ask_id)
    .join(_ASKER, _ASKER.id == Pair.asker_id)
    .join(_HELPER, _HELPER.id == Pair.helper_id)
    .where(Checkin.id == bindparam("id"), Checkin.team_id == bindparam("team"))
)


#: An ask with its asker, in one query (each row in the workspace).
_ASK = (
    select(Ask, _ASKER)
    .join(_ASKER, _ASKER.id == Ask.asker_id)
    .where(
        Ask.id == bindparam("id"),
        Ask.team_id == bindparam("team"),
        _ASKER.team_id == bindparam("team"),
    )
)
#: An offer with its helper, its ask and the ask's asker, in one query.
_OFFER = (
    select(Offer, _HELPER, Ask, _ASKER)
    .join(_HELPER, _HELPER.id == Offer.helper_id)
    .join(Ask, Ask.id == Offer.ask_id)
    .join(_ASKER, _ASKER.id == Ask.asker_id)
    .where(
        Offer.id == bindparam("id"),
        Offer.team_id == bindparam("team"),
        _HELPER.team_id == bindparam("team"),
        Ask.team_id == bindparam("team"),
        _ASKER.team_id == bindparam("team"),
    )
)


def _ask_view(ask: Ask, asker: Person) -> AskView:
    """The ask as messages show it; gone once redacted or once its asker was forgotten."""
    if is_redacted(ask.challenge):
        raise NoticeGone(f"ask {ask.id} was redacted")
    if is_forgotten(asker.slack_user_id):
        raise NoticeGone(f"the asker of ask {ask.id} was forgotten")
    return AskView(
        ask_id=ask.id,
        asker=asker.slack_user_id,
        asker_tz=asker.tz,
        anonymous=ask.anonymous,
        challenge=ask.challenge,
        desired_result=ask.desired_result or "",
        obstacles=ask.obstacles or "",
        urgency=ask.urgency.value,
        waiting=ask.status in LOOKING,
    )


class StoreNoticeFacts(StoreCircleFacts):
    """:class:`~peerbot.domain.ports.NoticeFacts` over a session, for one workspace."""

    def __init__(self, session: Session, team_id: str) -> None:
        self._session = session
        self._team = team_id

    def _get(self, model: type[_Row], row_id: int) -> _Row:
        row = self._session.get(model, row_id)
        if row is None or row.team_id != self._team:
            raise NoticeGone(f"{model.__tablename__} {row_id}")
        return row

    def _user(self, person_id: int) -> Person:
        person = self._get(Person, person_id)
        if is_forgotten(person.slack_user_id):
            raise NoticeGone(f"person {person_id} was forgotten")
        return person

    def ask(self, ask_id: int) -> AskView:
        """The ask (one query: the ask and its asker)."""
        row = self._session.execute(_ASK, {"id": ask_id, "team": self._team}).one_or_none()
        if row is None:
            raise NoticeGone(f"asks {ask_id} (or its asker)")
        ask, asker = row
        if is_forgotten(asker.slack_user_id):
            raise NoticeGone(f"person {asker.id} was forgotten")
        return _ask_view(ask, asker)

    def offer(self, offer_id: int) -> OfferView:
        """The offer with its ask (one query: the offer, its helper, its ask and asker)."""
        row = self._session.execute(_OFFER, {"id": offer_id, "team": self._team}).one_or_none()
        if row is None:
            raise NoticeGone(f"offers {offer_id} (or its people or ask)")
        offer, helper, ask, asker = row
        for person in (helper, asker):
            if is_forgotten(person.slack_user_id):
                raise NoticeGone(f"person {person.id} was forgotten")
        return OfferView(
            offer_id=offer.id,
            ask=_ask_view(ask, asker),
            helper=helper.slack_user_id,
            helper_tz=helper.tz,
            explanation=offer.explanation or "",
            expires_at=offer.expires_at,
            pending=offer.status == OfferStatus.PENDING,
        )

    def _pair_view(self, pair: Pair, ask: Ask, asker: Person, helper: Person) -> PairView:
        if is_forgotten(helper.slack_user_id):
            raise NoticeGone(f"the helper of pair {pair.id} was forgotten")
        commitments = self._session.scalars(
            select(Commitment)
            .where(Commitment.pair_id == pair.id, Commitment.status == CommitmentStatus.OPEN)
            .order_by(Commitment.created_at, Commitment.id)
            .limit(MAX_LISTED)
        )
        return PairView(
            pair_id=pair.id,
            ask=_ask_view(ask, asker),
            asker=asker.slack_user_id,
            helper=helper.slack_user_id,
            closed_by=pair.closed_by,
            paused=pair.status == PairStatus.PAUSED,
            open_commitments=tuple(
                CommitmentView(commitment_id=c.id, text=c.text, due=c.due_date) for c in commitments
            ),
        )

    def pair(self, pair_id: int) -> PairView:
        """The pair with its ask and open commitments (two queries)."""
        params = {"id": pair_id, "team": self._team}
        row = self._session.execute(_PAIR, params).one_or_none()
        if row is None:
            raise NoticeGone(f"pairs {pair_id}")
        pair, ask, asker, helper = row
        view = self._pair_view(pair, ask, asker, helper)
        explanation = self._session.scalar(
            select(Offer.explanation).where(
                Offer.ask_id == pair.ask_id,
                Offer.helper_id == pair.helper_id,
                Offer.status == OfferStatus.ACCEPTED,
            )
        )
        why = why_for_asker(explanation or "")
        return dataclasses.replace(view, why=why) if why else view

    def checkin(self, checkin_id: int) -> CheckinView:
        """The check-in with its pair (two queries: a check-in is the most frequent notice)."""
        params = {"id": checkin_id, "team": self._team}
        row = self._session.execute(_CHECKIN, params).one_or_none()
        if row is None:
            raise NoticeGone(f"checkins {checkin_id}")
        checkin, pair, ask, asker, helper = row
        answer = checkin.answer
        return CheckinView(
            checkin_id=checkin.id,
            pair=self._pair_view(pair, ask, asker, helper),
            answer=None if answer in (None, CheckinAnswer.NONE) else answer.value,
            checkins_stopped=pair.status == PairStatus.ACTIVE and pair.next_checkin_at is None,
        )

    def commitment(self, commitment_id: int) -> tuple[CommitmentView, PairView]:
        """The commitment and its pair."""
        c = self._get(Commitment, commitment_id)
        return CommitmentView(commitment_id=c.id, text=c.text, due=c.due_date), self.pair(c.pair_id)

    def thanks(self, pair_id: int) -> str:
        """The asker's thank-you to the helper ("" when none)."""
        text = self._session.scalar(
            select(Feedback.thanks).where(
                Feedback.pair_id == pair_id,
                Feedback.team_id == self._team,
                Feedback.role == FeedbackRole.ASKER,
            )
        )
        return text or ""

    def export(self, person_id: int) -> str:
        """Every row about the person, as indented JSON text."""
        person = self._user(person_id)
        data = person_export(self._session, self._team, person.slack_user_id, datetime.now(UTC))
        return json.dumps(data, indent=1, ensure_ascii=False)


def facts_reader(sessions: sessionmaker[Session]) -> FactsReader:
    """A factory of short read-only sessions, each giving a workspace's notice facts."""

    @contextmanager
    def read(team_id: str) -> Iterator[NoticeFacts]:
        with sessions() as session:
            # A read: on SQLite, a deferred BEGIN that never waits for the write lock; on
            # PostgreSQL no transaction at all (each statement reads what is committed, as it
            # would in a READ COMMITTED transaction), so no BEGIN and ROLLBACK round trips.
            options: dict[str, object] = {NO_WRITE_LOCK: True}
            if session.get_bind().dialect.name == "postgresql":
                options["isolation_level"] = "AUTOCOMMIT"
            session.connection(execution_options=options)
            try:
                yield StoreNoticeFacts(session, team_id)
            finally:
                session.rollback()

    return read
