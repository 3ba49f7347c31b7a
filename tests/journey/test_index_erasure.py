"""An erasure on one host reaches the index snapshots of every host (migration 0017).

Two "hosts" share one database, each with its own snapshot directory and its own workers.
Host A forgets a person (or retention redacts old asks); host B never hears of it but through
the database: the erasure count it reads with the change number before each ranking.

- A worker starting on B refuses B's snapshot built before the erasure, deletes it, builds from
  the database and writes a new one, which the next worker loads as usual.
- A worker already running on B (started from its snapshot: it reads the files) deletes B's
  older snapshot files at its next refresh, replaces its index in the background and lets go
  of the deleted files (no memory map or open file of them stays in the process).
- Afterwards no snapshot file on either host holds the erased text's bytes or its vector.
"""

from __future__ import annotations

import logging
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from peerbot.clock import FrozenClock
from peerbot.matching.index import _normalised
from peerbot.services import index_snapshot as snap
from peerbot.services import ranking
from peerbot.services.erasures import erasure_count
from peerbot.services.index_snapshot import SnapshotStore
from peerbot.services.matching import IndexedMatcher
from peerbot.services.privacy import PrivacyService
from peerbot.services.ranking import HelperIndexes
from peerbot.store.db import session_factory, unit_of_work
from peerbot.store.models import (
    Ask,
    AskStatus,
    Embedding,
    EmbeddingOwner,
    HelperProfile,
    Person,
    Workspace,
)
from tests.journey.test_index_snapshot_db import DIM, MODEL, TEAM, _helper, _past_help, _scores

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
DATABASE = "the test database"
SECRET = "zanzibarquux"


