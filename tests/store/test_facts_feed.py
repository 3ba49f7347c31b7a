"""The helpers' facts kept current from the change feed (migration 0015) equal facts loaded
afresh after every kind of change, and a reload after one change reads only that change's rows
(both databases: SQLite's row triggers and PostgreSQL's deferred ones)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, event, func, select
from sqlalchemy.engine import Engine, cursor
from sqlalchemy.orm import Session

from peerbot.matching import Ask as MatchAsk
from peerbot.matching import Candidate
from peerbot.services.matching import HelperFactsCache
from peerbot.services.matching_feed import (
    MAX_CHANGED_ROWS,
    changed_people,
    feed_position,
    prune_feed,
)
from peerbot.store.db import session_factory
from peerbot.store.models import (
    Ask,
    Feedback,
    FeedbackRole,
    HelperNeverMatch,
    HelperProfile,
    MatchingChange,
    Pair,
    PairStatus,
    Person,
)
from tests.store.builders import add_ask, add_person, add_workspace

TEAM = "T001"
#: New York leaves daylight saving time at 06:00 UTC on 1 November 2026: the hour turns change
#: its helpers' offsets during the test.
START = datetime(2026, 11, 1, 2, tzinfo=UTC)
ZONES = ["America/New_York", "Europe/Berlin", "Asia/Tokyo", None]
KINDS = [
    "accept",
    "end_pair",
    "rating",
    "profile_edit",
    "pause",
    "capacity",
    "opt_out",
    "opt_in",
    "deleted_flag",
    "delete_person",
    "new_helper",
    "new_person",
    "never_add",
    "never_remove",
    "manager",
    "tz",
    "reachable",
    "hour",
]


def _view(result: tuple[list[Candidate], dict[str, str | None], Any], uids: list[str]) -> Any:
    helpers, managers, eligibility = result
    asks = [
        MatchAsk(text="", vector=np.zeros(3, np.float32), now=START, asker_id=uid) for uid in uids
    ]
    return (
        {c.person_id: c for c in helpers},
        {u: m for u, m in managers.items() if m is not None},
        sorted(eligibility.fixed_ok()),
        [sorted(c.user_id for c in eligibility.eligible(a)) for a in asks],
    )


def _change(s: Session, kind: str, rng: random.Random, now: datetime, serial: int) -> None:
    people = list(s.scalars(select(Person).where(Person.team_id == TEAM).order_by(Person.id)))
    profiles = list(s.scalars(select(HelperProfile).order_by(HelperProfile.person_id)))
    uids = [p.slack_user_id for p in people]
    if kind == "accept":
        asker = rng.choice(people)
        helper = rng.choice(profiles)
        ask = add_ask(s, asker)
        s.add(Pair(team_id=TEAM, ask_id=ask.id, helper_id=helper.person_id, asker_id=asker.id))
    elif kind == "end_pair":
        active = list(s.scalars(select(Pair).where(Pair.status == PairStatus.ACTIVE)))
        if active:
            rng.choice(active).status = rng.choice([PairStatus.CLOSED, PairStatus.FAILED])
    elif kind == "rating":
        pairs = list(s.scalars(select(Pair)))
        if pairs:
            pair = rng.choice(pairs)
            fb = s.scalars(
                select(Feedback).where(Feedback.pair_id == pair.id, Feedback.role == "asker")
            ).first()
            if fb is None:
                s.add(
                    Feedback(
                        team_id=TEAM,
                        pair_id=pair.id,
                        person_id=pair.asker_id,
                        role=FeedbackRole.ASKER,
                        rating=rng.randint(1, 5),
                    )
                )
            elif rng.random() < 0.3:
                s.delete(fb)
            else:
                fb.rating = rng.choice([None, 1, 2, 3, 4, 5])
    elif kind == "profile_edit" and profiles:
        rng.choice(profiles).years_managing = rng.choice([None, 1, 5, 12])
    elif kind == "pause" and profiles:
        rng.choice(profiles).paused_until = rng.choice([None, now + timedelta(days=3)])
    elif kind == "capacity" and profiles:
        rng.choice(profiles).capacity = rng.randint(0, 3)
    elif kind == "opt_out" and profiles:
        rng.choice(profiles).opted_in = False
    elif kind == "opt_in" and profiles:
        rng.choice(profiles).opted_in = True
    elif kind == "deleted_flag":
        p = rng.choice(people)
        p.deleted = not p.deleted
    elif kind == "reachable":
        p = rng.choice(people)
        p.can_be_messaged = not p.can_be_messaged
    elif kind == "delete_person":
        # Someone with no asks or pairs (a helper who joined during the test, or anyone free).
        free = [
            p
            for p in people
            if not s.scalar(
                select(func.count())
                .select_from(Pair)
                .where((Pair.helper_id == p.id) | (Pair.asker_id == p.id))
            )
            and not s.scalar(select(func.count()).select_from(Ask).where(Ask.asker_id == p.id))
        ]
        helpers = {p.person_id for p in profiles}
        managed = [p for p in free if p.id not in helpers and p.manager_slack_user_id]
        if free:
            s.delete(rng.choice(managed if managed and rng.random() < 0.7 else free))
    elif kind == "new_helper":
        p = add_person(
            s,
            TEAM,
            f"UN{serial}",
            tz=rng.choice(ZONES),
            manager_slack_user_id=rng.choice([None, *uids]),
        )
        s.add(HelperProfile(person_id=p.id, team_id=TEAM, opted_in=True, capacity=2))
    elif kind == "new_person":  # an asker-to-be, in someone's reporting line
        add_person(s, TEAM, f"UP{serial}", manager_slack_user_id=rng.choice(uids))
    elif kind == "never_add" and profiles:
        helper = rng.choice(profiles)
        blocked = rng.choice(uids)
        if s.get(HelperNeverMatch, (helper.person_id, blocked)) is None:
            s.add(
                HelperNeverMatch(
                    helper_person_id=helper.person_id,
                    blocked_slack_user_id=blocked,
                    team_id=TEAM,
                )
            )
    elif kind == "never_remove":
        rows = list(s.scalars(select(HelperNeverMatch)))
        if rows:
            s.delete(rng.choice(rows))
    elif kind == "manager":
        rng.choice(people).manager_slack_user_id = rng.choice([None, *uids])
    elif kind == "tz":
        rng.choice(people).tz = rng.choice(ZONES)


def _seed(s: Session, rng: random.Random, helpers: int) -> None:
    add_workspace(s, TEAM)
    people = []
    for i in range(helpers + 4):
        people.append(
            add_person(
                s,
                TEAM,
                f"U{i:03d}",
                tz=rng.choice(ZONES),
                manager_slack_user_id=f"U{rng.randrange(helpers + 4):03d}"
                if rng.random() < 0.6
                else None,
            )
        )
    for p in people[:helpers]:
        s.add(HelperProfile(person_id=p.id, team_id=TEAM, opted_in=True, capacity=2))
    s.flush()
    for _ in range(helpers):
        asker, helper = rng.choice(people), rng.choice(people[:helpers])
        ask = add_ask(s, asker)
        s.add(
            Pair(
                team_id=TEAM,
                ask_id=ask.id,
                helper_id=helper.id,
                asker_id=asker.id,
                status=rng.choice([PairStatus.ACTIVE, PairStatus.CLOSED]),
            )
        )


@pytest.mark.parametrize("seed", [1, 2])
def test_facts_kept_from_the_feed_equal_facts_loaded_afresh(engine: Engine, seed: int) -> None:
    rng = random.Random(seed)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        _seed(s, rng, 10)
    cache = HelperFactsCache()
    now = START
    with Session(engine) as s:
        cache.helpers(s, TEAM, now, 3)
    seen: set[str] = set()
    for step in range(90):
        kind = KINDS[step % len(KINDS)] if step < 2 * len(KINDS) else rng.choice(KINDS)
        if kind == "hour":
            now += timedelta(hours=rng.choice([1, 2, 3]))
        else:
            with sessions.begin() as s:
                _change(s, kind, rng, now, step)
        seen.add(kind)
        with Session(engine) as s:
            uids = list(s.scalars(select(Person.slack_user_id).where(Person.team_id == TEAM)))
            kept = _view(cache.helpers(s, TEAM, now, 3), uids)
            fresh = _view(HelperFactsCache().helpers(s, TEAM, now, 3), uids)
        assert kept[0] == fresh[0], (step, kind)
        assert kept[1:] == fresh[1:], (step, kind)
    assert seen == set(KINDS)
    assert cache.loads == 1  # everything after the first load came from the feed
    assert cache.reloads > 60
    assert now > datetime(2026, 11, 1, 6, tzinfo=UTC)  # crossed New York's clock change


@contextmanager
def _counted(engine: Engine) -> Iterator[dict[str, int]]:
    """Statements run on ``engine`` and rows fetched (every fetch of a cursor result)."""
    counts = {"statements": 0, "rows": 0}
    strategy = cursor.CursorFetchStrategy
    originals = {name: getattr(strategy, name) for name in ("fetchone", "fetchmany", "fetchall")}

    def counting(name: str) -> Any:
        def fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
            got = originals[name](self, *args, **kwargs)
            if name == "fetchone":
                counts["rows"] += got is not None
            else:
                counts["rows"] += len(got or ())
            return got

        return fetch

    def statement(*_args: Any) -> None:
        counts["statements"] += 1

    event.listen(engine, "before_cursor_execute", statement)
    for name in originals:
        setattr(strategy, name, counting(name))
    try:
        yield counts
    finally:
        for name, fn in originals.items():
            setattr(strategy, name, fn)
        event.remove(engine, "before_cursor_execute", statement)


def test_a_reload_after_one_accept_reads_only_that_helpers_rows(engine: Engine) -> None:
    rng = random.Random(3)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        _seed(s, rng, 300)
    cache = HelperFactsCache()
    with Session(engine) as s, _counted(engine) as first:
        cache.helpers(s, TEAM, START, None)
    assert first["rows"] > 600  # the counting sees a full load's rows (helpers, pairs)
    with sessions.begin() as s:
        asker = s.scalars(select(Person).where(Person.slack_user_id == "U301")).one()
        helper = s.scalars(select(Person).where(Person.slack_user_id == "U007")).one()
        ask = add_ask(s, asker)
        s.add(Pair(team_id=TEAM, ask_id=ask.id, helper_id=helper.id, asker_id=asker.id))
        helper_id = helper.id
    with Session(engine) as s, _counted(engine) as after:
        helpers, _managers, _elig = cache.helpers(s, TEAM, START + timedelta(minutes=1), None)
    assert cache.loads == 1 and cache.reloads == 1
    assert after["rows"] <= 20, after  # the feed rows, one helper's facts, the offers: no more
    assert after["statements"] <= 15, after
    used = {c.person_id: c.facts.capacity_used for c in helpers}
    with Session(engine) as s:
        fresh = HelperFactsCache().helpers(s, TEAM, START + timedelta(minutes=1), None)[0]
    assert used[helper_id] == {c.person_id: c.facts.capacity_used for c in fresh}[helper_id]


def test_a_pruned_feed_or_too_many_changes_means_a_full_load(engine: Engine) -> None:
    rng = random.Random(4)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        _seed(s, rng, 12)
    cache = HelperFactsCache()
    with Session(engine) as s:
        cache.helpers(s, TEAM, START, None)
        version, _ = feed_position(s, TEAM)
        assert changed_people(s, TEAM, version) is not None
    for i in range(3):  # three changes: three numbers (SQLite) or one per commit (PostgreSQL)
        with sessions.begin() as s:
            profile = s.scalars(select(HelperProfile).order_by(HelperProfile.person_id)).first()
            assert profile is not None
            profile.capacity = i + 3
    assert prune_feed(engine, keep=0) > 0  # everything older than the current number
    assert prune_feed(engine, keep=0) == 0  # nothing more: one read when run again
    with Session(engine) as s:
        assert changed_people(s, TEAM, version) is None  # pruned past the cache's number
        left = s.scalar(select(func.count()).select_from(MatchingChange))
        assert left is not None and left <= 3
        cache.helpers(s, TEAM, START, None)
        assert cache.loads == 2  # loaded everything again
    with sessions.begin() as s:  # more changed people than the feed is read for
        s.add_all(
            MatchingChange(team_id=TEAM, version=10**9, person_id=i)
            for i in range(MAX_CHANGED_ROWS + 1)
        )
    with Session(engine) as s:
        assert changed_people(s, TEAM, 0) is None
    with sessions.begin() as s:
        s.execute(delete(MatchingChange))
