"""The ask states of :mod:`peerbot.domain.asks` as SQL conditions, for queries that select by
them (tested to agree with the domain's predicates row by row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_

from peerbot.domain.asks import LOOKING, UNMET
from peerbot.store.models import Ask, AskStatus

#: :data:`peerbot.domain.asks.LOOKING` as statuses.
ASKS_LOOKING = tuple(AskStatus(s) for s in LOOKING)


def ask_still_waiting(now: datetime) -> ColumnElement[bool]:
    """:func:`peerbot.domain.asks.still_waiting` in SQL."""
    return and_(Ask.status == AskStatus(UNMET), Ask.waiting_until > now)


def ask_waiting_for_helper(now: datetime) -> ColumnElement[bool]:
    """:func:`peerbot.domain.asks.waiting_for_helper` in SQL."""
    return or_(Ask.status.in_(ASKS_LOOKING), ask_still_waiting(now))