@pytest.fixture(autouse=True)
def _map_every_array(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory-map arrays of any size (by default small ones are read whole, holding no file)."""
    monkeypatch.setattr(snap, "_MMAP_MIN_BYTES", 1)


def _seed(engine: Engine) -> bytes:
    """40 helpers with past helps; 4 of them helped on asks by UASK whose text holds the
    secret. Returns the bytes of the secret ask's vector as an exact index stores it."""
    rng = random.Random(11)
    nrng = np.random.default_rng(11)
    sessions = session_factory(engine)
    secret_vec = _normalised(nrng.normal(size=(1, DIM)).astype(np.float32))[0]
    start = NOW - timedelta(days=30)
    with unit_of_work(sessions) as s:
        s.add(Workspace(team_id=TEAM, installed_at=start, settings={}))
        s.flush()
        asker = Person(team_id=TEAM, slack_user_id="UASK", display_name="a", created_at=start)
        other = Person(team_id=TEAM, slack_user_id="UOTHER", display_name="o", created_at=start)
        s.add_all([asker, other])
        s.flush()
        helpers = [_helper(s, rng, nrng, f"UH{h:02d}", start) for h in range(40)]
        for h in helpers:
            for j in range(2):
                _past_help(s, rng, nrng, h.id, other.id, start - timedelta(days=j + 1))
        for h in helpers[:4]:
            _past_help(s, rng, nrng, h.id, asker.id, start - timedelta(days=5))
        secret_asks = list(s.scalars(select(Ask).where(Ask.asker_id == asker.id)))
        for ask in secret_asks:
            ask.challenge = f"{SECRET} reorg with two leads"
            ask.status = AskStatus.CLOSED
            ask.closed_at = start - timedelta(days=5)
        vector = s.scalars(
            select(Embedding).where(
                Embedding.owner_kind == EmbeddingOwner.ASK,
                Embedding.owner_id == secret_asks[0].id,
            )
        ).one()
        vector.vector = secret_vec.tobytes()
    return secret_vec.tobytes()


def _holding(root: Path, needle: bytes) -> list[Path]:
    """Files under ``root`` whose bytes contain ``needle``."""
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def _held(root: Path) -> list[str]:
    """Files under ``root`` this process maps or holds open (deleted or not)."""
    prefix = str(root.resolve())
    maps = [
        line.split(maxsplit=5)[5]
        for line in Path("/proc/self/maps").read_text().splitlines()
        if len(line.split(maxsplit=5)) == 6
    ]
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return [p for p in [*maps, *fds] if p.startswith(prefix)]


def _held_deleted(root: Path) -> list[str]:
    """Deleted files under ``root`` this process still maps or holds open."""
    return [p for p in _held(root) if p.endswith("(deleted)")]


def _both_hosts_written(
    engine: Engine, tmp_path: Path, vector: bytes, ivf: bool
) -> tuple[Path, Path, SnapshotStore]:
    """Each host builds its index and writes a snapshot holding the secret."""
    sessions = session_factory(engine)
    roots = tmp_path / "host-a", tmp_path / "host-b"
    for root in roots:
        store = SnapshotStore(root, DATABASE, min_rows=0)
        with unit_of_work(sessions) as s:
            HelperIndexes(MODEL, DIM, store).refresh(s, TEAM, NOW)
        assert store.wait(60)
        assert _holding(root, SECRET.encode()), root  # the snapshot holds the text
        if not ivf:  # an exact index keeps the float32 unit vector as it is
            assert _holding(root, vector), root
    store_a = SnapshotStore(roots[0], DATABASE, min_rows=0)
    return roots[0], roots[1], store_a


@pytest.mark.parametrize("ivf", [False, True])
def test_a_worker_starting_on_another_host_refuses_its_older_snapshot(
    engine: Engine,
    tmp_path: Path,
    ivf: bool,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if ivf:
        monkeypatch.setattr(ranking, "EXACT_MAX_ROWS", 20)
    vector = _seed(engine)
    root_a, root_b, store_a = _both_hosts_written(engine, tmp_path, vector, ivf)
    sessions = session_factory(engine)

    clock = FrozenClock(NOW + timedelta(minutes=5))
    report = PrivacyService(sessions, clock, snapshots=store_a).forget(TEAM, "UASK")
    assert report.found and report.asks_redacted == 4
    with unit_of_work(sessions) as s:
        assert erasure_count(s, TEAM) == 1
    assert not _holding(root_a, SECRET.encode())  # the erasing host's at once
    assert _holding(root_b, SECRET.encode())  # the other host's: not yet (nobody ran there)

    # A worker starting on host B: the real start-up (IndexedMatcher.warm).
    later = clock.now() + timedelta(minutes=1)
    store_b = SnapshotStore(root_b, DATABASE, min_rows=0)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        IndexedMatcher(MODEL, DIM, snapshots=store_b).warm(sessions, later)
    assert "removed the index snapshots of T1 (text erased)" in caplog.text
    assert "built the helper index" in caplog.text
    assert "loaded the index snapshot" not in caplog.text
    assert store_b.wait(60)
    for root in (root_a, root_b):
        assert not _holding(root, SECRET.encode()), root
        assert not _holding(root, vector), root

    # The snapshot written after the erasure is loaded as usual by the next worker.
    caplog.clear()
    with caplog.at_level(logging.INFO), unit_of_work(sessions) as s:
        loaded = HelperIndexes(MODEL, DIM, SnapshotStore(root_b, DATABASE, min_rows=0))
        index = loaded.refresh(s, TEAM, later)
    assert "loaded the index snapshot" in caplog.text
    assert "built the helper index" not in caplog.text
    with unit_of_work(sessions) as s:
        fresh = HelperIndexes(MODEL, DIM).refresh(s, TEAM, later)
    assert _scores(index) == pytest.approx(_scores(fresh), abs=1e-6)


@pytest.mark.parametrize("ivf", [False, True])
def test_a_running_worker_on_another_host_deletes_and_lets_go_of_its_snapshot(
    engine: Engine,
    tmp_path: Path,
    ivf: bool,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if ivf:
        monkeypatch.setattr(ranking, "EXACT_MAX_ROWS", 20)
    vector = _seed(engine)
    root_a, root_b, store_a = _both_hosts_written(engine, tmp_path, vector, ivf)
    sessions = session_factory(engine)

    # Host B's running workers started from its snapshot: they read (map) the files.
    store_b = SnapshotStore(root_b, DATABASE, min_rows=0)
    worker_b = HelperIndexes(MODEL, DIM, store_b)
    worker_b2 = HelperIndexes(MODEL, DIM, SnapshotStore(root_b, DATABASE, min_rows=0))
    for worker in (worker_b, worker_b2):
        worker.replace_after_erasure_s = 0.0
        caplog.clear()
        with caplog.at_level(logging.INFO), unit_of_work(sessions) as s:
            worker.refresh(s, TEAM, NOW)
        assert "loaded the index snapshot" in caplog.text
    assert _held(root_b)  # the arrays are mapped (and, IVF, the matrix file held open)

    clock = FrozenClock(NOW + timedelta(minutes=5))
    report = PrivacyService(sessions, clock, snapshots=store_a).forget(TEAM, "UASK")
    assert report.found
    assert _holding(root_b, SECRET.encode())  # B has not heard of it yet

    # B's next refresh (an ask) reads the erasure count with the change number.
    caplog.clear()
    with caplog.at_level(logging.INFO):
        for worker in (worker_b, worker_b2):
            with unit_of_work(sessions) as s:
                worker.refresh(s, TEAM, clock.now())
        assert worker_b.wait_replaced(60) and worker_b2.wait_replaced(60)
        assert store_b.wait(60)
    # One of the host's two workers built and wrote; the other loaded what it wrote.
    assert caplog.text.count("replaced the helper index of T1: 40 helpers") == 1
    assert caplog.text.count("replaced the helper index of T1 from its snapshot") == 1
    for root in (root_a, root_b):
        assert not _holding(root, SECRET.encode()), root
        assert not _holding(root, vector), root
    assert not _held_deleted(root_b)  # the deleted files are let go

    # B wrote a snapshot of its new index: another worker there loads it as usual.
    caplog.clear()
    later = clock.now() + timedelta(minutes=1)
    with caplog.at_level(logging.INFO), unit_of_work(sessions) as s:
        again = HelperIndexes(MODEL, DIM, SnapshotStore(root_b, DATABASE, min_rows=0))
        loaded = again.refresh(s, TEAM, later)
        current = worker_b.refresh(s, TEAM, later)
    assert "loaded the index snapshot" in caplog.text
    assert "built the helper index" not in caplog.text
    with unit_of_work(sessions) as s:
        fresh = HelperIndexes(MODEL, DIM).refresh(s, TEAM, later)
    assert _scores(loaded) == pytest.approx(_scores(fresh), abs=1e-6)
    assert _scores(current) == pytest.approx(_scores(fresh), abs=1e-6)


def test_every_erasure_is_counted_with_it_and_a_purge_keeps_the_count(engine: Engine) -> None:
    """Forget, retention and a workspace's purge each add one to the count, in their own
    transaction; the purge deletes the workspace's rows but not its count."""
    _seed(engine)
    sessions = session_factory(engine)
    clock = FrozenClock(NOW)
    privacy = PrivacyService(sessions, clock, retention_days=1)

    def count() -> int:
        with unit_of_work(sessions) as s:
            return erasure_count(s, TEAM)

    assert count() == 0
    assert privacy.forget(TEAM, "UNOBODY").found is False
    assert count() == 0  # nothing erased, nothing counted
    assert privacy.forget(TEAM, "UOTHER").found
    assert count() == 1
    assert privacy.apply_retention().asks_redacted == 4  # UASK's closed asks, 35 days old
    assert count() == 2
    assert privacy.apply_retention().asks_redacted == 0
    assert count() == 2
    privacy.purge_workspace(TEAM)
    with unit_of_work(sessions) as s:
        assert s.get(Workspace, TEAM) is None
    assert count() == 3


def test_a_purged_workspace_leaves_no_snapshot_on_other_hosts(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ask reaches a purged workspace again: a running worker of another host deletes its
    snapshot at its periodic look at every workspace's count (a refresh for another
    workspace), and a worker starting there at start-up."""
    monkeypatch.setattr(ranking, "ERASURE_SWEEP_S", 0.0)
    vector = _seed(engine)
    sessions = session_factory(engine)
    with unit_of_work(sessions) as s:  # a second workspace, still installed
        s.add(Workspace(team_id="T2", installed_at=NOW, settings={}))
        s.flush()
        person = Person(team_id="T2", slack_user_id="UT2", display_name="t2", created_at=NOW)
        s.add(person)
        s.flush()
        s.add(HelperProfile(person_id=person.id, team_id="T2", opted_in=True, expertise="x",
                            created_at=NOW, updated_at=NOW))  # fmt: skip
    root_a, root_b, store_a = _both_hosts_written(engine, tmp_path, vector, ivf=False)
    root_c = tmp_path / "host-c"
    with unit_of_work(sessions) as s:
        HelperIndexes(MODEL, DIM, writer := SnapshotStore(root_c, DATABASE, min_rows=0)).refresh(
            s, TEAM, NOW
        )
    assert writer.wait(60) and _holding(root_c, SECRET.encode())

    worker_b = HelperIndexes(MODEL, DIM, SnapshotStore(root_b, DATABASE, min_rows=0))
    worker_b.replace_after_erasure_s = 0.0
    with unit_of_work(sessions) as s:
        worker_b.refresh(s, TEAM, NOW)  # started from its snapshot
    assert _held(root_b)

    PrivacyService(sessions, FrozenClock(NOW), snapshots=store_a).purge_workspace(TEAM)
    assert not _holding(root_a, SECRET.encode())
    with unit_of_work(sessions) as s:
        worker_b.refresh(s, "T2", NOW)  # an ask in the other workspace
    assert worker_b.wait_replaced(60)
    assert not _holding(root_b, SECRET.encode()) and not _holding(root_b, vector)
    assert not _held_deleted(root_b)

    assert _holding(root_c, SECRET.encode())  # host C: nobody ran there since
    IndexedMatcher(MODEL, DIM, snapshots=SnapshotStore(root_c, DATABASE)).warm(sessions, NOW)
    assert not _holding(root_c, SECRET.encode()) and not _holding(root_c, vector)
