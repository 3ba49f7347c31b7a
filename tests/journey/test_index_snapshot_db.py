"""A worker starting from an index snapshot ranks as one that built its index from the database.

The first worker builds the index and writes its snapshot; the database then changes (profiles
edited, helpers opting out or joining, new past helps, a new expertise vector); a second worker
loads the snapshot and brings it current through the incremental path. Its rankings (vector,
lexical and topic signals) must equal those of a third worker that builds from scratch: a
change the refresh skipped shows as a different score.
"""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from peerbot.clock import FrozenClock
from peerbot.matching import HelperIndex, HybridRanker, profiles
from peerbot.matching.facts import Ask as MatchAsk
from peerbot.services.index_snapshot import SnapshotStore
from peerbot.services.privacy import PrivacyService
from peerbot.services.ranking import HelperIndexes, matching_version
from peerbot.store.db import session_factory, unit_of_work
from peerbot.store.models import (
    Ask,
    AskStatus,
    Embedding,
    EmbeddingOwner,
    HelperProfile,
    MatchingVersion,
    Pair,
    PairStatus,
    Person,
    Workspace,
)

TEAM = "T1"
MODEL = "snapshot-test-model"
DIM = 16
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
WORDS = ["hiring", "feedback", "budget", "conflict", "promotion", "remote", "layoffs", "café"]
TOPICS = ["hiring", "feedback", "conflict", "performance"]


def _vec(rng: np.random.Generator) -> bytes:
    return rng.normal(size=DIM).astype(np.float32).tobytes()


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _helper(
    s: object, rng: random.Random, nrng: np.random.Generator, uid: str, at: datetime
) -> Person:
    person = Person(team_id=TEAM, slack_user_id=uid, display_name=uid, tz="UTC", created_at=at)
    s.add(person)  # type: ignore[attr-defined]
    s.flush()  # type: ignore[attr-defined]
    s.add(  # type: ignore[attr-defined]
        HelperProfile(
            person_id=person.id,
            team_id=TEAM,
            opted_in=True,
            expertise=_text(rng, 5),
            topics=rng.sample(TOPICS, 1),
            created_at=at,
            updated_at=at,
        )
    )
    s.add(  # type: ignore[attr-defined]
        Embedding(
            team_id=TEAM,
            owner_kind=EmbeddingOwner.HELPER_EXPERTISE,
            owner_id=person.id,
            model_name=MODEL,
            dim=DIM,
            vector=_vec(nrng),
            created_at=at,
        )
    )
    return person


def _past_help(
    s: object, rng: random.Random, nrng: np.random.Generator, helper: int, asker: int, at: datetime
) -> None:
    ask = Ask(
        team_id=TEAM,
        asker_id=asker,
        challenge=_text(rng, 8),
        status=AskStatus.CLOSED,
        topics=rng.sample(TOPICS, 2) if rng.random() < 0.7 else None,
        topic=rng.choice(TOPICS),
        created_at=at,
        updated_at=at,
    )
    s.add(ask)  # type: ignore[attr-defined]
    s.flush()  # type: ignore[attr-defined]
    s.add(  # type: ignore[attr-defined]
        Pair(
            team_id=TEAM,
            ask_id=ask.id,
            helper_id=helper,
            asker_id=asker,
            status=PairStatus.CLOSED,
            created_at=at,
        )
    )
    s.add(  # type: ignore[attr-defined]
        Embedding(
            team_id=TEAM,
            owner_kind=EmbeddingOwner.ASK,
            owner_id=ask.id,
            model_name=MODEL,
            dim=DIM,
            vector=_vec(nrng),
            created_at=at,
        )
    )


def _scores(index: HelperIndex) -> dict[str, float]:
    rng = np.random.default_rng(5)
    out: dict[str, float] = {}
    for k in range(5):
        ask = MatchAsk(
            " ".join(rng.choice(WORDS, 4)),
            rng.normal(size=DIM).astype(np.float32),
            NOW,
            topics=frozenset(rng.choice(TOPICS, 2).tolist()),
        )
        s = HybridRanker(index).score(ask).scored
        out.update({f"{k}:{s.ids[i]}": float(s.score[i]) for i in range(len(s.ids))})
    return out


