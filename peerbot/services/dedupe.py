"""Remembering which Slack deliveries were handled, so Slack's retries do nothing twice."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.due_rules import KEEP_FOR
from peerbot.domain.ports import Clock
from peerbot.store.db import unit_of_work
from peerbot.store.models import ProcessedSlackId, SlackIdKind


class Deduper:
    """Claims a Slack id the first time it is seen; later claims of the same id fail."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def first_time(self, team_id: str, kind: str, slack_id: str) -> bool:
        """True the first time ``(team_id, kind, slack_id)`` is claimed, False afterwards."""
        try:
            with unit_of_work(self._sessions) as session:
                session.add(
                    ProcessedSlackId(
                        team_id=team_id,
                        kind=SlackIdKind(kind),
                        slack_id=slack_id[:255],
                        processed_at=self._clock.now(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def forget_old(self) -> int:
        """Delete ids older than :data:`KEEP_FOR`. Returns how many."""
        cutoff = self._clock.now() - KEEP_FOR
        with unit_of_work(self._sessions) as session:
            result = session.execute(
                delete(ProcessedSlackId).where(ProcessedSlackId.processed_at < cutoff)
            )
            return int(getattr(result, "rowcount", 0) or 0)
