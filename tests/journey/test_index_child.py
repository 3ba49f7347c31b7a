"""A worker with no snapshot builds its large index in a child process, and installs it.

The full build apart runs in ``python -m peerbot.services.index_child`` (a real process, its own
engine, on the test's database): it writes a snapshot, the worker loads and installs it in place
of the provisional index, and ranks exactly as a worker that built at once. Asks are answered
from the provisional index meanwhile. A child that fails or times out leaves the worker to
build in a thread; a stopping worker terminates it. A snapshot never outlives an erasure the
child did not see.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from peerbot.matching import RulesThenHybrid
from peerbot.matching.ranker import HybridRanker
from peerbot.services import index_child, index_snapshot, ranking
from peerbot.services.erasures import record_erasure
from peerbot.services.index_child import ChildBuildError, build_request, build_snapshot
from peerbot.services.index_snapshot import SnapshotStore
from peerbot.services.matching import IndexedMatcher
from peerbot.store.db import read_only, session_factory, unit_of_work
from tests.journey.test_index_snapshot_db import DIM, MODEL, NOW, TEAM
from tests.journey.test_provisional_index import RULED_OUT, _ranked, _seed

DATABASE = "the test database"


def _worker(tmp_path: Path) -> tuple[IndexedMatcher, SnapshotStore]:
    store = SnapshotStore(tmp_path / "snapshots", DATABASE, min_rows=0)
    # Every workspace's start-up gets a provisional index (the test's is small).
    return IndexedMatcher(MODEL, DIM, snapshots=store, provisional_above=0), store


def _spy_run(
    worker: IndexedMatcher, monkeypatch: pytest.MonkeyPatch, around: Callable[[Any], Any]
) -> None:
    """Wrap the worker's child runs: ``around(real_run_of_the_request)``."""
    real = worker.children.run

    def run(request: dict[str, Any]) -> dict[str, Any]:
        return around(lambda: real(request))  # type: ignore[no-any-return]

    monkeypatch.setattr(worker.children, "run", run)


def _erase(engine: Engine) -> None:
    with unit_of_work(session_factory(engine)) as s:
        record_erasure(s, TEAM, NOW)


def _team_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if TEAM in p.name) if root.exists() else []


