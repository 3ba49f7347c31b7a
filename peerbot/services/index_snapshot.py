"""A workspace's matching index on disk: written after a build, loaded at start-up.

Building the index of 100,000 helpers (1.1 million past-help vectors) reads the whole history
from the database, partitions, encodes and tokenises it: tens of seconds. A *snapshot* holds the
result: every array the :class:`~peerbot.matching.index.HelperIndex` (its BM25 index included)
and its :class:`~peerbot.matching.topics.TopicIndex` need, so that loading computes nothing.

Layout, in the snapshot directory (see :func:`snapshot_dir`)::

    <team>.json                 the pointer: format, model, team, watermark, erasure count,
                                ... and the data dir
    <team>-<erasures>.<token>/  one snapshot: one ``.npy`` file per array, ``state.json``
                                (small values) and the CRC-32 of every file (in the pointer)
    .<team>.lock                held by the worker replacing its index after an erasure

A snapshot is written into a temporary directory, renamed into place (``os.replace``), and only
then named by the pointer, itself replaced atomically: a reader sees the old snapshot or the
new one, never half of one, also when two workers write at once (the last pointer wins; both
directories are whole). Directories no pointer names are removed once they are
:data:`KEEP_OLD_S` old (a worker still reading an older one keeps its memory maps: files
removed on POSIX stay readable while open).

Loading maps the arrays (``mmap_mode``) copy-on-write (a change writes a private copy of the page
it touches; the file never changes), except the vector matrix, only ever read (rows added later
go to the index's separate tail): an IVF index reads it from the file on demand
(:class:`~peerbot.services.file_rows.FileRows`: a mapped page a search touched would stay
resident), an exact one maps it read-only (every ask reads every row). Several workers on one
host share the page cache. After a write, the IVF index written switches to the file too.

Anything unexpected (missing, truncated, corrupt, another format, model, dimension or database)
is logged and answered with ``None``: the caller builds from the database as without snapshots.

A snapshot holds copies of past asks' text and vectors (for BM25 and the vector search), and an
index changed in place keeps the parts it replaced until it is rebuilt. Erasures (a person
forgotten, retention, a purge) are counted in the database, in the erasure's transaction
(:mod:`peerbot.services.erasures`); an index carries the count read before it was built
(``erasures``, in the pointer). Only a snapshot carrying the workspace's current count is
loaded or written: an older one is refused and its files deleted (:meth:`SnapshotStore.load`),
a write in flight of an older one is dropped (and deleted if it finished meanwhile). The store
remembers the highest count it has heard of per workspace (:meth:`SnapshotStore.note_erasures`,
fed by every refresh of the index, which reads the count with the change number; and
:meth:`SnapshotStore.discard`, called by the erasure on its own host), and deletes the
workspace's older snapshot files as soon as it hears of a higher one: every host's files go at
the next refresh of any of its workers (see :class:`~peerbot.services.ranking.HelperIndexes`
for how a worker then lets go of the deleted files it still reads).
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from peerbot.matching import HelperIndex, profiles
from peerbot.matching.topics import TopicIndex, attach, topics_of
from peerbot.services.file_rows import FileRows

log = logging.getLogger(__name__)

#: Bumped whenever what is written changes meaning: other formats are never loaded.
#: (2: the pointer carries the erasure count, migration 0017.)
FORMAT = 2
#: Unnamed snapshot directories older than this are removed by the next writer.
KEEP_OLD_S = 600.0
#: Bytes checksummed at a time (``zlib.crc32`` releases the interpreter for each piece).
_CRC_PIECE = 16 << 20
#: Arrays written and read whole (the others are memory-mapped).
_MMAP_MIN_BYTES = 1 << 16


@dataclass(frozen=True, slots=True)
class Captured:
    """One workspace's index as arrays and values, taken under the index's lock, to be
    written out afterwards (:func:`write`)."""

    team_id: str
    version: int
    watermark: datetime | None
    database: str
    arrays: dict[str, Any]
    meta: dict[str, Any]
    #: When the index was built from the database (it holds nothing erased after that).
    origin: datetime | None = None
    #: The index captured: once written, it reads its vector matrix from the file
    #: (:meth:`SnapshotStore.save_later`).
    index: HelperIndex | None = None
    #: The workspace's erasure count read before the index was built (``None``: unknown,
    #: taken as 0, never written once the workspace had an erasure).
    erasures: int | None = None


@dataclass(frozen=True, slots=True)
class Loaded:
    """A snapshot read back: the index (topics attached) and what it was current with."""

    index: HelperIndex
    version: int
    watermark: datetime | None
    origin: datetime | None = None
    #: The erasure count the index was built at (see :class:`Captured`).
    erasures: int | None = None


def snapshot_dir(
    setting: str | None, database_url: str, state_home: str | None = None
) -> Path | None:
    """Where snapshots live: ``setting`` (``"off"``/``"none"``/empty: nowhere, snapshots
    disabled); by default ``<file>.index`` beside a SQLite database file, and for any other
    database (PostgreSQL) a directory of the host's per-user state, one per database:
    ``$XDG_STATE_HOME/peerbot/index/<database>`` (``~/.local/state/...`` without
    ``XDG_STATE_HOME``; ``<database>``: its host, port and name and a hash of its URL, see
    :func:`default_state_dir`). None for a SQLite database in memory.

    Each host keeps its own: erasures are counted in the database (migration 0017), so every
    host deletes its older snapshots once it hears of one (see the module). The workers of one
    host share the directory (each write is whole and atomic; the last pointer wins)."""
    if setting is not None:
        value = setting.strip()
        if value.lower() in {"", "off", "none", "false", "0"}:
            return None
        return Path(value).expanduser()
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return default_state_dir(database_url, state_home)
    if url.database in (None, "", ":memory:") or url.database.startswith("file::memory:"):
        return None
    return Path(url.database).expanduser().with_name(Path(url.database).name + ".index")


def default_state_dir(database_url: str, state_home: str | None = None) -> Path:
    """The default snapshot directory of a server database (see :func:`snapshot_dir`): under
    ``$XDG_STATE_HOME`` (or ``~/.local/state``), ``peerbot/index/<host>_<port>_<name>-<hash>``
    (the hash: of the URL without its password, so two databases on one host never share a
    directory, and the same database always finds its own again)."""
    import hashlib

    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    identity = database_identity(database_url)
    label = _safe(f"{url.host or 'local'}_{url.port or ''}_{url.database or ''}")[:60]
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:12]
    state = state_home or str(Path.home() / ".local" / "state")
    return Path(state).expanduser() / "peerbot" / "index" / f"{label}-{digest}"


def database_identity(database_url: str) -> str:
    """What identifies the database a snapshot was taken of (its URL without the password):
    a snapshot of another database is never loaded."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    return url.render_as_string(hide_password=True) if url.password else str(url)


