"""The matching index written to disk and read back (:mod:`peerbot.services.index_snapshot`).

A loaded snapshot ranks as the index it was taken of, also after changes on either side; a
damaged, foreign or outdated one is refused (the caller builds instead); the files a worker
maps are never written by the changes it makes afterwards; two writers at once leave one
whole snapshot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from peerbot.matching import HelperIndex, HelperRecord, HybridRanker, PastHelp
from peerbot.matching.facts import Ask
from peerbot.matching.topics import TopicIndex, attach, topics_of
from peerbot.services import index_snapshot as snap

DIM = 32
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
WORDS = ["hiring", "firing", "feedback", "budget", "conflict", "promotion", "remote"]
WORDS += ["café", "naïve", "onboarding"]
TOPICS = ["hiring", "feedback", "conflict", "remote"]


@pytest.fixture(autouse=True)
def _map_every_array(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory-map arrays of any size (by default small ones are read whole)."""
    monkeypatch.setattr(snap, "_MMAP_MIN_BYTES", 1)


def _records(rng: np.random.Generator, n: int, prefix: str = "U") -> list[HelperRecord]:
    out = []
    for h in range(n):
        helps = tuple(
            PastHelp(
                f"{prefix}a{h}-{j}",
                rng.normal(size=DIM).astype(np.float32),
                " ".join(rng.choice(WORDS, 6)),
                NOW - timedelta(days=int(rng.integers(1, 400))),
            )
            for j in range(int(rng.integers(0, 6)))
        )
        vec = rng.normal(size=DIM).astype(np.float32) if h % 4 else None
        out.append(HelperRecord(f"{prefix}{h}", vec, " ".join(rng.choice(WORDS, 4)), helps))
    return out


def _topics(records: list[HelperRecord], rng: np.random.Generator) -> TopicIndex:
    topics = TopicIndex()
    for r in records:
        for h in r.past_helps:
            topics.add_help(r.helper_id, list(rng.choice(TOPICS, 2)), h.helped_at)
        if rng.random() < 0.3:
            topics.set_profile(r.helper_id, [str(rng.choice(TOPICS))])
    return topics


def _index(seed: int, *, ivf: bool) -> HelperIndex:
    rng = np.random.default_rng(seed)
    records = _records(rng, 240)
    index = HelperIndex.build(records, DIM, "model-a", exact_max_rows=100 if ivf else 10**6)
    attach(index, _topics(records, rng))
    return index


def _mutate(index: HelperIndex, rng: np.random.Generator) -> None:
    """Upserts, removals and new past helps, as the incremental refresh makes them."""
    topics = topics_of(index)
    assert topics is not None
    ids = index.helper_ids()
    for hid in rng.choice(ids, 30, replace=False).tolist():
        index.remove(hid)
        topics.remove(hid)
    for r in _records(rng, 20, prefix="N"):
        index.upsert(r)
        for h in r.past_helps:
            topics.add_help(r.helper_id, ["hiring"], h.helped_at)
    for hid in index.helper_ids()[:10]:
        late = PastHelp("late", rng.normal(size=DIM).astype(np.float32), "budget")
        index.add_past_help(hid, late)


