"""A worker that must build a large index at start-up serves asks meanwhile, by the same rules.

With no snapshot to load, a workspace with many past helps first gets a provisional index of
its helpers' profiles alone (seconds), then the full index is built apart, without the
matcher's lock, and put in place. An ask ranked in between must name exactly the helpers the
production path names (every rule reads the helpers' facts, never the index): capacity, pause,
never-meet both ways, already offered, the asker's reporting line, reachability; and no past
ask's text may reach an explanation. Once installed, the full index (with the changes committed
during its build) must rank score for score as a worker that built it at once.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from peerbot.services import ranking
from peerbot.services.index_snapshot import SnapshotStore
from peerbot.services.matching import IndexedMatcher
from peerbot.store.db import read_only, session_factory, unit_of_work
from peerbot.store.models import (
    Ask,
    AskStatus,
    HelperNeverMatch,
    HelperProfile,
    Offer,
    OfferStatus,
    Pair,
    PairStatus,
    Person,
    Urgency,
    Workspace,
)
from tests.journey.test_index_snapshot_db import (
    DIM,
    MODEL,
    NOW,
    TEAM,
    _changes,
    _helper,
    _past_help,
    _scores,
)

#: Helpers each rule rules out for the asker's ask (their user ids are set up below).
RULED_OUT = {
    "UH000": "capacity in use",
    "UH001": "paused",
    "UH002": "never meets the asker",
    "UH003": "the asker never meets them",
    "UH004": "already offered this ask",
    "UH005": "deleted",
    "UH006": "the asker's manager",
    "UH007": "cannot be messaged",
}


def _seed(engine: Engine, seed: int = 4) -> list[str]:
    """A workspace of 40 helpers with past helps, the rule cases above; returns the texts of
    the past asks."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    sessions = session_factory(engine)
    start = NOW - timedelta(days=30)
    with unit_of_work(sessions) as s:
        s.add(Workspace(team_id=TEAM, installed_at=start, settings={}))
        s.flush()
        asker = Person(
            team_id=TEAM,
            slack_user_id="UASK",
            display_name="asker",
            created_at=start,
            manager_slack_user_id="UH006",
        )
        s.add(asker)
        s.flush()
        ids: dict[str, int] = {}
        for h in range(40):
            person = _helper(s, rng, nrng, f"UH{h:03d}", start)
            ids[person.slack_user_id] = person.id
            for j in range(rng.randint(1, 4)):
                _past_help(s, rng, nrng, person.id, asker.id, start - timedelta(days=j + 1))
        s.flush()
        s.execute(update(HelperProfile).values(capacity=3))
        s.execute(
            update(HelperProfile).where(HelperProfile.person_id == ids["UH000"]).values(capacity=1)
        )
        s.execute(
            update(Pair).where(Pair.helper_id == ids["UH000"]).values(status=PairStatus.ACTIVE)
        )
        s.execute(
            update(HelperProfile)
            .where(HelperProfile.person_id == ids["UH001"])
            .values(paused_until=NOW + timedelta(days=7))
        )
        s.add(
            HelperNeverMatch(
                helper_person_id=ids["UH002"], blocked_slack_user_id="UASK", team_id=TEAM
            )
        )
        s.add(
            HelperNeverMatch(helper_person_id=asker.id, blocked_slack_user_id="UH003", team_id=TEAM)
        )
        s.execute(update(Person).where(Person.id == ids["UH005"]).values(deleted=True))
        s.execute(update(Person).where(Person.id == ids["UH007"]).values(can_be_messaged=False))
        return list(s.scalars(select(Ask.challenge)))


def _ask(s: Session, *, offered_to: str | None = None) -> tuple[Ask, Person]:
    asker = s.scalars(select(Person).where(Person.slack_user_id == "UASK")).one()
    ask = Ask(
        team_id=TEAM,
        asker_id=asker.id,
        challenge="hiring feedback budget conflict",
        urgency=Urgency.NORMAL,
        anonymous=False,
        status=AskStatus.MATCHING,
        created_at=NOW,
        updated_at=NOW,
    )
    s.add(ask)
    s.flush()
    if offered_to is not None:
        helper = s.scalars(select(Person).where(Person.slack_user_id == offered_to)).one()
        s.add(
            Offer(
                team_id=TEAM,
                ask_id=ask.id,
                helper_id=helper.id,
                rank=1,
                score=1.0,
                status=OfferStatus.PASSED,
                created_at=NOW,
            )
        )
        s.flush()
    return ask, asker


def _ranked(
    matcher: IndexedMatcher, engine: Engine, vector: np.ndarray
) -> list[tuple[str, float, str]]:
    """(helper, score, explanation) of every candidate for a new ask (rolled back after)."""
    sessions = session_factory(engine)
    with unit_of_work(sessions) as s:
        ask, asker = _ask(s, offered_to="UH004")
        # A minute after the warm-ups' time, as asks come after a start-up.
        ranked = matcher.candidates_for(s, ask, asker, vector, NOW + timedelta(minutes=1))
        out = [(r.candidate.user_id, r.score, r.explanation) for r in ranked]
        s.rollback()
    return out


