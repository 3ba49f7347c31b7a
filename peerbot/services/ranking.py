"""Keeping one in-memory :class:`HelperIndex` per workspace current with the database.

The index holds what is costly to rebuild: expertise and past-help vectors and texts. The facts
(capacity, offers, ratings, ...) are not loaded here: each ranking loads them once in its
snapshot (see :mod:`peerbot.services.matching`) and brings the index's copy up to date.

Keeping current, also across several worker processes: before each ranking, the workspace's
change number (:func:`matching_version`, bumped by database triggers on every change to helper
profiles, expertise vectors, pairs, ...) is read: one primary-key lookup. When it differs from
the one the index was built at, the helpers touched since the last refresh (with a safety
overlap for transactions that committed late) are reloaded and upserted. Every process does
this on its own, so a profile saved on one worker is seen by the next ask on any worker.

With index snapshots on, the same read brings the workspace's erasure count
(:func:`matching_position`, :mod:`peerbot.services.erasures`). An index built before the
latest erasure keeps copies of the erased text (an upsert leaves the parts it replaced; a
deleted helper profile is not among the changes), and may read them from a snapshot's files
deleted since (a memory map or an open file keeps their bytes on disk). So when the count grows
the host's older snapshot files are deleted at once (:meth:`SnapshotStore.note_erasures`), and
the index is replaced in the background (:meth:`HelperIndexes.replace_after_erasure_s`): from a
snapshot another worker wrote since the erasure, else built from the database (then written).
Asks meanwhile rank with the old one, whose erased helpers and past helps the refresh has
already taken out of ranking; once replaced, it is dropped and its files let go.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, TypeVarTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    Connection,
    DateTime,
    Select,
    String,
    Subquery,
    and_,
    func,
    select,
    type_coerce,
    union,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from peerbot.matching import HelperColumns, HelperIndex, HelperRecord, PastHelp
from peerbot.matching.index import EXACT_MAX_ROWS, release_free_memory
from peerbot.services.bulk_read import TIME_PIECE as _TIME_PIECE
from peerbot.services.bulk_read import parse_time, partitions
from peerbot.services.bulk_read import timestamps as _timestamps
from peerbot.services.erasures import erasure_count_of
from peerbot.services.index_snapshot import Captured, Loaded, SnapshotStore, capture
from peerbot.services.topic_index import attach_topics, update_topics
from peerbot.store.db import read_only
from peerbot.store.models import (
    Ask,
    Embedding,
    EmbeddingOwner,
    HelperProfile,
    IndexErasure,
    MatchingVersion,
    Pair,
    Person,
)
from peerbot.store.types import VECTOR_DTYPE, vector_from_bytes

log = logging.getLogger(__name__)
_Ts = TypeVarTuple("_Ts")

OVERLAP = timedelta(minutes=10)
#: More changed helpers than this (and than a quarter of the index) rebuild it instead.
REBUILD_AT = 1000
#: Every this many seconds (and at a worker's first refresh) a refresh also reads every
#: workspace's erasure count (one small read): the host's snapshots of workspaces this worker
#: does not rank for (a purged one, say) go too.
ERASURE_SWEEP_S = 300.0


#: A start-up that must build an index of more past helps than this (no snapshot to load)
#: serves asks meanwhile from a provisional index of the helpers' profiles alone (see
#: :meth:`HelperIndexes.start`) while the full one builds (in a child process with snapshots
#: on); a smaller one builds in full at once (under a second). Session 9: at 10,000 helpers
#: (100,000 past helps) a build in the worker left its RSS at 821 MB after the first ask, one in
#: a child 594 MB (the target is 800).
PROVISIONAL_ABOVE = 20_000


@dataclass
class _TeamIndex:
    index: HelperIndex
    version: int
    watermark: datetime | None
    #: Helpers upserted or removed since the index was last written to (or read from) disk.
    unsaved: int = 0
    #: When it was built from the database (a loaded snapshot: when that one was): the parts
    #: changes replaced stay until a rebuild, so text erased later may still be inside.
    origin: datetime | None = None
    #: The workspace's erasure count read before it was built (or its snapshot's): an index
    #: built before a later erasure is replaced, and never written.
    erasures: int | None = None
    #: Built from the helpers' profiles alone while the full index builds (never written).
    provisional: bool = False


@dataclass(frozen=True)
class Built:
    """A full index built apart (:meth:`HelperIndexes.build_apart`, or in a child process
    and loaded from the snapshot it wrote: :meth:`HelperIndexes.load_apart`), to be
    installed."""

    index: HelperIndex
    #: The workspace's change number it was read at, and the time its read began.
    version: int
    at: datetime
    #: The workspace's erasure count read before it (``None``: snapshots off).
    erasures: int | None = None
    #: When it was built from the database (``None``: at ``at``).
    origin: datetime | None = None
    #: Loaded from a snapshot on disk: not written again once installed.
    written: bool = False
    #: Helpers upserted or removed since it was read (:meth:`HelperIndexes.bring_up`).
    unsaved: int = 0


def matching_version(session: Session, team_id: str) -> int:
    """The workspace's change number (:class:`~peerbot.store.models.MatchingVersion`): it grows
    with every change matching reads from the database, so an unchanged number means the index
    and the helpers' facts are current. One primary-key read."""
    return int(
        session.scalar(select(MatchingVersion.version).where(MatchingVersion.team_id == team_id))
        or 0
    )


