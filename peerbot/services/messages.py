"""Shorthands for the two kinds of message services send: a templated post to people, and a
templated update of a message sent before. Both go through the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from peerbot.services import outbox


def post(
    session: Session,
    *,
    team_id: str,
    key: str,
    template: str,
    data: dict[str, Any],
    now: datetime,
    to: str | Sequence[str],
    **meta: Any,
) -> None:
    """Post ``template`` to one person's DM (``to`` a user id) or a group DM (a list of ids).

    ``meta`` holds outbox hooks such as ``on_fail`` or ``on_sent``.
    """
    target: dict[str, Any] = {"user": to} if isinstance(to, str) else {"users": list(to)}
    outbox.enqueue(
        session,
        team_id=team_id,
        key=key,
        method="chat.postMessage",
        payload={**target, "template": template, "data": data, **meta},
        now=now,
    )


def update(
    session: Session,
    *,
    team_id: str,
    key: str,
    ref: str,
    template: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    """Replace the message sent under idempotency key ``ref`` with ``template``."""
    outbox.enqueue(
        session,
        team_id=team_id,
        key=key,
        method="chat.update",
        payload={"ref": ref, "template": template, "data": data},
        now=now,
    )