def test_the_full_index_is_built_by_a_child_process_and_asks_are_answered_meanwhile(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _seed(engine)
    sessions = session_factory(engine)
    vector = np.random.default_rng(9).normal(size=DIM).astype(np.float32)
    full = _ranked(IndexedMatcher(MODEL, DIM), engine, vector)  # a worker that built at once
    worker, store = _worker(tmp_path)

    in_child = threading.Event()
    asked = threading.Event()

    def around(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        in_child.set()
        assert asked.wait(60)
        return run()

    _spy_run(worker, monkeypatch, around)
    warm = threading.Thread(target=worker.warm, args=(sessions, NOW))
    warm.start()
    try:
        assert in_child.wait(60)
        # The child is about to build: an ask now is ranked on the provisional index.
        assert worker._indexes.provisional(TEAM)
        during = _ranked(worker, engine, vector)
        assert sorted(u for u, _s, _e in during) == sorted(u for u, _s, _e in full)
    finally:
        asked.set()
        warm.join(120)
    assert not warm.is_alive()

    assert worker.children.succeeded == 1
    report = worker.children.last
    assert report is not None and report["written"]
    assert report["pid"] != os.getpid()
    assert report["model_modules"] == []  # the child never loaded the embedding model
    assert not worker._indexes.provisional(TEAM)
    after = _ranked(worker, engine, vector)
    assert [u for u, _s, _e in after] == [u for u, _s, _e in full]
    assert [s for _u, s, _e in after] == pytest.approx([s for _u, s, _e in full], abs=1e-9)
    assert [e for _u, _s, e in after] == [e for _u, _s, e in full]
    assert not {u for u, _s, _e in after} & RULED_OUT.keys()
    # The snapshot the worker reads is the child's (not written again by the worker).
    pointer = json.loads((store.root / f"{TEAM}.json").read_text("utf-8"))
    assert pointer["directory"] == report["directory"]
    store.wait(60)
    assert json.loads((store.root / f"{TEAM}.json").read_text("utf-8")) == pointer


@pytest.mark.parametrize("how", ["exception", "timeout"])
def test_a_failing_child_falls_back_to_the_build_in_the_worker(
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    _seed(engine, seed=5)
    sessions = session_factory(engine)
    vector = np.random.default_rng(9).normal(size=DIM).astype(np.float32)
    full = _ranked(IndexedMatcher(MODEL, DIM), engine, vector)
    worker, store = _worker(tmp_path)
    if how == "exception":  # the child raises (a request it cannot read)

        def bad_request(*args: Any) -> dict[str, Any]:
            return {**build_request(*args), "dimension": "sixteen"}

        monkeypatch.setattr("peerbot.services.matching.build_request", bad_request)
    else:  # the child is killed when it takes too long
        worker.children.timeout_s = 0.05
    with caplog.at_level(logging.INFO):
        worker.warm(sessions, NOW)
    assert worker.children.succeeded == 0
    assert "building it here" in caplog.text
    assert "full index of T1 built apart" in caplog.text  # in the worker's thread
    assert not worker._indexes.provisional(TEAM)
    after = _ranked(worker, engine, vector)
    assert [u for u, _s, _e in after] == [u for u, _s, _e in full]
    assert [s for _u, s, _e in after] == pytest.approx([s for _u, s, _e in full], abs=1e-9)
    assert store.wait(60)
    assert store.load(TEAM, MODEL, DIM) is not None  # written by the worker, as before


def test_a_stopping_worker_terminates_its_child(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _seed(engine, seed=6)
    sessions = session_factory(engine)
    worker, _store = _worker(tmp_path)
    # A child that would take a minute.
    worker.children.command = (sys.executable, "-c", "import time; time.sleep(60)")
    started = threading.Event()
    procs: list[Any] = []
    popen = index_child.subprocess.Popen

    def spy(*args: Any, **kwargs: Any) -> Any:
        proc = popen(*args, **kwargs)
        procs.append(proc)
        started.set()
        return proc

    monkeypatch.setattr(index_child.subprocess, "Popen", spy)
    warm = threading.Thread(target=worker.warm, args=(sessions, NOW))
    warm.start()
    assert started.wait(60)
    worker.close()
    warm.join(30)
    assert not warm.is_alive()
    assert procs[0].returncode is not None  # terminated, not left running
    # Stopping: nothing was built in the worker instead; the provisional index stays.
    assert worker._indexes.provisional(TEAM)
    with pytest.raises(ChildBuildError):
        worker.children.run({"team_id": TEAM})


def _request(engine: Engine, root: Path) -> dict[str, Any]:
    return build_request(
        engine.url.render_as_string(hide_password=False), TEAM, MODEL, DIM, root, DATABASE, NOW
    )


def test_the_child_writes_no_snapshot_after_an_erasure_it_did_not_see(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The child's own checks (its code, run in this process): text erased after its read and
    before its write, or while it writes."""
    _seed(engine, seed=7)
    root = tmp_path / "snapshots"
    store = SnapshotStore(root, DATABASE, min_rows=0)

    # Erased between the child's read and its write: nothing is written.
    report = build_snapshot(_request(engine, root), before_write=lambda: _erase(engine))
    assert report["written"] is False
    assert _team_files(root) == []

    # Erased while it writes (after its check): what it wrote is deleted.
    real_write = index_snapshot.write

    def write_then_erase(*args: Any) -> Path:
        where = real_write(*args)
        _erase(engine)
        return where

    monkeypatch.setattr(index_snapshot, "write", write_then_erase)
    report = build_snapshot(_request(engine, root))
    assert report["written"] is False
    assert [n for n in _team_files(root) if not n.startswith(".")] == []
    assert store.load(TEAM, MODEL, DIM) is None
    monkeypatch.setattr(index_snapshot, "write", real_write)

    # No erasure since its read: written, with the count it read (2).
    report = build_snapshot(_request(engine, root))
    assert report["written"] is True and report["erasures"] == 2
    loaded = store.load(TEAM, MODEL, DIM, 2)
    assert loaded is not None and loaded.erasures == 2


def test_the_worker_loads_no_snapshot_of_a_child_that_missed_an_erasure(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Text erased after the child's last check and before the worker loads its snapshot:
    the worker refuses it (its files go) and builds here, reading the new count."""
    _seed(engine, seed=8)
    sessions = session_factory(engine)
    worker, store = _worker(tmp_path)

    def around(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        report = run()
        assert report["written"] and report["erasures"] == 0
        _erase(engine)
        return report

    _spy_run(worker, monkeypatch, around)
    worker.warm(sessions, NOW)
    assert worker.children.succeeded == 1
    assert not worker._indexes.provisional(TEAM)
    assert worker._indexes._teams[TEAM].erasures == 1  # built here, after the erasure
    assert store.wait(60)
    names = [n for n in _team_files(store.root) if not n.startswith(".")]
    assert f"{TEAM}-0.{worker.children.last['directory'].split('.', 1)[1]}" not in names
    assert all(n.startswith(f"{TEAM}-1.") or n == f"{TEAM}.json" for n in names)
    with read_only(sessions) as s:
        assert ranking.matching_position(s, TEAM)[1] == 1
    loaded = store.load(TEAM, MODEL, DIM, 1)
    assert loaded is not None and loaded.erasures == 1


def test_the_child_starts_beside_the_model_load(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A child build shares no interpreter lock with the worker: it starts once the first
    phase is done, without waiting for the embedding model (a build in the worker waits:
    ``test_the_full_build_waits_for_the_model_and_the_first_phase_does_not``)."""
    _seed(engine, seed=9)
    sessions = session_factory(engine)
    worker, _store = _worker(tmp_path)
    worker.start_up.hold_builds()  # the model is loading
    seen: list[tuple[bool, bool]] = []

    def around(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        seen.append((worker.start_up.first_phase.is_set(), worker.start_up.model_loaded.is_set()))
        return run()

    _spy_run(worker, monkeypatch, around)
    warm = threading.Thread(target=worker.warm, args=(sessions, NOW))
    warm.start()
    warm.join(120)
    assert not warm.is_alive()
    assert seen == [(True, False)]
    assert worker.children.succeeded == 1
    assert not worker._indexes.provisional(TEAM)


@pytest.mark.parametrize("in_child", [True, False])
def test_an_ask_does_not_wait_for_the_warm_up_of_the_index_installed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, in_child: bool
) -> None:
    """The full index (the child's, loaded from its snapshot; or built in the worker) is
    warmed up (its first ranking) before the matcher's lock is taken: an ask meanwhile is
    answered at once from the provisional index, and the one after from the installed index,
    exactly as a worker that built at once, with the warm-up's caches kept."""
    _seed(engine, seed=7)
    sessions = session_factory(engine)
    vector = np.random.default_rng(9).normal(size=DIM).astype(np.float32)
    full = _ranked(IndexedMatcher(MODEL, DIM), engine, vector)  # a worker that built at once
    worker, _store = _worker(tmp_path)
    worker.build_in_child = in_child

    warming = threading.Event()
    release = threading.Event()
    real_score = HybridRanker.score

    def score(self: HybridRanker, *args: Any, **kwargs: Any) -> Any:
        # The install's warm-up: a ranking in the warm-up thread once the first phase is done.
        if threading.current_thread() is warm and worker.start_up.first_phase.is_set():
            warming.set()
            assert release.wait(60)
        return real_score(self, *args, **kwargs)

    monkeypatch.setattr(HybridRanker, "score", score)
    warm = threading.Thread(target=worker.warm, args=(sessions, NOW))
    during: list[list[tuple[str, float, str]]] = []
    ask = threading.Thread(target=lambda: during.append(_ranked(worker, engine, vector)))
    warm.start()
    try:
        assert warming.wait(120)  # built (loaded), and its warm-up ranking is held
        ask.start()
        ask.join(15)
        # Answered while the warm-up is held: it did not wait for the matcher's lock.
        assert not ask.is_alive()
        assert worker._indexes.provisional(TEAM)
        assert [sorted(u for u, _s, _e in r) for r in during] == [sorted(u for u, _s, _e in full)]
    finally:
        release.set()
        warm.join(120)
        ask.join(60)
    assert not warm.is_alive()

    assert worker.children.succeeded == int(in_child)
    assert not worker._indexes.provisional(TEAM)
    installed = worker._indexes._teams[TEAM].index
    ranker = worker._ranker
    assert isinstance(ranker, RulesThenHybrid)
    fixed = ranker._fixed
    assert fixed is not None and fixed[0] is installed  # the warm-up's state, kept
    after = _ranked(worker, engine, vector)
    assert [u for u, _s, _e in after] == [u for u, _s, _e in full]
    assert [s for _u, s, _e in after] == pytest.approx([s for _u, s, _e in full], abs=1e-9)
    assert [e for _u, _s, e in after] == [e for _u, _s, e in full]
    assert ranker._fixed is fixed  # the next ask found it
