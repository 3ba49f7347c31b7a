"""The topics of a workspace's past helps and helper profiles, for the ``topic_history`` signal.

A :class:`~peerbot.matching.topics.TopicIndex` is attached beside each workspace's
:class:`~peerbot.matching.index.HelperIndex` (see :mod:`peerbot.services.ranking`): loaded in
full when the index is built, and for the changed helpers only when it is updated. Each past
help (a pair) carries its ask's topics: those the asker picked, else the ask's automatic label
(:func:`peerbot.domain.topics.ask_topics`); each helper carries the topics of their profile.
No vectors are read: one small row per pair.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import DateTime, String, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from peerbot.domain.topics import ask_topics
from peerbot.matching import HelperIndex
from peerbot.matching.topics import TopicIndex, attach, topics_of
from peerbot.services.bulk_read import partitions
from peerbot.services.bulk_read import timestamps as _timestamps
from peerbot.store.models import Ask, HelperProfile, Pair, Person


def _fill(
    index: TopicIndex,
    session: Session,
    team_id: str,
    only: Subquery | None,
    *,
    past_helps: bool = True,
) -> None:
    """Add the past helps and profile topics of the workspace's helpers (or of the person ids
    ``only`` selects) to ``index``.

    The helps are read in pair order as plain values (the stored topic list and time as the
    driver gives them, not through the columns' types: no JSON decoded and no datetime made
    per row) and added as columns (:meth:`TopicIndex.add_help_columns`); each distinct topic
    list is decoded once. On SQLite a full load walks the pairs table in its own order, which
    is pair order: no sort."""
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    team = Pair.team_id.concat("") if sqlite and only is None else Pair.team_id
    helps = (
        select(
            Person.slack_user_id,
            type_coerce(Ask.topics, String),
            Ask.topic,
            type_coerce(Pair.created_at, String if sqlite else DateTime(timezone=True)),
        )
        .select_from(Pair)
        .join(Ask, Ask.id == Pair.ask_id)
        .join(Person, Person.id == Pair.helper_id)
        .where(team == team_id)
        .order_by(Pair.id)
    )
    profiles = (
        select(Person.slack_user_id, type_coerce(HelperProfile.topics, String))
        .join(Person, Person.id == HelperProfile.person_id)
        .where(HelperProfile.team_id == team_id)
    )
    if only is not None:
        helps = helps.where(Pair.helper_id.in_(select(only.c[0])))
        profiles = profiles.where(HelperProfile.person_id.in_(select(only.c[0])))
    user_ids: list[str] = []
    times: list[Any] = []
    key_ids: list[npt.NDArray[np.intp]] = []
    keys: dict[tuple[Any, str | None], int] = {}
    number = keys.setdefault
    for part in partitions(conn, helps, _STREAM_ROWS) if past_helps else ():
        users, picked, automatic, at = zip(*part, strict=True)
        user_ids.extend(users)
        times.extend(at)
        key_ids.append(
            np.fromiter(
                (
                    number((_hashable(p), a), len(keys))
                    for p, a in zip(picked, automatic, strict=True)
                ),
                np.intp,
                count=len(part),
            )
        )
    if user_ids:
        key_topics = [ask_topics(_decoded(p), a) for p, a in keys]
        index.add_help_columns(user_ids, np.concatenate(key_ids), key_topics, _timestamps(times))
    for user_id, stored in conn.execute(profiles):
        if stored and stored != "[]":
            topics = _decoded(_hashable(stored))
            if topics:
                index.set_profile(user_id, topics)


#: Rows fetched at a time.
_STREAM_ROWS = 5000


def _hashable(picked: Any) -> Any:
    """The stored topic list as a dictionary key (text on SQLite, a list on PostgreSQL)."""
    return tuple(picked) if isinstance(picked, list) else picked


def _decoded(picked: Any) -> list[str] | None:
    """The topic list :func:`_hashable` gave a key for."""
    if isinstance(picked, str):
        value = json.loads(picked)
        return value if isinstance(value, list) else None
    return list(picked) if picked is not None else None


def attach_topics(
    index: HelperIndex, session: Session, team_id: str, *, past_helps: bool = True
) -> TopicIndex:
    """Load the workspace's topics into a new :class:`TopicIndex` attached to ``index``
    (``past_helps=False``: the helpers' profile topics alone)."""
    topics = TopicIndex()
    _fill(topics, session, team_id, None, past_helps=past_helps)
    return attach(index, topics)


def update_topics(
    index: HelperIndex,
    session: Session,
    team_id: str,
    changed: Subquery,
    helper_ids: list[str],
) -> None:
    """Bring the topics of the helpers ``changed`` selects (``helper_ids``: their user ids,
    and those removed) up to date: forget them, then load them again."""
    topics = topics_of(index)
    if topics is None:
        attach_topics(index, session, team_id)
        return
    for helper_id in helper_ids:
        topics.remove(helper_id)
    _fill(topics, session, team_id, changed)
