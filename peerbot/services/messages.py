"""How services send: a notice posted to people, or a notice replacing a message sent before.

Both record the notice in the outbox inside the caller's unit of work; it is delivered once the
transaction commits (the commit wakes the sender).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from peerbot.domain.notices import Notice, Replacing, ToGroup, ToPerson
from peerbot.store import outbox


def post(
    session: Session,
    *,
    team_id: str,
    key: str,
    notice: Notice,
    to: str | Sequence[str],
    now: datetime,
) -> None:
    """Post ``notice`` to one person's DM (``to`` a Slack user id) or a group DM (a list)."""
    audience = ToPerson(to) if isinstance(to, str) else ToGroup(tuple(to))
    outbox.enqueue(session, team_id=team_id, key=key, notice=notice, to=audience, now=now)


def update(
    session: Session,
    *,
    team_id: str,
    key: str,
    replaces: str,
    notice: Notice,
    now: datetime,
    or_else_to: str | None = None,
) -> None:
    """Replace the message sent under outbox key ``replaces`` with ``notice``; when that message
    could never be delivered, post ``notice`` to ``or_else_to`` (a Slack user id) if given."""
    to = Replacing(replaces, fallback=or_else_to)
    outbox.enqueue(session, team_id=team_id, key=key, notice=notice, to=to, now=now)


def key_free(session: Session, key: str) -> bool:
    """True when nothing has been sent under ``key`` yet."""
    return outbox.key_free(session, key)
