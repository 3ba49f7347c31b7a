"""The index's vector matrix read from a snapshot's file on demand
(:mod:`peerbot.services.file_rows`): the same rows as the array, never mapped into the worker.

A memory-mapped matrix kept every page a search touched resident, and the kernel maps a whole
large folio (up to 2 MB) per scattered read: the first ask at 100,000 helpers made 394 MB of
the 403 MB matrix resident. These tests pin that a loaded index reads the rows it needs and
keeps no mapping of the file, and that every way the index reads rows answers as the array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peerbot.matching import HelperIndex, HelperRecord, PastHelp, profiles
from peerbot.services import file_rows
from peerbot.services import index_snapshot as snap
from peerbot.services.file_rows import FileRows

DIM = 24


@pytest.fixture(autouse=True)
def _read_every_matrix_from_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small matrices too (by default those under 64 kB are read whole at load)."""
    monkeypatch.setattr(snap, "_MMAP_MIN_BYTES", 1)


def _matrix(tmp_path: Path, rows: int = 5000, dtype: str = "int8") -> tuple[np.ndarray, Path]:
    rng = np.random.default_rng(0)
    arr = rng.integers(-127, 128, size=(rows, DIM)).astype(dtype)
    path = tmp_path / "mat.npy"
    np.save(path, arr)
    return arr, path


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_rows_read_from_the_file_equal_the_array(tmp_path: Path, dtype: str) -> None:
    arr, path = _matrix(tmp_path, dtype=dtype)
    m = FileRows(path)
    assert (m.shape, m.dtype, len(m), m.ndim) == (arr.shape, arr.dtype, arr.shape[0], 2)
    assert np.array_equal(m[17], arr[17]) and np.array_equal(m[-1], arr[-1])
    assert np.array_equal(m[100:2100], arr[100:2100])
    assert np.array_equal(m[4990:9999], arr[4990:]) and m[30:30].shape == (0, DIM)
    assert np.array_equal(m[10:400:7], arr[10:400:7])
    rng = np.random.default_rng(1)
    for size in (1, 5, 300, 4000, 20000):  # scattered, clustered, repeated, unordered
        rows = rng.integers(0, arr.shape[0], size)
        assert np.array_equal(m[rows], arr[rows])
    sorted_rows = np.unique(rng.integers(0, arr.shape[0], 700))
    assert np.array_equal(m[sorted_rows], arr[sorted_rows])
    assert np.array_equal(m[np.arange(arr.shape[0])], arr)
    assert np.array_equal(np.asarray(m), arr)
    assert m[np.zeros(0, dtype=np.intp)].shape == (0, DIM)
    out = m[np.array([3, 4])]
    out[0, 0] = 1  # a new, writable array: the file is not touched
    assert np.array_equal(FileRows(path)[3], arr[3])


def test_reads_of_many_rows_go_a_piece_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arr, path = _matrix(tmp_path)
    monkeypatch.setattr(file_rows, "PIECE_BYTES", 10 * DIM)  # ten rows a read at most
    m = FileRows(path)
    reads: list[int] = []
    real = file_rows.os.pread

    def pread(fd: int, n: int, offset: int) -> bytes:
        reads.append(n)
        return real(fd, n, offset)

    monkeypatch.setattr(file_rows.os, "pread", pread)
    rows = np.arange(0, 3000, 3)[::-1]  # dense (gaps under GAP_ROWS), in reverse
    assert np.array_equal(m[rows], arr[rows])
    assert reads and max(reads) <= 10 * DIM


def test_bad_files_and_rows_are_refused(tmp_path: Path) -> None:
    _, path = _matrix(tmp_path, rows=50)
    m = FileRows(path)
    with pytest.raises(IndexError):
        m[np.array([0, 50])]
    with pytest.raises(IndexError):
        m[50]
    with pytest.raises(IndexError):
        m.read(10, 51)
    short = tmp_path / "short.npy"
    short.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="do not hold"):
        FileRows(short)
    flat = tmp_path / "flat.npy"
    np.save(flat, np.arange(10))
    with pytest.raises(ValueError, match="2-d"):
        FileRows(flat)


def _index(n_helpers: int = 400) -> HelperIndex:
    rng = np.random.default_rng(5)
    records = []
    for h in range(n_helpers):
        helps = tuple(
            PastHelp(f"a{h}-{j}", rng.normal(size=DIM).astype(np.float32), f"help {h} {j}")
            for j in range(8)
        )
        records.append(HelperRecord(f"U{h}", rng.normal(size=DIM).astype(np.float32), "x", helps))
    return HelperIndex.build(records, DIM, "model-a", exact_max_rows=100, n_lists=32, n_probe=3)


def _mapped(path: Path) -> bool:
    return str(path.resolve()) in Path("/proc/self/maps").read_text()


def test_a_loaded_index_searches_without_mapping_its_matrix(tmp_path: Path) -> None:
    index = _index()
    profiles.warm(index)
    where = snap.write(tmp_path, snap.capture(index, "T1", 1, None, "db"), "model-a")
    loaded = snap.load(tmp_path, "T1", "model-a", DIM, "db")
    assert loaded is not None
    got = loaded.index
    assert isinstance(got._mat, FileRows)
    rng = np.random.default_rng(6)
    for _ in range(5):
        q = rng.normal(size=DIM).astype(np.float32)
        a, b = got.search(q), index.search(q)
        assert np.array_equal(a.owners, b.owners) and np.array_equal(a.sims, b.sims)
        assert np.array_equal(
            profiles.profile_similarity(got, q), profiles.profile_similarity(index, q)
        )
    assert got.record("U7").past_helps[3].vector.tolist() == pytest.approx(
        index.record("U7").past_helps[3].vector.tolist()
    )
    # The sums the semantic_profile centroids are made of, read from the file in blocks.
    assert all(
        np.array_equal(x, y)
        for x, y in zip(got.past_help_sums(0)[:2], index.past_help_sums(0)[:2], strict=True)
    )
    if Path("/proc/self/maps").exists():
        assert not _mapped(where / "mat.npy")


