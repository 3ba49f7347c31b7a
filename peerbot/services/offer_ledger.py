"""The helpers' offer facts of one workspace, kept current by reading only what can have changed.

Each ranking needs, per helper, the offers received (settled), accepted, waiting (pending), sent
in the fairness window, and the median hours to accept. Aggregating the whole ``offers`` table
for every ask costs time in proportion to every offer ever made: 25 s per ask at 1.5 million
offers (100,000 helpers with their history). An offer changes only while it is pending (accept,
pass, expiry, withdrawal and skip all start from pending; nothing changes a settled offer), so
:class:`OfferLedger` splits the table by id:

* the **frozen prefix**: every offer with an id below :attr:`OfferLedger.frozen_upto`, all made
  more than :data:`FREEZE_AFTER` ago and read once. The settled ones are tallied once and kept
  (an offer never leaves that tally); the ones still pending are kept by id (a few: offers lapse
  within days) and read again by status at each ranking, until they settle into the tally;
* the **suffix**: every offer from the first recent one on (the last minutes' offers), read again
  for each ranking (a range of the primary key) and tallied afresh.

The prefix advances over old rows in id order and stops at the first recent one. That age rule
keeps out of the prefix an offer whose transaction had taken its id but not yet committed when
it was read (such a row would be skipped for good otherwise); a transaction of peerbot's lasts
well under a second. The ledger is built in grouped SQL (per helper: counts, and the hours to
accept as one text list for the median), not row by row, from one covering index (migration
0015).

Offers deleted after they were frozen (a forgotten asker's asks take their offers with them)
stay counted in the helpers' tallies until the worker restarts (or ``max_age`` passes, when set):
a rebuild reads every offer again (20 s at 1.5 million offers), too long for an ask to wait on,
for counts that only nudge a soft signal.
"""

from __future__ import annotations

import heapq
import statistics
from array import array
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, case, cast, func, select
from sqlalchemy.orm import Session

from peerbot.store.models import Offer, OfferStatus

#: Per helper: (offers received, accepted, pending, sent in the fairness window, median hours
#: to accept).
OfferFacts = tuple[int, int, int, int, float | None]

#: A settled offer enters the frozen prefix once it was made this long ago.
FREEZE_AFTER = timedelta(minutes=10)
#: Rows fetched at a time (a server-side cursor on PostgreSQL).
STREAM_ROWS = 10_000
#: Ids per ``IN`` list when reading the offers that settled since the last read.
IN_CHUNK = 500

_COLUMNS = (
    Offer.id,
    Offer.helper_id,
    Offer.status,
    Offer.sent_at,
    Offer.responded_at,
    Offer.created_at,
)


def _no_hours() -> array[float]:
    return array("d")


@dataclass(slots=True)
class _Tally:
    received: int = 0
    accepted: int = 0
    pending: int = 0
    recent: int = 0
    #: Hours to accept, as C doubles (8 bytes each, not a 24-byte float object and a list
    #: slot: 26 MB less at 1.1 million accepted offers).
    hours: array[float] = field(default_factory=_no_hours)


def _accept_hours(status: OfferStatus, sent: datetime | None, responded: datetime | None) -> float:
    if status != OfferStatus.ACCEPTED or sent is None or responded is None:
        return float("nan")
    return (responded - sent).total_seconds() / 3600