def _scores(index: HelperIndex, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    for k in range(4):
        ask = Ask(
            " ".join(rng.choice(WORDS, 5)),
            rng.normal(size=DIM).astype(np.float32),
            NOW,
            topics=frozenset(rng.choice(TOPICS, 2).tolist()),
        )
        s = HybridRanker(index).score(ask).scored
        out.update({f"{k}:{s.ids[i]}": float(s.score[i]) for i in range(len(s.ids))})
    return out


def _assert_same_ranking(a: HelperIndex, b: HelperIndex, seed: int) -> None:
    got, want = _scores(a, seed), _scores(b, seed)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key


def _save(root: Path, index: HelperIndex, *, team: str = "T1", db: str = "db") -> Path:
    return snap.write(root, snap.capture(index, team, 7, NOW, db), index.model_name)


def _load(root: Path, *, team: str = "T1", model: str = "model-a", db: str = "db") -> HelperIndex:
    loaded = snap.load(root, team, model, DIM, db)
    assert loaded is not None
    assert (loaded.version, loaded.watermark) == (7, NOW)
    return loaded.index


def _hashes(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


@pytest.mark.parametrize("ivf", [False, True])
def test_a_loaded_snapshot_ranks_as_the_index_and_changes_alike(tmp_path: Path, ivf: bool) -> None:
    index = _index(1, ivf=ivf)
    _mutate(index, np.random.default_rng(2))  # overlays (tail rows, moved docs) saved too
    _save(tmp_path, index)
    loaded = _load(tmp_path)
    assert len(loaded) == len(index) and loaded.n_rows == index.n_rows
    assert topics_of(loaded) is not None
    _assert_same_ranking(loaded, index, seed=3)
    # The same changes on both sides keep them ranking alike.
    _mutate(index, np.random.default_rng(4))
    _mutate(loaded, np.random.default_rng(4))
    _assert_same_ranking(loaded, index, seed=5)
    record = loaded.record(index.helper_ids()[5])
    assert record.expertise_text == index.record(index.helper_ids()[5]).expertise_text


def test_changes_after_loading_never_write_the_files(tmp_path: Path) -> None:
    index = _index(6, ivf=True)
    where = _save(tmp_path, index)
    before = _hashes(where)
    loaded = _load(tmp_path)
    _mutate(loaded, np.random.default_rng(7))
    for hid in loaded.helper_ids()[:120]:  # enough removals to compact the rows
        loaded.remove(hid)
    loaded.sync_facts({})
    loaded.fact_columns()
    assert _hashes(where) == before
    # And the changed, loaded index still ranks as the original with the same changes.
    _mutate(index, np.random.default_rng(7))
    for hid in index.helper_ids()[:120]:
        index.remove(hid)
    _assert_same_ranking(loaded, index, seed=8)


def _corrupt_matrix(directory: Path) -> None:
    path = directory / "mat.npy"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def _truncate_matrix(directory: Path) -> None:
    path = directory / "mat.npy"
    path.write_bytes(path.read_bytes()[:-100])


def _drop_state(directory: Path) -> None:
    (directory / "state.json").unlink()


def _garble_state(directory: Path) -> None:
    (directory / "state.json").write_text("{not json")


DAMAGES = [_corrupt_matrix, _truncate_matrix, _drop_state, _garble_state]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__)
def test_a_damaged_snapshot_is_refused_and_logged(
    tmp_path: Path, damage: object, caplog: pytest.LogCaptureFixture
) -> None:
    where = _save(tmp_path, _index(9, ivf=True))
    damage(where)  # type: ignore[operator]
    with caplog.at_level(logging.WARNING):
        assert snap.load(tmp_path, "T1", "model-a", DIM, "db") is None
    assert "not used" in caplog.text


def _set_pointer(root: Path, **values: object) -> None:
    pointer = root / "T1.json"
    data = json.loads(pointer.read_text())
    data.update(values)
    pointer.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "change",
    [
        {"format": snap.FORMAT + 1},
        {"format": snap.FORMAT - 1},
        {"model_name": "model-b"},
        {"dimension": DIM * 2},
        {"database": "another database"},
        {"team_id": "T2"},
        {"directory": "../elsewhere"},
    ],
)
def test_a_foreign_or_outdated_snapshot_is_refused(
    tmp_path: Path, change: dict[str, object]
) -> None:
    _save(tmp_path, _index(10, ivf=False))
    assert snap.load(tmp_path, "T1", "model-a", DIM, "db") is not None
    _set_pointer(tmp_path, **change)
    assert snap.load(tmp_path, "T1", "model-a", DIM, "db") is None


def test_no_snapshot_or_another_model_is_none(tmp_path: Path) -> None:
    assert snap.load(tmp_path / "absent", "T1", "model-a", DIM, "db") is None
    _save(tmp_path, _index(11, ivf=False))
    assert snap.load(tmp_path, "T1", "model-b", DIM, "db") is None
    assert snap.load(tmp_path, "T9", "model-a", DIM, "db") is None


def test_two_writers_at_once_leave_one_whole_snapshot(tmp_path: Path) -> None:
    a, b = _index(12, ivf=True), _index(13, ivf=False)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(index: HelperIndex) -> None:
        try:
            start.wait()
            for _ in range(4):
                _save(tmp_path, index)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    loaded = _load(tmp_path)
    winner = a if loaded.centroids is not None else b
    _assert_same_ranking(loaded, winner, seed=14)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_store_writes_in_the_background_and_only_indexes_worth_it(tmp_path: Path) -> None:
    index = _index(15, ivf=False)
    store = snap.SnapshotStore(tmp_path, "db", min_rows=10 * index.n_rows)
    assert not store.wanted(index, unsaved=10**6, force=True)
    store = snap.SnapshotStore(tmp_path, "db", min_rows=0, save_after=50)
    assert store.wanted(index, 0, force=True) and not store.wanted(index, 49, force=False)
    lock = threading.RLock()
    with lock:  # a ranking changing the index: the writer captures it only afterwards
        store.save("T1", index, 7, NOW, lock)
        _mutate(index, np.random.default_rng(16))
    assert store.wait(30)
    loaded = store.load("T1", "model-a", DIM)
    assert loaded is not None and loaded.version == 7
    _assert_same_ranking(loaded.index, index, seed=17)