def _safe(team_id: str) -> str:
    # No "-" (it separates the team from the snapshot's token in directory names).
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in team_id)


def capture(
    index: HelperIndex,
    team_id: str,
    version: int,
    watermark: datetime | None,
    database: str,
    origin: datetime | None = None,
    erasures: int | None = None,
) -> Captured:
    """The state of ``index`` (and its topics) to write: cheap (arrays that later changes
    write in place are copied; the vector matrix, never written, is shared). Call it where the
    index may not change meanwhile (under the matcher's lock)."""
    arrays, meta = index.export_state()
    topics = topics_of(index)
    if topics is not None:
        t_arrays, t_meta = topics.export_state()
        arrays.update({f"topics_{k}": v for k, v in t_arrays.items()})
        meta["topics"] = t_meta
    centroids = profiles.export_state(index)
    if centroids is not None:
        arrays.update({f"profiles_{k}": v for k, v in centroids[0].items()})
        meta["profiles"] = centroids[1]
    return Captured(team_id, version, watermark, database, arrays, meta, origin, index, erasures)


def _write_npy(path: Path, value: Any) -> int:
    """Write one array (or the rows of several, one after the other) as ``.npy``; its CRC-32.
    Arrays are written :data:`_CRC_PIECE` bytes of rows at a time (a matrix read from a
    snapshot file, :class:`FileRows`, is never read whole)."""
    parts = [p if isinstance(p, FileRows) else np.asarray(p) for p in
             (value if isinstance(value, tuple) else (value,))]  # fmt: skip
    first = parts[0]
    shape = (sum(int(p.shape[0]) for p in parts), *first.shape[1:])
    header = {
        "descr": np.lib.format.dtype_to_descr(first.dtype),
        "fortran_order": False,
        "shape": shape,
    }
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, header)
    crc = zlib.crc32(head.getvalue())
    with open(path, "wb") as f:
        f.write(head.getvalue())
        for part in parts:
            if part.shape[1:] != first.shape[1:]:
                raise ValueError("rows of different shapes")
            row_bytes = max(1, int(np.prod(part.shape[1:], dtype=np.int64)) * first.dtype.itemsize)
            step = max(1, _CRC_PIECE // row_bytes)
            for lo in range(0, int(part.shape[0]), step):
                arr = np.ascontiguousarray(part[lo : lo + step], dtype=first.dtype)
                view = memoryview(arr.reshape(-1).view(np.uint8).data) if arr.size else b""
                crc = zlib.crc32(view, crc)
                f.write(view)
        f.flush()
        os.fsync(f.fileno())
    return crc


def _crc(path: Path) -> int:
    """CRC-32 of the file's bytes, read a piece at a time into one buffer (not through a
    memory map: every mapped page read would count in the worker's RSS until unmapped, the
    whole 500 MB of a 100,000-helper snapshot at its peak)."""
    buf = bytearray(_CRC_PIECE)
    view = memoryview(buf)
    crc = 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(view):
            crc = zlib.crc32(view[:n], crc)
    view.release()
    return crc


def write(root: Path, captured: Captured, model_name: str) -> Path:
    """Write ``captured`` under ``root`` atomically (see the module); its directory."""
    root.mkdir(parents=True, exist_ok=True)
    team = _safe(captured.team_id)
    # The erasure count in the names: a directory not named by the pointer yet (being
    # written, or renamed into place a moment ago) is told apart from one of an older count.
    count = captured.erasures or 0
    tmp = Path(tempfile.mkdtemp(prefix=f".{team}-{count}.", suffix=".tmp", dir=root))
    try:
        files: dict[str, dict[str, Any]] = {}
        for name, value in captured.arrays.items():
            path = tmp / f"{name}.npy"
            files[name] = {"crc": _write_npy(path, value), "size": path.stat().st_size}
        state = json.dumps(captured.meta, separators=(",", ":")).encode("utf-8")
        (tmp / "state.json").write_bytes(state)
        final = root / f"{team}-{count}.{uuid.uuid4().hex}"
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer = {
        "format": FORMAT,
        "model_name": model_name,
        "dimension": captured.meta["dimension"],
        "team_id": captured.team_id,
        "database": captured.database,
        "matching_version": captured.version,
        "watermark": None if captured.watermark is None else captured.watermark.isoformat(),
        "origin": None if captured.origin is None else captured.origin.isoformat(),
        "erasures": captured.erasures,
        "directory": final.name,
        "files": files,
        "state_crc": zlib.crc32(state),
        "written_at": time.time(),
    }
    fd, tmp_pointer = tempfile.mkstemp(prefix=f".{team}-{count}.", suffix=".json.tmp", dir=root)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(pointer, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp_pointer, root / f"{team}.json")
    _remove_old(root, team, keep=final.name)
    return final


def _remove_old(root: Path, team: str, keep: str) -> None:
    """Remove this team's snapshot directories that no pointer names, once they are old."""
    try:
        named = json.loads((root / f"{team}.json").read_text("utf-8")).get("directory")
    except (OSError, ValueError):
        named = keep
    cutoff = time.time() - KEEP_OLD_S
    for path in root.iterdir():
        if path.name in (keep, named) or not path.name.startswith((f"{team}-", f".{team}-")):
            continue
        try:
            if path.lstat().st_mtime < cutoff:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink()
        except OSError:
            pass


def _count(value: object) -> int:
    """A pointer's erasure count (none recorded: 0, as before any erasure)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _count_of(name: str, team: str) -> int:
    """The erasure count in a snapshot directory's name (``<team>-<count>.<token>``, or
    ``.<team>-<count>.<random>.tmp`` while written); -1 when it has none."""
    rest = name.removeprefix(".").removeprefix(f"{team}-")
    head = rest.split(".", 1)[0]
    return int(head) if head.isdigit() and "." in rest else -1


class SnapshotError(ValueError):
    """The snapshot cannot be used (the message says why)."""


def load(
    root: Path,
    team_id: str,
    model_name: str,
    dimension: int,
    database: str,
    erasures: int = 0,
) -> Loaded | None:
    """The workspace's snapshot under ``root``, or ``None`` (logged) when there is none or it
    cannot be used (also when it was built before the workspace's ``erasures``-th erasure):
    then build from the database."""
    started = time.monotonic()
    if not (root / f"{_safe(team_id)}.json").exists():
        log.info("no index snapshot of %s in %s: building the index", team_id, root)
        return None
    try:
        loaded = _load(root, team_id, model_name, dimension, database, erasures)
    except Exception as exc:  # any defect of the files means: build instead
        log.warning("index snapshot of %s not used (%s): building the index", team_id, exc)
        return None
    log.info(
        "loaded the index snapshot of %s: %d helpers in %.2f s",
        team_id,
        len(loaded.index),
        time.monotonic() - started,
    )
    return loaded


def _load(
    root: Path, team_id: str, model_name: str, dimension: int, database: str, erasures: int
) -> Loaded:
    team = _safe(team_id)
    pointer = json.loads((root / f"{team}.json").read_text("utf-8"))
    expected = {
        "format": FORMAT,
        "model_name": model_name,
        "dimension": dimension,
        "team_id": team_id,
        "database": database,
    }
    for key, want in expected.items():
        if pointer.get(key) != want:
            raise SnapshotError(f"{key} is {pointer.get(key)!r}, not {want!r}")
    if _count(pointer.get("erasures")) < erasures:
        raise SnapshotError("built before text was erased in the workspace")
    data = root / str(pointer["directory"])
    if Path(str(pointer["directory"])).name != pointer["directory"]:
        raise SnapshotError("the pointer names a directory elsewhere")
    state = (data / "state.json").read_bytes()
    if zlib.crc32(state) != pointer["state_crc"]:
        raise SnapshotError("state.json does not match its checksum")
    meta = json.loads(state)
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name, info in pointer["files"].items():
        path = data / f"{name}.npy"
        size = path.stat().st_size
        if size != info["size"]:
            raise SnapshotError(f"{name}.npy has {size} bytes, not {info['size']}")
        if _crc(path) != info["crc"]:
            raise SnapshotError(f"{name}.npy does not match its checksum")
        if size < _MMAP_MIN_BYTES:
            arrays[name] = np.load(path, allow_pickle=False)
        else:
            # The matrix is only read. With IVF partitions a search reads a few of them and
            # some scattered rows: read from the file on demand, not mapped (a mapped page
            # stays resident: see peerbot.services.file_rows). An exact index scores every
            # row for every ask: mapped read-only, as it is all read anyway. Every other array
            # may be written by later changes: copy-on-write maps (the file never changes).
            if name == "mat" and "centroids" in pointer["files"]:
                arrays[name] = FileRows(path)  # type: ignore[assignment]
            elif name == "mat":
                arrays[name] = np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
            else:
                arrays[name] = np.asarray(np.load(path, mmap_mode="c", allow_pickle=False))
    index = HelperIndex.from_state(arrays, meta)
    if index.model_name != model_name or index.dimension != dimension:
        raise SnapshotError("the index inside was built for another model")
    if "profiles" in meta:
        prefix = "profiles_"
        profiles.restore_state(
            index,
            {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)},
            meta["profiles"],
        )
    if "topics" in meta:
        prefix = "topics_"
        attach(
            index,
            TopicIndex.from_state(
                {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)},
                meta["topics"],
            ),
        )
    watermark, origin = pointer.get("watermark"), pointer.get("origin")
    return Loaded(
        index,
        int(pointer["matching_version"]),
        None if watermark is None else datetime.fromisoformat(watermark),
        None if origin is None else datetime.fromisoformat(origin),
        _count(pointer.get("erasures")),
    )


class SnapshotStore:
    """Snapshots of the workspaces' indexes in one directory: read at start-up, written in a
    background thread (one write at a time; a capture taken meanwhile is written next, the
    ones it supersedes never are).

    ``min_rows``: indexes of fewer vectors are not written (they build in well under a
    second); ``save_after``: helpers changed since the last write before the next one.
    """

    def __init__(
        self, root: Path, database: str, *, min_rows: int = 20_000, save_after: int = 500
    ) -> None:
        self.root = root
        self.database = database
        self.min_rows = min_rows
        self.save_after = save_after
        self._lock = threading.Lock()
        self._pending: dict[
            str, tuple[Callable[[], Captured], AbstractContextManager[object] | None]
        ] = {}
        self._writer: threading.Thread | None = None
        #: Per workspace, the highest erasure count heard of (see :meth:`note_erasures`).
        self._erasures: dict[str, int] = {}

    def load(
        self, team_id: str, model_name: str, dimension: int, erasures: int | None = None
    ) -> Loaded | None:
        """The workspace's snapshot (see :func:`load`), if built at its latest erasure count
        (``erasures``, read from the database, or the highest this store heard of): an older
        one is refused and its files deleted."""
        if erasures is not None:
            self.note_erasures(team_id, erasures)
        with self._lock:
            known = self._erasures.get(team_id, 0)
        loaded = load(self.root, team_id, model_name, dimension, self.database, known)
        if loaded is None:
            self._remove_stale(team_id, known)
        return loaded

    @contextmanager
    def exclusive(self, team_id: str) -> Iterator[None]:
        """Held by one process of the host at a time, per workspace (a lock file in the
        directory): a worker replacing its index after an erasure holds it while it builds and
        writes, so that the host's other workers, waiting meanwhile, load what it wrote
        instead of each building their own. Without a usable directory: not held."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            f = open(self.root / f".{_safe(team_id)}.lock", "ab")  # noqa: SIM115 - closed below
        except OSError:
            yield
            return
        with f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def note_erasures(self, team_id: str, erasures: int) -> bool:
        """The workspace has had ``erasures`` erasures (its count in the database, read by a
        refresh of the index): when that is more than this store knew of, its snapshot files
        built before are deleted now. Whether it was more. Cheap when it is not (no file is
        touched)."""
        with self._lock:
            known = self._erasures.get(team_id)
            if known is not None and erasures <= known:
                return False
            self._erasures[team_id] = erasures
        if known is None and not erasures:
            return False  # never erased: nothing to look for
        self._remove_stale(team_id, erasures)
        return True

    def discard(self, team_id: str, erasures: int) -> None:
        """Text was erased in the workspace (call after the erasure committed; ``erasures``:
        the count it made, :func:`~peerbot.services.erasures.record_erasure`): its snapshots
        built before are removed now, and none built before is written or loaded from now on
        (workers write a new one once they rebuilt)."""
        self.note_erasures(team_id, erasures)

    def _remove_stale(self, team_id: str, erasures: int) -> None:
        """Delete the workspace's snapshot files built before its ``erasures``-th erasure: the
        pointer (when it names such a snapshot) and every directory of an older count (by its
        name; however recent), named by the pointer or not (one being written by another
        worker of a current count stays)."""
        team = _safe(team_id)
        pointer = self.root / f"{team}.json"
        keep = None
        removed = 0
        with self._lock:
            try:
                try:
                    named = json.loads(pointer.read_text("utf-8"))
                except FileNotFoundError:
                    named = None
                except (OSError, ValueError):
                    named = {}  # unreadable: removed
                if named is not None:
                    if _count(named.get("erasures")) >= erasures and named.get("directory"):
                        keep = str(named["directory"])
                    else:
                        pointer.unlink(missing_ok=True)
                        removed += 1
                if not self.root.is_dir():
                    return
                for path in self.root.iterdir():
                    if path.name == keep or not path.name.startswith((f"{team}-", f".{team}-")):
                        continue
                    if _count_of(path.name, team) >= erasures:
                        continue
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
                    removed += 1
                (self.root / f"{team}.erased").unlink(missing_ok=True)  # format 1's marker
            except OSError:
                log.exception("could not remove the index snapshots of %s", team_id)
                return
        if removed:
            log.info("removed the index snapshots of %s (text erased)", team_id)

    def writable(self, team_id: str, erasures: int | None) -> bool:
        """Whether an index built at erasure count ``erasures`` may be written: it holds
        nothing erased since (see the module)."""
        with self._lock:
            known = self._erasures.get(team_id, 0)
        return (erasures or 0) >= known

    def outdated(self, team_id: str) -> bool:
        """Whether the workspace has no snapshot a worker may load (none, or one built before
        its latest erasure): the next refresh with changes then writes one, if it may."""
        team = _safe(team_id)
        try:
            pointer = json.loads((self.root / f"{team}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return True
        with self._lock:
            known = self._erasures.get(team_id, 0)
        return _count(pointer.get("erasures")) < known

    def wanted(
        self, index: HelperIndex, unsaved: int, force: bool, team_id: str | None = None
    ) -> bool:
        """Whether ``index`` (``unsaved`` helpers changed since the last write) is worth
        writing now (``force``: it was just built; with ``team_id``, also when the workspace
        has no loadable snapshot: see :meth:`outdated`)."""
        return index.n_rows >= self.min_rows and (
            force or unsaved >= self.save_after or (team_id is not None and self.outdated(team_id))
        )

    def save(
        self,
        team_id: str,
        index: HelperIndex,
        version: int,
        watermark: datetime | None,
        lock: AbstractContextManager[object] | None = None,
        origin: datetime | None = None,
        erasures: int | None = None,
    ) -> None:
        """Write ``index`` (current with ``version`` and ``watermark``; built from the
        database at ``origin``, after its ``erasures``-th erasure) in the background.

        Its state is captured by the writer thread, holding ``lock`` (the lock under which
        the index changes) meanwhile: no request waits for the capture itself. A save asked
        for while one is pending replaces it.
        """

        def take() -> Captured:
            return capture(index, team_id, version, watermark, self.database, origin, erasures)

        self.save_later(team_id, take, lock)

    def save_later(
        self,
        team_id: str,
        take: Callable[[], Captured],
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        """Write what ``take()`` captures (called in the writer thread, under ``lock``)."""
        with self._lock:
            self._pending[team_id] = (take, lock)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_pending, name="index-snapshot", daemon=True
                )
                self._writer.start()

    def _write_pending(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._writer = None
                    return
                team_id = next(iter(self._pending))
                take, lock = self._pending.pop(team_id)
            self._write_one(team_id, take, lock)

    def _write_one(
        self,
        team_id: str,
        take: Callable[[], Captured],
        lock: AbstractContextManager[object] | None,
    ) -> None:
        started = time.monotonic()
        try:
            with lock or nullcontext():
                captured = take()
            if not self.writable(team_id, captured.erasures):
                log.info("index snapshot of %s not written: text erased since", team_id)
                return
            where = write(self.root, captured, str(captured.meta["model_name"]))
        except Exception:
            log.exception("could not write the index snapshot of %s", team_id)
            return
        if not self.writable(team_id, captured.erasures):  # an erasure heard of meanwhile
            with self._lock:
                known = self._erasures.get(team_id, 0)
            self._remove_stale(team_id, known)
            log.info("index snapshot of %s removed: text erased since", team_id)
            return
        _adopt(captured, where, lock)
        log.info(
            "wrote the index snapshot of %s to %s in %.1f s",
            team_id,
            where,
            time.monotonic() - started,
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every write asked for is done; whether it is (for tests and shutdown)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                writer = self._writer
            if writer is None:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            writer.join(left)


def _adopt(captured: Captured, where: Path, lock: AbstractContextManager[object] | None) -> None:
    """After ``captured`` was written to ``where``: the index it was taken of (IVF) reads its
    vector matrix from the file from now on (as a loaded snapshot does), and the copy in memory (422
    MB at 1.1 million int8 rows after a build) is freed; unless the rows were renumbered
    since (then it keeps its own, see :meth:`HelperIndex.adopt_rows`)."""
    index, mat = captured.index, captured.arrays.get("mat")
    if index is None or mat is None or index.centroids is None:
        return  # an exact index scores every row per ask: it keeps them in memory
    base = mat[0] if isinstance(mat, tuple) else mat
    try:
        rows = FileRows(where / "mat.npy")
    except (OSError, ValueError):
        log.exception("could not read back the index snapshot in %s", where)
        return
    with lock or nullcontext():
        adopted = index.adopt_rows(rows, base)
    if not adopted:
        rows.close()


def snapshot_store(
    setting: str | None, database_url: str, state_home: str | None = None
) -> SnapshotStore | None:
    """The store the settings name (``INDEX_SNAPSHOT_DIR``, ``XDG_STATE_HOME``; see
    :func:`snapshot_dir`), or ``None`` when snapshots are off."""
    root = snapshot_dir(setting, database_url, state_home)
    return None if root is None else SnapshotStore(root, database_identity(database_url))