def _changes(engine: Engine, at: datetime, seed: int) -> None:
    """Random changes of every kind the index reads, committed at ``at``."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    sessions = session_factory(engine)
    with unit_of_work(sessions) as s:
        people = list(s.scalars(select(Person.id).join(HelperProfile).order_by(Person.id)))
        asker = s.scalar(select(Person.id).where(Person.slack_user_id == "UASK"))
        assert asker is not None
        picked = rng.sample(people, 12)
        for pid in picked[:4]:  # edited profiles
            s.execute(
                update(HelperProfile)
                .where(HelperProfile.person_id == pid)
                .values(expertise=_text(rng, 6), topics=rng.sample(TOPICS, 2), updated_at=at)
            )
        for pid in picked[4:6]:  # opted out
            s.execute(
                update(HelperProfile)
                .where(HelperProfile.person_id == pid)
                .values(opted_in=False, updated_at=at)
            )
        for pid in picked[6:10]:  # new past helps
            _past_help(s, rng, nrng, pid, asker, at)
        for pid in picked[10:12]:  # a new expertise vector
            s.execute(
                update(Embedding)
                .where(
                    Embedding.owner_kind == EmbeddingOwner.HELPER_EXPERTISE,
                    Embedding.owner_id == pid,
                )
                .values(vector=_vec(nrng), created_at=at)
            )
        _helper(s, rng, nrng, f"UNEW{seed}", at)  # a helper joins


@pytest.mark.parametrize("seed", [1, 2])
def test_a_loaded_and_refreshed_snapshot_ranks_as_a_fresh_build(
    engine: Engine, tmp_path: Path, seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    sessions = session_factory(engine)
    start = NOW - timedelta(days=30)
    with unit_of_work(sessions) as s:
        s.add(Workspace(team_id=TEAM, installed_at=start, settings={}))
        s.flush()
        asker = Person(team_id=TEAM, slack_user_id="UASK", display_name="asker", created_at=start)
        s.add(asker)
        s.flush()
        for h in range(50):
            person = _helper(s, rng, nrng, f"UH{h:03d}", start)
            for j in range(rng.randint(0, 4)):
                _past_help(s, rng, nrng, person.id, asker.id, start - timedelta(days=j + 1))
    store = SnapshotStore(tmp_path / "snapshots", "the test database", min_rows=0)

    with unit_of_work(sessions) as s:  # the first worker builds and writes its snapshot
        HelperIndexes(MODEL, DIM, store).refresh(s, TEAM, NOW)
    assert store.wait(60)

    _changes(engine, NOW + timedelta(minutes=1), seed)
    later = NOW + timedelta(minutes=2)
    caplog.clear()
    with caplog.at_level(logging.INFO), unit_of_work(sessions) as s:
        loaded = HelperIndexes(MODEL, DIM, store).refresh(s, TEAM, later)
    assert "loaded the index snapshot" in caplog.text
    assert "built the helper index" not in caplog.text  # brought current, not rebuilt
    with unit_of_work(sessions) as s:
        fresh = HelperIndexes(MODEL, DIM).refresh(s, TEAM, later)

    assert sorted(loaded.helper_ids()) == sorted(fresh.helper_ids())
    got, want = _scores(loaded), _scores(fresh)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key
    # Top 10 of each query in the same order.
    for k in range(5):
        top = sorted((v, h) for h, v in want.items() if h.startswith(f"{k}:"))[-10:]
        assert [got[h] for _, h in top] == pytest.approx([v for v, _ in top], abs=1e-6)


def test_a_snapshot_ahead_of_the_database_is_rebuilt(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(3)
    nrng = np.random.default_rng(3)
    sessions = session_factory(engine)
    with unit_of_work(sessions) as s:
        s.add(Workspace(team_id=TEAM, installed_at=NOW, settings={}))
        s.flush()
        for h in range(5):
            _helper(s, rng, nrng, f"UH{h}", NOW)
    store = SnapshotStore(tmp_path, "the test database", min_rows=0)
    with unit_of_work(sessions) as s:
        indexes = HelperIndexes(MODEL, DIM, store)
        indexes.refresh(s, TEAM, NOW)
    assert store.wait(60)
    # A database restored to before the snapshot: its version is lower than the snapshot's.
    with unit_of_work(sessions) as s:
        s.execute(update(MatchingVersion).where(MatchingVersion.team_id == TEAM).values(version=0))
    with caplog.at_level(logging.INFO), unit_of_work(sessions) as s:
        index = HelperIndexes(MODEL, DIM, store).refresh(s, TEAM, NOW)
    assert "ahead of the database" in caplog.text
    assert "built the helper index" in caplog.text
    assert len(index) == 5


def test_enough_changes_write_a_new_snapshot_that_a_later_worker_loads(
    engine: Engine, tmp_path: Path
) -> None:
    rng = random.Random(4)
    nrng = np.random.default_rng(4)
    sessions = session_factory(engine)
    with unit_of_work(sessions) as s:
        s.add(Workspace(team_id=TEAM, installed_at=NOW, settings={}))
        s.flush()
        s.add(Person(team_id=TEAM, slack_user_id="UASK", display_name="asker", created_at=NOW))
        for h in range(20):
            _helper(s, rng, nrng, f"UH{h}", NOW - timedelta(days=1))
    store = SnapshotStore(tmp_path, "the test database", min_rows=0, save_after=5)
    worker = HelperIndexes(MODEL, DIM, store)
    with unit_of_work(sessions) as s:
        worker.refresh(s, TEAM, NOW)
    assert store.wait(60)
    pointer = tmp_path / f"{TEAM}.json"
    first = json.loads(pointer.read_text())
    _changes(engine, NOW + timedelta(minutes=1), seed=4)  # 12 helpers changed, 1 new
    with unit_of_work(sessions) as s:
        current = worker.refresh(s, TEAM, NOW + timedelta(minutes=2))
    assert store.wait(60)
    second = json.loads(pointer.read_text())
    assert second["matching_version"] > first["matching_version"]
    assert second["directory"] != first["directory"]
    with unit_of_work(sessions) as s:  # a worker started now loads it: nothing to refresh
        version = matching_version(s, TEAM)
    assert second["matching_version"] == version
    loaded = store.load(TEAM, MODEL, DIM)
    assert loaded is not None
    assert sorted(loaded.index.helper_ids()) == sorted(current.helper_ids())
    got, want = _scores(loaded.index), _scores(current)
    assert got == pytest.approx(want, abs=1e-6)


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_erased_text_leaves_no_snapshot_behind(engine: Engine, tmp_path: Path) -> None:
    """A snapshot holds copies of past asks' text: forgetting the asker removes it at once; an
    index built before the erasure (which keeps the parts it replaced) is never written again;
    the next build writes one without the text."""
    rng = random.Random(6)
    nrng = np.random.default_rng(6)
    sessions = session_factory(engine)
    secret = "zanzibarquux"
    with unit_of_work(sessions) as s:
        s.add(Workspace(team_id=TEAM, installed_at=NOW, settings={}))
        s.flush()
        asker = Person(team_id=TEAM, slack_user_id="UASK", display_name="asker", created_at=NOW)
        s.add(asker)
        s.flush()
        helpers = [_helper(s, rng, nrng, f"UH{h}", NOW - timedelta(days=3)) for h in range(6)]
        for h in helpers:
            _past_help(s, rng, nrng, h.id, asker.id, NOW - timedelta(days=2))
        ask = s.scalars(select(Ask).order_by(Ask.id)).first()
        assert ask is not None
        ask.challenge = f"{secret} reorg with two leads"
    root = tmp_path / "snapshots"
    store = SnapshotStore(root, "the test database", min_rows=0)
    worker = HelperIndexes(MODEL, DIM, store)
    worker.replace_after_erasure_s = None  # it keeps its index (test_index_erasure: replaced)
    with unit_of_work(sessions) as s:
        worker.refresh(s, TEAM, NOW)
    assert store.wait(60)
    assert _files_containing(root, secret.encode())  # the snapshot holds the text

    clock = FrozenClock(NOW + timedelta(minutes=5))
    report = PrivacyService(sessions, clock, snapshots=store).forget(TEAM, "UASK")
    assert report.found and report.asks_redacted == 6
    assert not _files_containing(root, secret.encode())
    assert store.load(TEAM, MODEL, DIM) is None

    # A write of an index built before the erasure (in flight meanwhile) is dropped.
    with unit_of_work(sessions) as s:
        old = worker.refresh(s, TEAM, clock.now())  # brought current, but built before
        store.save(TEAM, old, matching_version(s, TEAM), clock.now())
    assert store.wait(60)
    assert not _files_containing(root, secret.encode())
    assert store.outdated(TEAM)  # and that worker writes nothing more until it rebuilds

    # A worker starting now builds from the database and writes a snapshot without the text.
    later = clock.now() + timedelta(minutes=1)
    with unit_of_work(sessions) as s:
        current = HelperIndexes(MODEL, DIM, store).refresh(s, TEAM, later)
    assert store.wait(60)
    assert not store.outdated(TEAM)
    assert not _files_containing(root, secret.encode())
    loaded = store.load(TEAM, MODEL, DIM)
    assert loaded is not None
    assert _scores(loaded.index) == pytest.approx(_scores(current), abs=1e-6)


def test_the_profile_centroids_travel_in_the_snapshot(engine: Engine, tmp_path: Path) -> None:
    """The semantic_profile centroids summed before a snapshot is written are read back with
    it (the first ranking after a load does not sum them all again), and after changes they
    still equal a fresh build's."""
    rng = random.Random(8)
    nrng = np.random.default_rng(8)
    sessions = session_factory(engine)
    start = NOW - timedelta(days=30)
    with unit_of_work(sessions) as s:
        s.add(Workspace(team_id=TEAM, installed_at=start, settings={}))
        s.flush()
        asker = Person(team_id=TEAM, slack_user_id="UASK", display_name="asker", created_at=start)
        s.add(asker)
        s.flush()
        for h in range(30):
            person = _helper(s, rng, nrng, f"UH{h:03d}", start)
            for j in range(rng.randint(1, 4)):
                _past_help(s, rng, nrng, person.id, asker.id, start - timedelta(days=j + 1))
    store = SnapshotStore(tmp_path, "the test database", min_rows=0)
    with unit_of_work(sessions) as s:
        built = HelperIndexes(MODEL, DIM).refresh(s, TEAM, NOW)
        profiles.warm(built)
        store.save(TEAM, built, matching_version(s, TEAM), NOW, origin=NOW)
    assert store.wait(60)
    loaded = store.load(TEAM, MODEL, DIM)
    assert loaded is not None
    kept = profiles.export_state(loaded.index)
    assert kept is not None  # read back, not summed
    want = profiles.export_state(built)
    assert want is not None
    for name, values in want[0].items():
        assert np.array_equal(kept[0][name], values), name

    _changes(engine, NOW + timedelta(minutes=1), seed=8)
    later = NOW + timedelta(minutes=2)
    with unit_of_work(sessions) as s:
        worker = HelperIndexes(MODEL, DIM, store)
        refreshed = worker.refresh(s, TEAM, later)
        fresh = HelperIndexes(MODEL, DIM).refresh(s, TEAM, later)
    got, expected = _scores(refreshed), _scores(fresh)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key