def test_snapshot_directory_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert snap.snapshot_dir(None, "sqlite:////var/peerbot/p.db") == Path("/var/peerbot/p.db.index")
    assert snap.snapshot_dir(None, "sqlite://") is None
    # PostgreSQL: on by default, in the host's state directory, one directory per database.
    pg = snap.snapshot_dir(None, "postgresql://u:secret@h:5433/db", str(tmp_path))
    assert pg is not None and pg.parent == tmp_path / "peerbot" / "index"
    assert pg.name.startswith("h_5433_db-") and "secret" not in str(pg)
    state = str(tmp_path)
    assert (
        snap.snapshot_dir(None, "postgresql://u:other@h:5433/db", state) == pg
    )  # not the password
    assert snap.snapshot_dir(None, "postgresql://u:secret@h:5433/db2", state) != pg
    assert snap.snapshot_dir(None, "postgresql://u:secret@h2:5433/db", state) != pg
    home = snap.snapshot_dir(None, "postgresql://h/db")
    assert home is not None and home.parent == Path.home() / ".local/state/peerbot/index"
    assert snap.snapshot_dir("off", "postgresql://h/db") is None
    assert snap.snapshot_dir("off", "sqlite:////var/p.db") is None
    assert snap.snapshot_dir("/srv/idx", "postgresql://h/db") == Path("/srv/idx")
    assert "secret" not in snap.database_identity("postgresql://u:secret@h/db")


def test_a_snapshot_built_before_an_erasure_is_refused_and_removed(tmp_path: Path) -> None:
    """The erasure count (migration 0017): a snapshot carrying a lower count than the
    database's is never loaded and its files go; a write of one is dropped; one carrying the
    current count loads."""
    index = _index(18, ivf=True)
    store = snap.SnapshotStore(tmp_path, "db", min_rows=0)
    store.save("T1", index, 7, NOW, erasures=2)
    assert store.wait(30)
    assert store.load("T1", "model-a", DIM, erasures=2) is not None
    assert any(p.is_dir() for p in tmp_path.iterdir())

    other = snap.SnapshotStore(tmp_path, "db", min_rows=0)  # another worker, the same host
    assert other.load("T1", "model-a", DIM, erasures=3) is None
    assert list(tmp_path.iterdir()) == []  # pointer and arrays deleted
    store.save("T1", index, 8, NOW, erasures=2)  # a worker not told yet writes it again:
    assert store.wait(30)
    assert other.load("T1", "model-a", DIM, erasures=3) is None  # refused, deleted again
    assert list(tmp_path.iterdir()) == []
    assert store.note_erasures("T1", 3)  # its next refresh reads the count
    store.save("T1", index, 8, NOW, erasures=2)  # now a write of the older index is dropped
    assert store.wait(30)
    assert list(tmp_path.iterdir()) == []
    assert store.outdated("T1")

    store.save("T1", index, 9, NOW, erasures=3)
    assert store.wait(30)
    assert not store.outdated("T1")
    loaded = other.load("T1", "model-a", DIM, erasures=3)
    assert loaded is not None and loaded.erasures == 3 and loaded.version == 9
    # Another worker's write under way (of the current count) stays; an older one goes.
    (tmp_path / ".T1-3.abc.tmp").mkdir()
    (tmp_path / "T1-2.def").mkdir()
    assert snap.SnapshotStore(tmp_path, "db").note_erasures("T1", 3)
    assert (tmp_path / ".T1-3.abc.tmp").is_dir() and not (tmp_path / "T1-2.def").exists()
    assert other.load("T1", "model-a", DIM, erasures=3) is not None
    assert not store.note_erasures("T1", 3)  # nothing new: nothing touched
    assert store.note_erasures("T1", 4)
    assert list(tmp_path.iterdir()) == []