def test_an_ask_during_the_start_up_build_is_ranked_by_the_production_rules(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    past_texts = _seed(engine)
    sessions = session_factory(engine)
    vector = np.random.default_rng(9).normal(size=DIM).astype(np.float32)
    full = _ranked(IndexedMatcher(MODEL, DIM), engine, vector)  # a worker that built at once
    assert full and not {uid for uid, _s, _e in full} & RULED_OUT.keys()
    assert len(full) == 40 - len(RULED_OUT)

    small = IndexedMatcher(MODEL, DIM)
    with read_only(sessions) as s:  # a small workspace: built in full at once, as before
        assert small._indexes.start(s, TEAM, NOW) is False
    assert not small._indexes.provisional(TEAM)
    assert _ranked(small, engine, vector) == full

    worker = IndexedMatcher(MODEL, DIM)
    monkeypatch.setattr(ranking, "PROVISIONAL_ABOVE", 0)
    with read_only(sessions) as s:
        assert worker._indexes.start(s, TEAM, NOW) is True
        worker._warm_team(s, TEAM, NOW)
    assert worker._indexes.provisional(TEAM)

    during = _ranked(worker, engine, vector)
    # The same helpers (every rule applied alike), ranked on what the provisional index holds.
    assert sorted(uid for uid, _s, _e in during) == sorted(uid for uid, _s, _e in full)
    for _uid, _score, explanation in during:
        assert explanation
        assert not any(text in explanation for text in past_texts)

    loads = worker._facts.loads
    worker._build_apart(sessions, TEAM, NOW)  # the full index, put in place
    assert not worker._indexes.provisional(TEAM)
    assert worker._facts.loads == loads  # the facts kept current are not read again
    after = _ranked(worker, engine, vector)
    assert [uid for uid, _s, _e in after] == [uid for uid, _s, _e in full]
    assert [s for _u, s, _e in after] == pytest.approx([s for _u, s, _e in full], abs=1e-9)
    assert [e for _u, _s, e in after] == [e for _u, _s, e in full]


@pytest.mark.parametrize("brought_up", [False, True])
def test_changes_made_during_the_build_apart_are_in_the_installed_index(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, brought_up: bool
) -> None:
    """Applied by the refresh after the install (under the matcher's lock), or (the worker's
    way) before it, without the lock: then that refresh has nothing left to read."""
    _seed(engine, seed=5)
    sessions = session_factory(engine)
    monkeypatch.setattr(ranking, "PROVISIONAL_ABOVE", 0)
    store = SnapshotStore(tmp_path / "snapshots", "the test database", min_rows=0)
    worker = IndexedMatcher(MODEL, DIM, snapshots=store)
    indexes = worker._indexes
    with read_only(sessions) as s:
        assert indexes.start(s, TEAM, NOW) is True
    with read_only(sessions) as s:  # read before the changes below commit
        built = indexes.build_apart(s, TEAM, NOW)
    _changes(engine, NOW + timedelta(minutes=1), 5)
    later = NOW + timedelta(minutes=2)
    with read_only(sessions) as s:  # the provisional index is kept current, never written
        indexes.refresh(s, TEAM, later)
    assert store.wait(60)
    assert store.load(TEAM, MODEL, DIM) is None

    load_records = ranking.load_records
    if brought_up:
        with read_only(sessions) as s:
            brought = indexes.bring_up(s, TEAM, built, later)
        assert brought.index is built.index and brought.version > built.version
        assert indexes.provisional(TEAM)  # nothing of the matcher's was touched
        built = brought

        def no_read(*args: object) -> None:
            raise AssertionError("read again under the lock")

        monkeypatch.setattr(ranking, "load_records", no_read)
    assert indexes.install(TEAM, built)
    with read_only(sessions) as s:
        installed = indexes.refresh(s, TEAM, later)
    monkeypatch.setattr(ranking, "load_records", load_records)
    with read_only(sessions) as s:
        fresh = ranking.HelperIndexes(MODEL, DIM).refresh(s, TEAM, later)
    assert sorted(installed.helper_ids()) == sorted(fresh.helper_ids())
    got, want = _scores(installed), _scores(fresh)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key
    # The full index is written once installed (and a second install is refused).
    assert store.wait(60)
    assert store.load(TEAM, MODEL, DIM) is not None
    assert not indexes.install(TEAM, built)


def test_the_full_build_waits_for_the_model_and_the_first_phase_does_not(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`peerbot serve`'s order (StartUp): the warm-up's first phase (the provisional index and
    the facts) is marked done before the full build apart starts, and that one starts only once
    the model is loaded."""
    import threading

    _seed(engine, seed=6)
    sessions = session_factory(engine)
    monkeypatch.setattr(ranking, "PROVISIONAL_ABOVE", 0)
    worker = IndexedMatcher(MODEL, DIM)
    worker.start_up.hold_builds()
    started: list[tuple[bool, bool]] = []
    build_apart = worker._indexes.build_apart

    def spy(session: Session, team_id: str, now: object) -> ranking.Built:
        started.append(
            (worker.start_up.first_phase.is_set(), worker.start_up.model_loaded.is_set())
        )
        return build_apart(session, team_id, now)  # type: ignore[arg-type]

    monkeypatch.setattr(worker._indexes, "build_apart", spy)
    warm = threading.Thread(target=worker.warm, args=(sessions, NOW))
    warm.start()
    assert worker.start_up.first_phase.wait(60)
    assert worker._indexes.provisional(TEAM) and not started
    worker.start_up.model_loaded.set()  # the model is loaded: the full build may start
    warm.join(120)
    assert not warm.is_alive()
    assert started == [(True, True)]
    assert not worker._indexes.provisional(TEAM)