def test_a_loaded_index_changed_and_written_again_loads_alike(tmp_path: Path) -> None:
    index = _index()
    snap.write(tmp_path / "a", snap.capture(index, "T1", 1, None, "db"), "model-a")
    loaded = snap.load(tmp_path / "a", "T1", "model-a", DIM, "db")
    assert loaded is not None
    got = loaded.index
    rng = np.random.default_rng(8)
    for idx in (index, got):  # rows appended to the tail of both, and one helper removed
        idx.add_past_help("U3", PastHelp("late", np.ones(DIM, np.float32), "late help"))
        idx.remove("U9")
    # Written from the file's rows and the tail (a piece at a time), read back.
    snap.write(tmp_path / "b", snap.capture(got, "T1", 2, None, "db"), "model-a")
    again = snap.load(tmp_path / "b", "T1", "model-a", DIM, "db")
    assert again is not None
    for _ in range(5):
        q = rng.normal(size=DIM).astype(np.float32)
        a, b = again.index.search(q), index.search(q)
        assert np.array_equal(a.owners, b.owners) and np.array_equal(a.sims, b.sims)


def test_a_built_index_reads_its_matrix_from_the_snapshot_once_written(tmp_path: Path) -> None:
    index, twin = _index(), _index()  # the same records built twice: one is kept in memory
    for idx in (index, twin):  # tail rows (after the base) are written and adopted too
        idx.add_past_help("U3", PastHelp("late", np.ones(DIM, np.float32), "late help"))
    store = snap.SnapshotStore(tmp_path, "db", min_rows=1)
    store.save("T1", index, 1, None)
    assert store.wait(30)
    assert isinstance(index._mat, FileRows) and index._mat.shape[0] == index._hw
    assert index._tail.shape[0] == 0 or not index._tail[: index._hw - index._mat.shape[0]].size
    rng = np.random.default_rng(9)
    for _ in range(5):
        q = rng.normal(size=DIM).astype(np.float32)
        a, b = index.search(q), twin.search(q)
        assert np.array_equal(a.owners, b.owners) and np.array_equal(a.sims, b.sims)
    # Rows added after the write go to the tail and are searched as before.
    for idx in (index, twin):
        idx.add_past_help("U5", PastHelp("later", -np.ones(DIM, np.float32), "later help"))
    q = -np.ones(DIM, np.float32)
    a, b = index.search(q), twin.search(q)
    assert np.array_equal(a.owners, b.owners) and np.array_equal(a.sims, b.sims)


def test_an_index_compacted_meanwhile_keeps_its_own_rows(tmp_path: Path) -> None:
    index = _index(600)
    captured = snap.capture(index, "T1", 1, None, "db")
    for hid in index.helper_ids()[:500]:  # enough removals to compact (renumber) the rows
        index.remove(hid)
    assert index._mat.shape[0] < 5400
    where = snap.write(tmp_path, captured, "model-a")
    before = index._mat
    snap._adopt(captured, where, None)
    assert index._mat is before and isinstance(before, np.ndarray)


def test_an_exact_float32_index_loaded_scores_alike(tmp_path: Path) -> None:
    # Exact search over float32 rows: the same cosines, bit for bit.
    rng = np.random.default_rng(11)
    records = [
        HelperRecord(
            f"U{h}",
            rng.normal(size=DIM).astype(np.float32),
            "x",
            tuple(
                PastHelp(f"a{h}-{j}", rng.normal(size=DIM).astype(np.float32), f"help {h} {j}")
                for j in range(9)
            ),
        )
        for h in range(4000)
    ]
    index = HelperIndex.build(records, DIM, "model-a", exact_max_rows=10**6)
    assert index.storage == "float32" and index.n_rows > 16 * 1024 * 2
    snap.write(tmp_path, snap.capture(index, "T1", 1, None, "db"), "model-a")
    loaded = snap.load(tmp_path, "T1", "model-a", DIM, "db")
    # Exact: every row is read per ask, so the matrix is mapped (resident anyway), not read.
    assert loaded is not None and isinstance(loaded.index._mat, np.ndarray)
    for _ in range(3):
        q = rng.normal(size=DIM).astype(np.float32)
        a, b = loaded.index.search(q), index.search(q)
        assert np.array_equal(a.owners, b.owners) and np.array_equal(a.sims, b.sims)


def test_float32_rows_read_a_span_at_a_time_score_alike(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    records = [
        HelperRecord(f"U{h}", rng.normal(size=DIM).astype(np.float32), "x", ())
        for h in range(40_000)
    ]
    index = HelperIndex.build(records, DIM, "model-a", exact_max_rows=10**6)
    twin = HelperIndex.build(records, DIM, "model-a", exact_max_rows=10**6)
    path = tmp_path / "mat.npy"
    np.save(path, index._mat)
    assert index.adopt_rows(FileRows(path), index._mat)
    q = rng.normal(size=DIM).astype(np.float32)
    a, b = index.search(q), twin.search(q)
    assert np.array_equal(a.owners, b.owners) and np.array_equal(a.sims, b.sims)
