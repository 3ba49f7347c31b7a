"""The topics of a workspace's past helps and helper profiles, for the ``topic_history`` signal.

A :class:`~peerbot.matching.topics.TopicIndex` is attached beside each workspace's
:class:`~peerbot.matching.index.HelperIndex` (see :mod:`peerbot.services.ranking`): loaded in
full when the index is built, and for the changed helpers only when it is updated. Each past
help (a pair) carries its ask's topics: those the asker picked, else the ask's automatic label
(:func:`peerbot.domain.topics.ask_topics`); each helper carries the topics of their profile.
No vectors are read: one small row per pair.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from peerbot.domain.topics import ask_topics
from peerbot.matching import HelperIndex
from peerbot.matching.topics import TopicIndex, attach, topics_of
from peerbot.store.models import Ask, HelperProfile, Pair, Person


def _utc(when: datetime | None) -> datetime | None:
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


def _fill(index: TopicIndex, session: Session, team_id: str, only: Subquery | None) -> None:
    """Add the past helps and profile topics of the workspace's helpers (or of the person ids
    ``only`` selects) to ``index``."""
    helps = (
        select(
            Person.slack_user_id,
            Ask.topics,
            Ask.topic,
            type_coerce(Pair.created_at, DateTime(timezone=True)),
        )
        .select_from(Pair)
        .join(Ask, Ask.id == Pair.ask_id)
        .join(Person, Person.id == Pair.helper_id)
        .where(Pair.team_id == team_id)
        .order_by(Pair.id)
    )
    profiles = (
        select(Person.slack_user_id, HelperProfile.topics)
        .join(Person, Person.id == HelperProfile.person_id)
        .where(HelperProfile.team_id == team_id)
    )
    if only is not None:
        helps = helps.where(Pair.helper_id.in_(select(only.c[0])))
        profiles = profiles.where(HelperProfile.person_id.in_(select(only.c[0])))
    conn = session.connection()
    index.add_helps(
        (user_id, ask_topics(picked, automatic), _utc(at))
        for user_id, picked, automatic, at in conn.execute(helps)
    )
    for user_id, topics in conn.execute(profiles):
        if topics:
            index.set_profile(user_id, topics)


def attach_topics(index: HelperIndex, session: Session, team_id: str) -> TopicIndex:
    """Load the workspace's topics into a new :class:`TopicIndex` attached to ``index``."""
    topics = TopicIndex()
    _fill(topics, session, team_id, None)
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
