"""What a notice refers to, read from the tables at send time (``NoticeFacts`` over a session).

Every read is scoped to one workspace; a row that is gone (or belongs to another workspace)
raises :class:`~peerbot.domain.notices.NoticeGone`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

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
    Pair,
    Person,
)

#: Open commitments listed in one message at most.
MAX_LISTED = 10

_Row = TypeVar("_Row", Ask, Offer, Pair, Checkin, Commitment, Person)


class StoreNoticeFacts:
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

    def _ask(self, ask: Ask) -> AskView:
        if is_redacted(ask.challenge):
            raise NoticeGone(f"ask {ask.id} was redacted")
        asker = self._user(ask.asker_id)
        return AskView(
            ask_id=ask.id,
            asker=asker.slack_user_id,
            asker_tz=asker.tz,
            anonymous=ask.anonymous,
            challenge=ask.challenge,
            desired_result=ask.desired_result or "",
            obstacles=ask.obstacles or "",
            urgency=ask.urgency.value,
        )

    def ask(self, ask_id: int) -> AskView:
        """The ask."""
        return self._ask(self._get(Ask, ask_id))

    def offer(self, offer_id: int) -> OfferView:
        """The offer with its ask."""
        offer = self._get(Offer, offer_id)
        helper = self._user(offer.helper_id)
        return OfferView(
            offer_id=offer.id,
            ask=self.ask(offer.ask_id),
            helper=helper.slack_user_id,
            helper_tz=helper.tz,
            explanation=offer.explanation or "",
            expires_at=offer.expires_at,
        )

    def _pair(self, pair: Pair) -> PairView:
        commitments = self._session.scalars(
            select(Commitment)
            .where(Commitment.pair_id == pair.id, Commitment.status == CommitmentStatus.OPEN)
            .order_by(Commitment.created_at, Commitment.id)
            .limit(MAX_LISTED)
        )
        return PairView(
            pair_id=pair.id,
            ask=self.ask(pair.ask_id),
            asker=self._user(pair.asker_id).slack_user_id,
            helper=self._user(pair.helper_id).slack_user_id,
            closed_by=pair.closed_by,
            open_commitments=tuple(
                CommitmentView(commitment_id=c.id, text=c.text, due=c.due_date) for c in commitments
            ),
        )

    def pair(self, pair_id: int) -> PairView:
        """The pair with its ask and open commitments."""
        return self._pair(self._get(Pair, pair_id))

    def checkin(self, checkin_id: int) -> CheckinView:
        """The check-in with its pair."""
        checkin = self._get(Checkin, checkin_id)
        answer = checkin.answer
        return CheckinView(
            checkin_id=checkin.id,
            pair=self.pair(checkin.pair_id),
            answer=None if answer in (None, CheckinAnswer.NONE) else answer.value,
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
            try:
                yield StoreNoticeFacts(session, team_id)
            finally:
                session.rollback()

    return read
