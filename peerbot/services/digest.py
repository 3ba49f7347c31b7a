"""The weekly digest's bookkeeping: one digest per admin per week, claimed before it is sent
(so two workers never both send it) and released if sending failed (so the next tick retries)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from peerbot.store.db import read_only, unit_of_work
from peerbot.store.models import AdminDigest, Workspace


class DigestLedger:
    """Which admins got which week's digest."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def teams(self, now: datetime) -> list[str]:
        """Workspaces where sending is not paused (the app is installed and its token works)."""
        with read_only(self._sessions) as session:
            rows = session.execute(select(Workspace.team_id, Workspace.sending_paused_until)).all()
        return [t for t, paused in rows if paused is None or paused <= now]

    def claim(self, team_id: str, user_id: str, week_start: date, now: datetime) -> bool:
        """True when this week's digest for ``user_id`` is ours to send (not sent or claimed)."""
        try:
            with unit_of_work(self._sessions) as session:
                session.add(
                    AdminDigest(
                        team_id=team_id, user_id=user_id, week_start=week_start, sent_at=now
                    )
                )
        except IntegrityError:
            return False
        return True

    def release(self, team_id: str, user_id: str, week_start: date) -> None:
        """Sending failed: the next tick may try again."""
        with unit_of_work(self._sessions) as session:
            session.execute(
                delete(AdminDigest).where(
                    AdminDigest.team_id == team_id,
                    AdminDigest.user_id == user_id,
                    AdminDigest.week_start == week_start,
                )
            )