class OfferLedger:
    """:data:`OfferFacts` of every helper of one workspace who was ever offered an ask.

    :meth:`read` brings it up to date and says whose facts changed; :attr:`facts` holds them.
    The answer equals aggregating every offer of the workspace (``tests/services`` checks it
    against that on random histories), except for offers deleted since the ledger was built.
    """

    def __init__(self, team_id: str, window: timedelta, max_age: timedelta | None = None) -> None:
        self.team_id = team_id
        self.window = window
        self.max_age = max_age
        #: Reads that found the old pending offers as they were (their tallies kept).
        self.open_kept = 0
        self._reset(None)

    def _reset(self, now: datetime | None) -> None:
        self.built_at = self.last_read = now
        #: Every offer with a lower id is tallied in the frozen prefix.
        self.frozen_upto = 0
        #: Current facts of every helper with at least one offer.
        self.facts: dict[int, OfferFacts] = {}
        self._frozen: dict[int, _Tally] = {}
        #: (sent_at, helper) of the frozen offers still inside the fairness window.
        self._sent: list[tuple[datetime, int]] = []
        #: Helpers tallied in the suffix at the last read (their facts may change next time).
        self._suffix_helpers: set[int] = set()
        #: Offers below :attr:`frozen_upto` still pending at the last read: id -> helper.
        self._open: dict[int, int] = {}
        #: Their part of each helper's facts (pending, and sent in the window), kept between
        #: reads while none of them settles; and (sent_at, helper) of those counted as sent in
        #: the window, to take out as they leave it.
        self._open_tally: dict[int, _Tally] = {}
        self._open_sent: list[tuple[datetime, int]] = []
        #: Whether :attr:`_open_tally` holds every offer of :attr:`_open` (not after a build,
        #: which lists them by id only).
        self._open_tallied = True

    def read(self, session: Session, now: datetime) -> set[int] | None:
        """Bring the facts up to ``now``; return the helpers whose facts changed (``None``: the
        ledger was built afresh, so every helper's may have)."""
        fresh = (
            self.built_at is None
            or self.last_read is None
            or (self.max_age is not None and now - self.built_at > self.max_age)
            or now < self.last_read  # the clock went back: the window's evictions too
        )
        if fresh:
            self._reset(now)
            self._build(session, now)
        self.last_read = now
        touched: set[int] = set(self._frozen) if fresh else set()
        since = now - self.window
        # Frozen offers that left the fairness window.
        while self._sent and self._sent[0][0] < since:
            _, hid = heapq.heappop(self._sent)
            self._frozen[hid].recent -= 1
            touched.add(hid)
        suffix: dict[int, _Tally] = {}
        freeze_before = now - FREEZE_AFTER
        conn = session.connection()

        def take(row: Any) -> None:
            oid, hid, status, sent, responded, _created = row
            settled = status != OfferStatus.PENDING
            if settled and oid < self.frozen_upto:
                tally = self._frozen.setdefault(hid, _Tally())
                if sent is not None and sent >= since:
                    heapq.heappush(self._sent, (sent, hid))
            elif oid < self.frozen_upto:  # old and still pending
                tally = self._open_tally.setdefault(hid, _Tally())
                self._open[oid] = hid
                if sent is not None and sent >= since:
                    heapq.heappush(self._open_sent, (sent, hid))
            else:
                tally = suffix.setdefault(hid, _Tally())
            if sent is not None and sent >= since:
                tally.recent += 1
            if settled:
                tally.received += 1
            else:
                tally.pending += 1
            hours = _accept_hours(status, sent, responded)
            if hours == hours:  # not NaN
                tally.accepted += 1
                tally.hours.append(hours)
            elif status == OfferStatus.ACCEPTED:
                tally.accepted += 1
            touched.add(hid)

        # 1. Old offers still pending at the last read: which are still, which settled since.
        # They only ever leave that set (an offer settles once; a new one has a higher id):
        # as many as before means the same ones, whose part of the facts is kept (but for
        # those that left the fairness window). By status alone, as below.
        unchanged = bool(
            self._open
            and self._open_tallied
            and conn.scalar(
                select(
                    func.coalesce(
                        func.sum(
                            case(
                                (
                                    (Offer.team_id == self.team_id) & (Offer.id < self.frozen_upto),
                                    1,
                                ),
                                else_=0,
                            )
                        ),
                        0,
                    )
                ).where(Offer.status == OfferStatus.PENDING)
            )
            == len(self._open)
        )
        if unchanged:
            self.open_kept += 1
            while self._open_sent and self._open_sent[0][0] < since:
                _, hid = heapq.heappop(self._open_sent)
                self._open_tally[hid].recent -= 1
                touched.add(hid)
        elif self._open:
            was_open, self._open = self._open, {}
            self._open_tally, self._open_sent = {}, []
            self._open_tallied = True
            touched.update(was_open.values())
            # By status alone (the workspace and id are checked here): given the workspace
            # too, SQLite walks the workspace's index over every offer it ever had.
            still = [
                r[1:]
                for r in conn.execute(
                    select(Offer.team_id, *_COLUMNS).where(Offer.status == OfferStatus.PENDING)
                )
                if r[0] == self.team_id and r[1] < self.frozen_upto
            ]
            moved = sorted(was_open.keys() - {r[0] for r in still})
            for row in still:
                take(row)
            for i in range(0, len(moved), IN_CHUNK):  # the few that settled since (or went)
                for row in conn.execute(
                    select(*_COLUMNS).where(Offer.id.in_(moved[i : i + IN_CHUNK]))
                ):
                    take(row)
        # 2. Offers from the first one not yet read in full: the recent ones and any new ones.
        # Old ones are read once (settled: into the frozen tallies; pending: kept in _open);
        # from the first recent one on, every row is read again next time, so that one whose
        # transaction had taken a lower id but not committed yet is not skipped for good.
        # In pages of STREAM_ROWS by id (usually one: the last minutes' offers; a server-side
        # cursor would cost three more round trips on PostgreSQL).
        advancing = True
        start = self.frozen_upto
        while True:
            part = conn.execute(
                select(*_COLUMNS)
                .where(Offer.team_id == self.team_id, Offer.id >= start)
                .order_by(Offer.id)
                .limit(STREAM_ROWS)
            ).all()
            for row in part:
                created = row[5]
                if advancing and created is not None and created < freeze_before:
                    self.frozen_upto = row[0] + 1
                else:
                    advancing = False
                take(row)
            if len(part) < STREAM_ROWS:
                break
            start = part[-1][0] + 1
        touched |= self._suffix_helpers
        self._suffix_helpers = set(suffix)
        changed: set[int] = set()
        for hid in touched:
            facts = self._facts_of(
                self._frozen.get(hid), self._open_tally.get(hid), suffix.get(hid)
            )
            if facts is None:
                if self.facts.pop(hid, None) is not None:
                    changed.add(hid)
            elif self.facts.get(hid) != facts:
                self.facts[hid] = facts
                changed.add(hid)
        return None if fresh else changed

    def _build(self, session: Session, now: datetime) -> None:
        """Tally every old offer in SQL (grouped; one number per accepted offer), instead of
        reading each row: the start of the frozen prefix, and the pending ones in it."""
        conn = session.connection()  # Core rows: no ORM loading for a million of them
        team = Offer.team_id == self.team_id
        freeze_before = now - FREEZE_AFTER
        cut = 0  # the first id of the recent offers at the end (read row by row, later)
        newest = conn.execute(
            select(Offer.id, Offer.created_at).where(team).order_by(Offer.id.desc()),
            execution_options={"yield_per": 100},
        )
        for oid, created in newest:
            if created is not None and created < freeze_before:
                cut = oid + 1
                break
        newest.close()
        if not cut:
            return
        # ``id + 0``: the cut is near the newest id, so it selects almost nothing; as a plain
        # rowid range SQLite prefers the workspace's index and a table lookup per offer over
        # the covering index (migration 0015) that answers each query below by itself.
        old = (team, Offer.id + 0 < cut)
        settled = (*old, Offer.status != OfferStatus.PENDING)
        for hid, status, n in conn.execute(
            select(Offer.helper_id, Offer.status, func.count())
            .where(*settled)
            .group_by(Offer.helper_id, Offer.status)
        ):
            tally = self._frozen.setdefault(hid, _Tally())
            tally.received += int(n)
            if status == OfferStatus.ACCEPTED:
                tally.accepted += int(n)
        since = now - self.window
        for hid, sent in conn.execute(
            select(Offer.helper_id, Offer.sent_at).where(*settled, Offer.sent_at >= since)
        ):
            if sent is not None:  # never None here (the query compared it)
                self._frozen[hid].recent += 1
                self._sent.append((sent, hid))
        heapq.heapify(self._sent)
        # Hours to accept, one list per helper as text (a million Python rows cost seconds;
        # a hundred thousand strings split in C cost a fraction of that).
        if conn.dialect.name == "postgresql":
            hours: Any = func.extract("epoch", Offer.responded_at - Offer.sent_at) / 3600
            joined: Any = func.string_agg(cast(hours, Text), ",")
        else:
            hours = (func.julianday(Offer.responded_at) - func.julianday(Offer.sent_at)) * 24
            joined = func.group_concat(hours, ",")
        accepted = conn.execute(
            select(Offer.helper_id, joined)
            .where(
                *old,
                Offer.status == OfferStatus.ACCEPTED,
                Offer.sent_at.is_not(None),
                Offer.responded_at.is_not(None),
            )
            .group_by(Offer.helper_id),
            execution_options={"yield_per": STREAM_ROWS},
        )
        for part in accepted.partitions():
            for hid, text in part:
                if text:
                    self._frozen[hid].hours.extend(map(float, text.split(",")))
        for oid, hid in conn.execute(
            select(Offer.id, Offer.helper_id).where(*old, Offer.status == OfferStatus.PENDING)
        ):
            self._open[oid] = hid
        self._open_tallied = not self._open  # listed by id only: the first read tallies them
        self.frozen_upto = cut

    @staticmethod
    def _facts_of(*tallies: _Tally | None) -> OfferFacts | None:
        parts = [t for t in tallies if t is not None]
        received = sum(t.received for t in parts)
        pending = sum(t.pending for t in parts)
        recent = sum(t.recent for t in parts)
        hours = [h for t in parts for h in t.hours]
        if not (received or pending or recent or hours):
            return None
        return (
            received,
            sum(t.accepted for t in parts),
            pending,
            recent,
            statistics.median(hours) if hours else None,
        )