def matching_position(session: Session, team_id: str) -> tuple[int, int]:
    """The workspace's change number (:func:`matching_version`) and erasure count
    (:func:`~peerbot.services.erasures.erasure_count`), in one statement."""
    row = session.execute(
        select(
            select(MatchingVersion.version)
            .where(MatchingVersion.team_id == team_id)
            .scalar_subquery(),
            erasure_count_of(team_id),
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def _changed_helpers(team_id: str, since: datetime) -> Subquery:
    """Person ids of the helpers touched since ``since``, as a subquery (no bound id lists)."""
    return union(
        select(HelperProfile.person_id.label("pid")).where(
            HelperProfile.team_id == team_id, HelperProfile.updated_at >= since
        ),
        select(Embedding.owner_id).where(
            Embedding.team_id == team_id,
            Embedding.owner_kind == EmbeddingOwner.HELPER_EXPERTISE,
            Embedding.created_at >= since,
        ),
        select(Pair.helper_id).where(Pair.team_id == team_id, Pair.created_at >= since),
    ).subquery()


def _live(stmt: Select[*_Ts], person_id: Any) -> Select[*_Ts]:
    """``stmt`` joined to the opted-in, not deleted helper whose person id is ``person_id``."""
    return (
        stmt.join(HelperProfile, HelperProfile.person_id == person_id)
        .join(Person, Person.id == HelperProfile.person_id)
        .where(HelperProfile.opted_in.is_(True), Person.deleted.is_(False))
    )


def _helper_statements(
    team_id: str, model: str, scope: Select[Any] | None, *, scan: bool = False
) -> tuple[
    Select[int, bool, str, list[str], str, bool],
    Select[int, bytes, int],
    Select[int, int, int, Any, str, bytes],
]:
    """The three reads of an index load: helper profiles, expertise vectors, past helps.

    ``scan`` (a full build on SQLite): the past helps are read walking the pairs table in
    its own (creation) order, not through the workspace's index on it, whose helper order
    sends every row's lookups of its ask and vector to another page; and their times come as
    the stored text (parsed in bulk by :func:`_timestamps`)."""
    stmt = (
        select(
            HelperProfile.person_id,
            HelperProfile.opted_in,
            HelperProfile.expertise,
            HelperProfile.topics,
            Person.slack_user_id,
            Person.deleted,
        )
        .join(Person, Person.id == HelperProfile.person_id)
        .where(HelperProfile.team_id == team_id)
    )
    exp_stmt = _live(
        select(Embedding.owner_id, Embedding.vector, Embedding.dim), Embedding.owner_id
    ).where(
        Embedding.team_id == team_id,
        Embedding.owner_kind == EmbeddingOwner.HELPER_EXPERTISE,
        Embedding.model_name == model,
    )
    help_stmt = _live(
        select(
            Pair.helper_id,
            Pair.id,
            Pair.ask_id,
            # The plain type: the UTC is attached below, without a Python call per value
            # through the column's TypeDecorator (100,000 rows at 10,000 helpers).
            type_coerce(Pair.created_at, String if scan else DateTime(timezone=True)),
            Ask.challenge,
            Embedding.vector,
        )
        .select_from(Pair)
        .join(Ask, Ask.id == Pair.ask_id)
        .join(
            Embedding,
            and_(
                Embedding.owner_kind == EmbeddingOwner.ASK,
                Embedding.owner_id == Pair.ask_id,
                Embedding.model_name == model,
            ),
        ),
        Pair.helper_id,
    ).where((Pair.team_id.concat("") if scan else Pair.team_id) == team_id)
    # No ORDER BY: sorting rows that carry their vectors made SQLite build a temporary B-tree
    # (half the query's time); each helper's past helps are put in pair order afterwards.
    if scope is not None:
        stmt = stmt.where(HelperProfile.person_id.in_(scope))
        exp_stmt = exp_stmt.where(Embedding.owner_id.in_(scope))
        help_stmt = help_stmt.where(Pair.helper_id.in_(scope))
    return stmt, exp_stmt, help_stmt


def _expertise_text(expertise: str | None, topics: list[str] | None) -> str:
    text = expertise or ""
    if topics:
        text += "\nTopics: " + ", ".join(topics)
    return text


def load_columns(
    session: Session, team_id: str, model: str, *, past_helps: bool = True
) -> HelperColumns:
    """All of the workspace's opted-in helpers as the index's columnar build input (what
    :func:`load_records` gives, without an object per past help: at 100,000 helpers the
    1.1 million past helps stay in one matrix and a few lists). Facts are left empty.
    ``past_helps=False``: their profiles alone (expertise text and vector), no past help."""
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    stmt, exp_stmt, help_stmt = _helper_statements(team_id, model, None, scan=sqlite)
    live = [r for r in conn.execute(stmt).all() if r.opted_in and not r.deleted]
    n = len(live)
    pids = np.fromiter((r.person_id for r in live), dtype=np.int64, count=n)
    by_pid = np.argsort(pids, kind="stable")

    def positions(owners: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Position in ``live`` of each person id (-1: not a live helper)."""
        if not n:
            return np.full(owners.size, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(pids[by_pid], owners), n - 1)
        found = pids[by_pid][at] == owners
        return np.where(found, by_pid[at], -1)

    exp_rows = [row for part in partitions(conn, exp_stmt, _STREAM_ROWS) for row in part]
    exp_pos = positions(np.fromiter((r[0] for r in exp_rows), dtype=np.int64, count=len(exp_rows)))
    keep_at = np.argsort(exp_pos, kind="stable")
    keep_at = keep_at[exp_pos[keep_at] >= 0]
    keep = keep_at.tolist()
    exp_matrix = _vector_rows([exp_rows[i][1] for i in keep], [exp_rows[i][2] for i in keep])
    del exp_rows
    dim = exp_matrix.shape[1] if keep else 0
    read = _stream_past_helps(conn, help_stmt, team_id, None) if past_helps else None
    if read is None:
        mat = np.zeros((0, dim), np.float32)
        help_pos = np.zeros(0, dtype=np.int64)
        order = np.zeros(0, dtype=np.intp)
        ask_ids: list[str] = []
        texts: list[str] = []
        times = np.zeros(0)
    else:
        owners, pair_ids, mat, ask_ids, created, texts = read
        times = _timestamps(created)
        help_pos = positions(owners)
        order = np.lexsort((pair_ids, help_pos))
        order = order[help_pos[order] >= 0]
        at = order.tolist()
        ask_ids = [ask_ids[i] for i in at]
        texts = [texts[i] for i in at]
        times = times[order]
    return HelperColumns(
        helper_ids=[r.slack_user_id for r in live],
        expertise_texts=[_expertise_text(r.expertise, r.topics) for r in live],
        expertise_of=exp_pos[keep_at].astype(np.intp),
        expertise_vectors=exp_matrix if keep else np.zeros((0, mat.shape[1]), np.float32),
        help_counts=np.bincount(help_pos[order], minlength=n).astype(np.int64),
        help_vectors=mat,
        help_vector_rows=order.astype(np.intp),
        help_ask_ids=ask_ids,
        help_texts=texts,
        help_times=times,
    )


def build_index(session: Session, team_id: str, model: str, dimension: int) -> HelperIndex:
    """The workspace's full index (and its topics) read from the database in ``session``
    (logged): what a worker builds, and what a child process builds for it
    (:mod:`peerbot.services.index_child`)."""
    t0, c0 = time.monotonic(), time.thread_time()
    cols = load_columns(session, team_id, model)
    t1, c1 = time.monotonic(), time.thread_time()
    index = HelperIndex.build(cols, dimension, model, exact_max_rows=EXACT_MAX_ROWS)
    del cols
    t2, c2 = time.monotonic(), time.thread_time()
    attach_topics(index, session, team_id)
    t3, c3 = time.monotonic(), time.thread_time()
    log.info(
        "index of %s: read %.1f s (CPU %.1f), built %.1f s (CPU %.1f), "
        "topics %.1f s (CPU %.1f)",
        team_id, t1 - t0, c1 - c0, t2 - t1, c2 - c1, t3 - t2, c3 - c2,
    )  # fmt: skip
    release_free_memory()
    return index


def _vector_rows(blobs: list[bytes], dims: list[int]) -> npt.NDArray[np.float32]:
    """The stored vectors ``blobs`` (each ``dims[i]`` values long) as rows of one float32
    matrix: joined and read in pieces (one C call each), no array per vector."""
    if not blobs:
        return np.zeros((0, 0), np.float32)
    dim = dims[0]
    if set(dims) != {dim} or any(len(b) != dim * VECTOR_DTYPE.itemsize for b in blobs):
        return np.stack([vector_from_bytes(b, d) for b, d in zip(blobs, dims, strict=True)])
    out = np.empty((len(blobs), dim), np.float32)
    for lo in range(0, len(blobs), _TIME_PIECE):
        part = blobs[lo : lo + _TIME_PIECE]
        out[lo : lo + len(part)] = np.frombuffer(b"".join(part), VECTOR_DTYPE).reshape(-1, dim)
    return out


def _stream_past_helps(
    conn: Connection,
    stmt: Select[int, int, int, Any, str, bytes],
    team_id: str,
    scope: Select[Any] | None,
) -> (
    tuple[
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        npt.NDArray[np.float32],
        list[str],
        list[datetime | None],
        list[str],
    ]
    | None
):
    """The past helps ``stmt`` selects, in the order read: helper person ids, pair ids, the
    vectors, ask ids, times (as the driver gives them) and texts; ``None`` when there are
    none. Streamed: the vectors go straight into one preallocated float32 matrix, the rows
    are never all held at once, and no bytes object or array is kept per row."""
    count = select(func.count()).select_from(Pair).where(Pair.team_id == team_id)
    if scope is not None:
        count = count.where(Pair.helper_id.in_(scope))
    cap = int(conn.scalar(count) or 0)
    mat: npt.NDArray[np.float32] | None = None
    helper_ids: list[int] = []
    pair_ids: list[int] = []
    ask_ids: list[str] = []
    times: list[datetime | None] = []
    texts: list[str] = []
    n = 0
    for part in partitions(conn, stmt, _STREAM_ROWS):
        k = len(part)
        if mat is None:
            dim = len(part[0][5]) // VECTOR_DTYPE.itemsize
            mat = np.empty((max(cap, k), dim), np.float32)
        if n + k > mat.shape[0]:  # pairs were added since the count
            grown = np.empty((max(2 * mat.shape[0], n + k), mat.shape[1]), np.float32)
            grown[:n] = mat[:n]
            mat = grown
        hids, pids, aids, created, text, vecs = zip(*part, strict=True)
        mat[n : n + k] = np.frombuffer(b"".join(vecs), VECTOR_DTYPE).reshape(k, -1)
        helper_ids.extend(hids)
        pair_ids.extend(pids)
        ask_ids.extend(map(str, aids))
        times.extend(created)
        texts.extend(text)
        n += k
    if mat is None:
        return None
    return (
        np.asarray(helper_ids, dtype=np.int64),
        np.asarray(pair_ids, dtype=np.int64),
        mat[:n],
        ask_ids,
        times,
        texts,
    )


def load_records(
    session: Session, team_id: str, model: str, only: Subquery | None = None
) -> tuple[list[HelperRecord], list[str]]:
    """Index records of the workspace's opted-in helpers (or of the person ids the subquery
    ``only`` selects), keyed by Slack user id, and the user ids to remove. Facts are left empty
    (the snapshot brings them). (A full build reads :func:`load_columns` instead.)

    Every statement filters on the server (joins and subqueries): none binds a parameter per
    helper or per past ask, so the workspace's size never meets a driver's parameter limit.
    """
    scope = None if only is None else select(only.c[0])
    stmt, exp_stmt, help_stmt = _helper_statements(team_id, model, scope)
    # Core execution (no ORM row processing): a full load reads ~11 rows per helper.
    conn = session.connection()
    rows = conn.execute(stmt).all()
    live = [r for r in rows if r.opted_in and not r.deleted]
    removed = [r.slack_user_id for r in rows if not (r.opted_in and not r.deleted)]
    if scope is not None:
        removed += list(
            session.scalars(
                select(Person.slack_user_id).where(
                    Person.id.in_(scope),
                    ~select(HelperProfile.person_id)
                    .where(HelperProfile.person_id == Person.id)
                    .exists(),
                )
            )
        )
    if not live:
        return [], removed
    expertise = {
        owner: vector_from_bytes(vec, dim)
        for owner, vec, dim in conn.execution_options(yield_per=_STREAM_ROWS).execute(exp_stmt)
    }
    past = _past_helps(conn, help_stmt, team_id, scope)
    records = [
        HelperRecord(
            helper_id=r.slack_user_id,
            expertise_vector=expertise.get(r.person_id),
            expertise_text=_expertise_text(r.expertise, r.topics),
            past_helps=tuple(past.get(r.person_id, [])),
        )
        for r in live
    ]
    return records, removed


#: Rows fetched at a time when loading the index (a server-side cursor on PostgreSQL): the
#: driver never holds the whole load, only this many rows of it.
_STREAM_ROWS = 5000


def _utc(when: datetime | None) -> datetime | None:
    """``when`` as an aware UTC datetime (SQLite stores naive UTC; PostgreSQL answers in the
    session's time zone)."""
    if when is None or when.tzinfo is UTC:
        return when
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _aware(when: datetime | str | None) -> datetime | None:
    """A time read as the driver gives it (SQLite's stored text read raw) as aware UTC."""
    return parse_time(when) if isinstance(when, str) else _utc(when)


def _past_helps(
    conn: Connection,
    stmt: Select[int, int, int, Any, str, bytes],
    team_id: str,
    scope: Select[Any] | None,
) -> dict[int, list[PastHelp]]:
    """The past helps ``stmt`` selects (helper id, pair id, ask id, time, text, vector), per
    helper person id in pair order (each :class:`PastHelp` holds a row view of one matrix)."""
    read = _stream_past_helps(conn, stmt, team_id, scope)
    if read is None:
        return {}
    owners, pair_ids, mat, ask_ids, created, texts = read
    n = owners.size
    order = np.lexsort((pair_ids, owners))
    rows = list(mat)  # row views, made in one C loop
    at = order.tolist()
    helps = list(
        map(
            PastHelp,
            [ask_ids[i] for i in at],
            [rows[i] for i in at],
            [texts[i] for i in at],
            [_aware(created[i]) for i in at],
        )
    )
    owners = owners[order]
    bounds = [0, *(np.flatnonzero(owners[1:] != owners[:-1]) + 1).tolist(), n]
    return {int(owners[lo]): helps[lo:hi] for lo, hi in pairwise(bounds)}


class HelperIndexes:
    """One :class:`HelperIndex` per workspace, refreshed from the database before each use."""

    def __init__(
        self,
        model_name: str,
        dimension: int,
        snapshots: SnapshotStore | None = None,
        lock: AbstractContextManager[object] | None = None,
        provisional_above: int | None = None,
    ) -> None:
        #: The embedding model's name and dimension the indexes are built for.
        self.model_name = model_name
        self.dimension = dimension
        self._teams: dict[str, _TeamIndex] = {}
        #: Where indexes are written after a build and read at start-up (``None``: never).
        self.snapshots = snapshots
        #: The lock callers hold while refreshing: a snapshot's state is captured under it.
        self._lock = lock
        #: After an erasure, an index built before it is replaced in the background at once,
        #: but not again within this many seconds (retention erases a little at many ticks:
        #: the next replacement waits, and takes in every erasure since). ``None``: never
        #: (it writes no snapshot until a rebuild for other reasons).
        self.replace_after_erasure_s: float | None = 600.0
        self._replacing: dict[str, threading.Thread] = {}
        self._replaced_at: dict[str, float] = {}
        self._replace_lock = threading.Lock()
        self._swept_at: float | None = None
        #: Past helps above which a start-up with no snapshot serves from a provisional
        #: index meanwhile (``None``: :data:`PROVISIONAL_ABOVE`; ``INDEX_PROVISIONAL_ABOVE``).
        self.provisional_above = provisional_above

    def _snapshot(self, team_id: str, version: int, erasures: int | None) -> Loaded | None:
        """The workspace's snapshot on disk, when there is one built at its latest erasure
        count ``erasures`` that change number ``version`` can bring up to date."""
        if self.snapshots is None:
            return None
        loaded = self.snapshots.load(team_id, self.model_name, self.dimension, erasures)
        if loaded is None:
            return None
        if loaded.version > version or (loaded.version < version and loaded.watermark is None):
            # Newer than the database (restored from a backup?): its changes cannot be found.
            log.warning("the index snapshot of %s is ahead of the database: rebuilding", team_id)
            return None
        return loaded

    def _load(
        self, session: Session, team_id: str, version: int, erasures: int | None = None
    ) -> _TeamIndex | None:
        """The workspace's snapshot from disk, when there is one it can bring up to date
        (built at its latest erasure count ``erasures``)."""
        loaded = self._snapshot(team_id, version, erasures)
        if loaded is None:
            return None
        current = _TeamIndex(loaded.index, loaded.version, loaded.watermark, origin=loaded.origin)
        current.erasures = loaded.erasures
        self._teams[team_id] = current
        return current

    def _build(
        self,
        session: Session,
        team_id: str,
        version: int,
        now: datetime,
        verb: str,
        erasures: int | None = None,
    ) -> HelperIndex:
        """Build the workspace's index (and its topics) from the database and keep it."""
        index = self._build_index(session, team_id)
        current = _TeamIndex(index, version, now, origin=now, erasures=erasures)
        self._teams[team_id] = current
        log.info("%s the helper index of %s: %d helpers", verb, team_id, len(index))
        self._save(team_id, current, force=True)
        return index

    def _build_index(self, session: Session, team_id: str) -> HelperIndex:
        """The workspace's full index (and its topics) read from the database (logged)."""
        return build_index(session, team_id, self.model_name, self.dimension)

    def _position(self, session: Session, team_id: str) -> tuple[int, int | None]:
        """The workspace's change number and (snapshots on) erasure count, as
        :meth:`refresh` reads them (the host's snapshots older than that count go)."""
        if self.snapshots is None:
            return matching_version(session, team_id), None
        fp, erased = matching_position(session, team_id)
        self.snapshots.note_erasures(team_id, erased)
        return fp, erased

    # --- a start-up that must build: a provisional index meanwhile -------------------------
    def start(self, session: Session, team_id: str, now: datetime) -> bool:
        """At worker start-up (callers serialise): load the workspace's snapshot when there is
        one; otherwise, when its index is large (more than :data:`PROVISIONAL_ABOVE` past
        helps), keep a *provisional* index of the helpers' profiles alone (expertise vectors,
        texts and topics: a second or two at 100,000 helpers) and return True: the caller
        then builds the full index apart (:meth:`build_apart`, without the lock) and
        installs it (:meth:`install`). Asks meanwhile rank every helper who passes the rules
        (the rules read the helpers' facts, never the index) on what it holds: their profiles
        and their facts, not yet their past helps. Returns False when nothing is left to do
        apart (an index is held or was loaded; or a small workspace: built in full here, as
        :meth:`refresh` would)."""
        if team_id in self._teams:
            return False
        fp, erased = self._position(session, team_id)
        if self._load(session, team_id, fp, erased) is not None:
            return False
        helps = session.scalar(
            select(func.count()).select_from(Pair).where(Pair.team_id == team_id)
        )
        above = PROVISIONAL_ABOVE if self.provisional_above is None else self.provisional_above
        if int(helps or 0) <= above:
            self._build(session, team_id, fp, now, "built", erased)
            return False
        t0 = time.monotonic()
        cols = load_columns(session, team_id, self.model_name, past_helps=False)
        # Its vectors in int8 (searched exactly, as every index this small): it lives for the
        # build's minute, and float32 would cost the worker 110 MB more meanwhile (100,000
        # helpers: 221 MB against 112 MB, RSS measured).
        index = HelperIndex.build(
            cols, self.dimension, self.model_name, exact_max_rows=EXACT_MAX_ROWS, storage="int8"
        )
        del cols
        attach_topics(index, session, team_id, past_helps=False)
        self._teams[team_id] = _TeamIndex(
            index, fp, now, origin=now, erasures=erased, provisional=True
        )
        log.info(
            "provisional helper index of %s (profiles alone): %d helpers in %.1f s; "
            "the full index builds meanwhile",
            team_id, len(index), time.monotonic() - t0,
        )  # fmt: skip
        return True

    def provisional(self, team_id: str) -> bool:
        """Whether the workspace's index is a provisional one (see :meth:`start`)."""
        current = self._teams.get(team_id)
        return current is not None and current.provisional

    def build_apart(self, session: Session, team_id: str, now: datetime) -> Built:
        """The workspace's full index read in ``session`` (one read transaction), not kept:
        needs no lock (nothing of this object is touched); ``now`` is before the read."""
        fp, erased = self._position(session, team_id)
        return Built(self._build_index(session, team_id), fp, now, erased)

    def load_apart(self, session: Session, team_id: str) -> Built | None:
        """The workspace's full index from its snapshot (one a child process just wrote:
        :mod:`peerbot.services.index_child`), as a start-up from a snapshot loads it (the
        erasure count read in ``session`` first: a snapshot built before it is refused and
        deleted), not kept: to :meth:`install`. ``None``: no snapshot it may use."""
        if self.snapshots is None:
            return None
        fp, erased = self._position(session, team_id)
        loaded = self._snapshot(team_id, fp, erased)
        if loaded is None:
            return None
        at = loaded.watermark or loaded.origin
        if at is None:
            return None
        return Built(
            loaded.index, loaded.version, at, loaded.erasures, origin=loaded.origin, written=True
        )

    def bring_up(self, session: Session, team_id: str, built: Built, now: datetime) -> Built:
        """``built`` brought up to the changes committed since its read, before it is installed
        (needs no lock: nothing of this object is touched, and nobody else holds ``built``),
        so that the :meth:`refresh` after :meth:`install`, under the callers' lock, has little
        or nothing left to do. Returned as it was when nothing changed, or so much that the
        refresh rebuilds anyway."""
        fp = matching_version(session, team_id)
        if fp == built.version:
            return built
        current = _TeamIndex(built.index, built.version, built.at, unsaved=built.unsaved)
        if not self._catch_up(session, team_id, current, fp, now):
            return built
        origin = built.origin or built.at
        return replace(built, version=fp, at=now, origin=origin, unsaved=current.unsaved)

    def install(self, team_id: str, built: Built) -> bool:
        """Keep ``built`` in place of the workspace's provisional index (callers serialise;
        the next :meth:`refresh` brings it up to the changes made since its read). Returns
        False, keeping what is there, when the index held is no longer provisional (a
        refresh rebuilt it meanwhile). Written as a snapshot unless it was read from one."""
        current = self._teams.get(team_id)
        if current is not None and not current.provisional:
            return False
        kept = self._teams[team_id] = _TeamIndex(
            built.index,
            built.version,
            built.at,
            origin=built.origin or built.at,
            erasures=built.erasures,
        )
        kept.unsaved = built.unsaved
        log.info("built the helper index of %s: %d helpers", team_id, len(built.index))
        if not built.written:
            self._save(team_id, kept, force=True)
        return True

    def _save(self, team_id: str, current: _TeamIndex, *, force: bool = False) -> None:
        """Write the workspace's index to disk in the background, after a build (``force``)
        or once enough helpers changed since the last write (callers serialise)."""
        store = self.snapshots
        if current.provisional:
            return  # the full index is written once built
        if store is None or not store.wanted(current.index, current.unsaved, force, team_id):
            return
        if not store.writable(team_id, current.erasures):
            return  # text was erased since it was built: only a rebuild is written

        def take() -> Captured:  # in the writer thread, under the callers' lock
            return capture(
                current.index,
                team_id,
                current.version,
                current.watermark,
                store.database,
                current.origin,
                current.erasures,
            )

        store.save_later(team_id, take, self._lock)
        current.unsaved = 0

    def refresh(
        self,
        session: Session,
        team_id: str,
        now: datetime,
        version: int | None = None,
        erasures: int | None = None,
    ) -> HelperIndex:
        """The workspace's index, brought up to date with the database (callers serialise).
        ``version`` and ``erasures``: the workspace's change number and erasure count read in
        this transaction already (else they are read here, in one statement)."""
        erased: int | None = None
        if self.snapshots is None:
            fp = matching_version(session, team_id) if version is None else version
        else:  # the erasure count with the change number (see the module)
            if version is None or erasures is None:
                fp, erased = matching_position(session, team_id)
            else:
                fp, erased = version, erasures
            self.snapshots.note_erasures(team_id, erased)
            self._sweep(session, now)
        current = self._teams.get(team_id) or self._load(session, team_id, fp, erased)
        if current is None:
            return self._build(session, team_id, fp, now, "built", erased)
        if erased is not None and (current.erasures or 0) < erased:
            self._replace_later(session, team_id, now)
        if current.version != fp:
            if not self._catch_up(session, team_id, current, fp, now):
                # Upserting means moving rows out of the partitions: past a few, rebuild.
                return self._build(session, team_id, fp, now, "rebuilt", erased)
            self._save(team_id, current)
        return current.index

    def _catch_up(
        self, session: Session, team_id: str, current: _TeamIndex, fp: int, now: datetime
    ) -> bool:
        """Apply to ``current`` the helpers changed since its watermark (up to change number
        ``fp``); False, leaving it as it was, when too many changed (a rebuild is cheaper)."""
        since = (current.watermark or now) - OVERLAP
        changed = _changed_helpers(team_id, since)
        n_changed = session.scalar(select(func.count()).select_from(changed)) or 0
        if n_changed > max(REBUILD_AT, len(current.index) // 4):
            return False
        records, removed = load_records(session, team_id, self.model_name, changed)
        for helper_id in removed:
            current.index.remove(helper_id)
        for record in records:
            current.index.upsert(record)
        touched = [*removed, *(r.helper_id for r in records)]
        update_topics(current.index, session, team_id, changed, touched)
        current.version = fp
        current.watermark = now
        current.unsaved += len(touched)
        return True

    def sweep(self, session: Session, now: datetime) -> None:
        """:meth:`_sweep` now (a worker starting: also the workspaces it builds no index of)."""
        self._swept_at = None
        self._sweep(session, now)

    def _sweep(self, session: Session, now: datetime) -> None:
        """At most every :data:`ERASURE_SWEEP_S` seconds: every workspace's erasure count,
        so that this host's older snapshots of any workspace are deleted (also of one no ask
        reaches here any more: a purged workspace) and any index held of one is replaced."""
        store = self.snapshots
        started = time.monotonic()
        if store is None or (
            self._swept_at is not None and started - self._swept_at < ERASURE_SWEEP_S
        ):
            return
        self._swept_at = started
        counts = session.execute(select(IndexErasure.team_id, IndexErasure.erasures)).all()
        for team_id, count in counts:
            store.note_erasures(team_id, int(count))
            current = self._teams.get(team_id)
            if current is not None and (current.erasures or 0) < count:
                self._replace_later(session, team_id, now)

    def _replace_later(self, session: Session, team_id: str, now: datetime) -> None:
        """Replace the workspace's index, built before an erasure, in a background thread
        (see the module), unless one is under way or the last one ended less than
        :attr:`replace_after_erasure_s` ago (a later refresh starts it then)."""
        wait_s = self.replace_after_erasure_s
        with self._replace_lock:
            if wait_s is None or team_id in self._replacing:
                return
            last = self._replaced_at.get(team_id)
            if last is not None and time.monotonic() - last < wait_s:
                return
            bind = session.get_bind()
            engine = bind if isinstance(bind, Engine) else bind.engine
            thread = threading.Thread(
                target=self._replace,
                args=(engine, team_id, now),
                name=f"index-replace-{team_id}",
                daemon=True,
            )
            self._replacing[team_id] = thread
        log.info("text was erased in %s: replacing its index in the background", team_id)
        thread.start()

    def _replace(self, engine: Engine, team_id: str, now: datetime) -> None:
        """The background replacement (:meth:`_replace_later`): re-adopt a snapshot written
        after the latest erasure, else build from the database (outside the callers' lock:
        asks rank with the old index meanwhile). The new index takes the old one's place in
        one assignment; the old one, once the asks using it are done, is freed with the
        deleted snapshot files it read."""
        store = self.snapshots
        try:
            # One worker of the host at a time: the others then load what it wrote.
            with store.exclusive(team_id) if store is not None else nullcontext():
                with read_only(sessionmaker(bind=engine)) as session:
                    fp, erased = matching_position(session, team_id)
                    if store is not None:
                        store.note_erasures(team_id, erased)
                    if self._load(session, team_id, fp, erased) is None:
                        self._build(session, team_id, fp, now, "replaced", erased)
                    else:
                        log.info("replaced the helper index of %s from its snapshot", team_id)
                if store is not None:
                    store.wait()  # written before the next worker of the host looks
        except Exception:
            log.exception("could not replace the helper index of %s", team_id)
        finally:
            with self._replace_lock:
                self._replacing.pop(team_id, None)
                self._replaced_at[team_id] = time.monotonic()
        gc.collect()  # the old index, should a cycle hold it (and its files)

    def wait_replaced(self, timeout: float | None = None) -> bool:
        """Wait for the replacements under way (tests, shutdown); whether all ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._replace_lock:
            threads = list(self._replacing.values())
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        with self._replace_lock:
            return not self._replacing
