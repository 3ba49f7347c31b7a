"""Topics of past helps and of helper profiles: the ``topic_history`` signal's index.

An ask may carry topics (picked by the asker in production; a Stack Exchange question's tags in
the offline evaluation). Each past help then carries the topics of the ask it helped on, and a
helper may list topics on their profile. ``topic_history`` scores a helper for an ask by the
tf-idf-weighted overlap of the ask's topics with theirs::

    sum over the ask's topics t of idf(t) * (log(1 + helps of theirs tagged t) + stated(t))

each help weighted ``exp(-age / recency_days)`` (the ranker's activity timescale: a topic a
helper helped on lately counts more than one they left long ago; measured on the development
sets, the decayed count ranked better than the plain one),

where ``stated(t)`` is :data:`STATED_WEIGHT` when ``t`` is on their profile, and
``idf(t) = log((1 + N) / (1 + n_t))`` over the ``N`` past helps (``n_t`` of them tagged ``t``),
so a rare topic shared says more than a common one.

The structure lives beside the :class:`~peerbot.matching.index.HelperIndex` (attached with
:func:`attach`, found by the ranker with :func:`topics_of`) rather than inside it: it is small
(counts per helper and topic), keyed by helper id, and fed by whoever feeds the index's past
helps. Pure: no I/O.
"""

from __future__ import annotations

import itertools
import math
import weakref
from array import array
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from peerbot.matching.index import HelperIndex

FloatArray = npt.NDArray[np.float64]

#: What a topic on a helper's profile is worth, in units of ``log(1 + helps)`` (one stated topic
#: counts as much as one past help tagged with it: ``log(2)``).
STATED_WEIGHT = math.log(2.0)
#: Helps numbered at a time by :meth:`TopicIndex.add_help_columns`.
_PIECE = 65_536


def clean_topics(topics: Iterable[str]) -> tuple[str, ...]:
    """Topics stripped and lower-cased, empty ones and repeats dropped, order kept."""
    return tuple(dict.fromkeys(t for t in (" ".join(str(x).split()).lower() for x in topics) if t))


@dataclass(frozen=True, slots=True)
class TopicEvidence:
    """Why one helper scores on ``topic_history`` for one topic of an ask."""

    topic: str
    helps: int
    stated: bool
    value: float


class TopicIndex:
    """Per helper: when they helped on asks carrying each topic, and their profile's topics."""

    def __init__(self) -> None:
        #: topic -> its helps: helper ids and POSIX times (NaN: undated), in two columns (a
        #: reference and 8 bytes a help: a million tagged helps hold about 16 MB).
        self._helped: dict[str, tuple[list[str], array[float]]] = {}
        #: helper id -> the topics of their helps (what :meth:`remove` must look through).
        self._topics_of: dict[str, set[str]] = {}
        #: topic -> (distinct helper ids, each entry's position among them, times): built when
        #: first needed after a change of that topic.
        self._arrays: dict[str, tuple[list[str], npt.NDArray[np.intp], FloatArray]] = {}
        #: topic -> (its helper ids as cached, (layout, latest help, timescale), their slots,
        #: their decayed sums): see :meth:`scores`.
        self._scores_cache: dict[
            str, tuple[list[str], tuple[object, ...], npt.NDArray[np.intp], FloatArray]
        ] = {}
        #: topic -> helper ids that list it on their profile.
        self._stated: dict[str, set[str]] = {}
        self._profile: dict[str, frozenset[str]] = {}
        #: Past helps (tagged or not) per helper: ``N`` of the idf is their sum.
        self._n_of: dict[str, int] = {}
        self._n_helps = 0
        #: POSIX time of the latest dated help: ages are counted back from it.
        self._latest = math.nan
        #: Bumped on every change (caches key on it).
        self.revision = 0

    def __len__(self) -> int:
        """Past helps recorded (tagged or not)."""
        return self._n_helps

    def add_help(
        self, helper_id: str, topics: Iterable[str], helped_at: datetime | None = None
    ) -> None:
        """Record one past help of ``helper_id`` on an ask with ``topics`` (may be none), given
        when it was (undated: it counts in full, as if it were today)."""
        self.add_helps([(helper_id, tuple(topics), helped_at)])

    def add_helps(self, rows: Iterable[tuple[str, Sequence[str], datetime | None]]) -> int:
        """:meth:`add_help` for many ``(helper id, topics, when)`` rows at once (a workspace's
        whole history: one tight loop); returns how many were added."""
        helped = self._helped
        n_of = self._n_of
        topics_of = self._topics_of
        cleaned: dict[tuple[str, ...], tuple[str, ...]] = {}
        latest = self._latest
        n = 0
        for helper_id, raw, when in rows:
            n += 1
            n_of[helper_id] = n_of.get(helper_id, 0) + 1
            at = when.timestamp() if when is not None else math.nan
            if at > latest or (math.isnan(latest) and not math.isnan(at)):
                latest = at
            key = tuple(raw)
            topics = cleaned.get(key)
            if topics is None:
                topics = cleaned[key] = clean_topics(key)
            for t in topics:
                column = helped.get(t)
                if column is None:
                    column = helped[t] = ([], array("d"))
                column[0].append(helper_id)
                column[1].append(at)
                mine = topics_of.get(helper_id)
                if mine is None:
                    topics_of[helper_id] = {t}
                else:
                    mine.add(t)
        for topics in cleaned.values():
            for t in topics:
                self._arrays.pop(t, None)
        self._latest = latest
        self._n_helps += n
        self.revision += 1
        return n

    def add_help_columns(
        self,
        helper_ids: Sequence[str],
        topic_keys: npt.NDArray[np.intp],
        key_topics: Sequence[Sequence[str]],
        times: npt.NDArray[np.float64],
    ) -> int:
        """:meth:`add_helps` of many helps given as columns (the same index results, with
        array operations instead of a Python step per help): help ``i`` of ``helper_ids[i]``,
        on an ask with the topics ``key_topics[topic_keys[i]]``, at POSIX time ``times[i]``
        (``NaN``: undated). Returns how many were added."""
        n = len(helper_ids)
        if not (topic_keys.shape == times.shape == (n,)):
            raise ValueError("help columns of different lengths")
        if not n:
            return 0
        # Helpers numbered in order of first appearance, a C loop per piece (one loop over a
        # million would keep the interpreter from every other thread meanwhile).
        names: defaultdict[str, int] = defaultdict(itertools.count().__next__)
        hid = np.concatenate(
            [
                np.fromiter(map(names.__getitem__, helper_ids[lo : lo + _PIECE]), np.intp)
                for lo in range(0, n, _PIECE)
            ]
        )
        name_of = np.empty(len(names), dtype=object)
        name_of[:] = list(names)
        counts = np.bincount(hid, minlength=len(names)).tolist()
        n_of = self._n_of
        for h, c in zip(names, counts, strict=True):
            n_of[h] = n_of.get(h, 0) + c
        dated = times[~np.isnan(times)]
        if dated.size:
            newest = float(dated.max())
            if math.isnan(self._latest) or newest > self._latest:
                self._latest = newest
        # Helps grouped by their key (pair order kept within a group), then per topic the
        # groups of the keys that carry it, merged back into pair order.
        cleaned = [clean_topics(k) for k in key_topics]
        order = np.argsort(topic_keys, kind="stable")
        bounds = np.searchsorted(topic_keys[order], np.arange(len(cleaned) + 1)).tolist()
        groups_of: dict[str, list[npt.NDArray[np.intp]]] = {}
        used = [k for k in range(len(cleaned)) if bounds[k + 1] > bounds[k]]
        # Keys in order of their first help: topics are then met in the order one by one
        # adding meets them (a group's first entry is its earliest help: the sort is stable).
        used.sort(key=lambda k: int(order[bounds[k]]))
        for k in used:
            for t in cleaned[k]:
                groups_of.setdefault(t, []).append(order[bounds[k] : bounds[k + 1]])
        helped = self._helped
        topics_of = self._topics_of
        for t, groups in groups_of.items():
            rows = groups[0] if len(groups) == 1 else np.sort(np.concatenate(groups))
            who = hid[rows]
            column = helped.get(t)
            if column is None:
                column = helped[t] = ([], array("d"))
            column[0].extend(name_of[who].tolist())
            column[1].extend(array("d", times[rows].tobytes()))
            for h in name_of[np.unique(who)].tolist():
                mine = topics_of.get(h)
                if mine is None:
                    topics_of[h] = {t}
                else:
                    mine.add(t)
            self._arrays.pop(t, None)
        self._n_helps += n
        self.revision += 1
        return n

    def set_profile(self, helper_id: str, topics: Iterable[str]) -> None:
        """The topics ``helper_id`` lists on their profile (replacing earlier ones)."""
        new = frozenset(clean_topics(topics))
        for t in self._profile.get(helper_id, frozenset()) - new:
            self._stated.get(t, set()).discard(helper_id)
        for t in new:
            self._stated.setdefault(t, set()).add(helper_id)
        if new:
            self._profile[helper_id] = new
        else:
            self._profile.pop(helper_id, None)
        self.revision += 1

    def remove(self, helper_id: str) -> None:
        """Forget ``helper_id``: their profile topics and past helps (to be added again when
        they changed, or for good when they left)."""
        self.set_profile(helper_id, ())
        self._n_helps -= self._n_of.pop(helper_id, 0)
        for t in self._topics_of.pop(helper_id, ()):
            who, when = self._helped[t]
            keep = [i for i, h in enumerate(who) if h != helper_id]
            if keep:
                self._helped[t] = ([who[i] for i in keep], array("d", (when[i] for i in keep)))
            else:
                del self._helped[t]
            self._arrays.pop(t, None)
        self.revision += 1

    def helps_tagged(self, helper_id: str, topic: str) -> int:
        """Past helps of ``helper_id`` on asks tagged ``topic``."""
        column = self._helped.get(topic)
        return 0 if column is None else column[0].count(helper_id)

    def stated(self, helper_id: str) -> frozenset[str]:
        """The topics on ``helper_id``'s profile."""
        return self._profile.get(helper_id, frozenset())

    def idf(self, topic: str) -> float:
        """``log((1 + N) / (1 + n_t))``: how rare ``topic`` is among the past helps."""
        column = self._helped.get(topic)
        n_t = 0 if column is None else len(column[0])
        return math.log((1.0 + self._n_helps) / (1.0 + n_t))

    def _topic_arrays(self, topic: str) -> tuple[list[str], npt.NDArray[np.intp], FloatArray]:
        cached = self._arrays.get(topic)
        if cached is None:
            who, when = self._helped.get(topic, ([], array("d")))
            pos: dict[str, int] = {}
            inverse = np.fromiter((pos.setdefault(h, len(pos)) for h in who), np.intp, len(who))
            times = np.frombuffer(when, dtype=np.float64).copy()
            cached = (list(pos), inverse, times)
            self._arrays[topic] = cached
        return cached

    def _decayed(self, topic: str, timescale_days: float | None) -> tuple[list[str], FloatArray]:
        """Each helper's helps tagged ``topic``, each weighted ``exp(-age / timescale)``, the
        age counted back from the latest dated help of the index (not from the time of the
        ask: a frozen index ranked later, as in a replay, keeps the same values)."""
        ids, inverse, times = self._topic_arrays(topic)
        if not timescale_days or timescale_days <= 0 or math.isnan(self._latest):
            weights = np.ones(times.size)
        else:
            ages = np.maximum(self._latest - times, 0.0) / 86400.0
            weights = np.where(np.isnan(ages), 1.0, np.exp(-ages / timescale_days))
        sums = np.bincount(inverse, weights=weights, minlength=len(ids)).astype(np.float64)
        return ids, sums

    def value(self, helper_id: str, topic: str, timescale_days: float | None = None) -> float:
        """What ``topic`` adds to ``helper_id``'s ``topic_history`` (see :meth:`scores`)."""
        ids, sums = self._decayed(topic, timescale_days)
        helps = float(sums[ids.index(helper_id)]) if helper_id in ids else 0.0
        stated = STATED_WEIGHT if topic in self.stated(helper_id) else 0.0
        return self.idf(topic) * (math.log1p(helps) + stated)

    def evidence(
        self,
        helper_id: str,
        topics: Collection[str],
        timescale_days: float | None = None,
    ) -> list[TopicEvidence]:
        """Per topic of the ask that ``helper_id`` shares, what it adds; largest first."""
        out = []
        mine = self.stated(helper_id)
        for t in clean_topics(topics):
            helps = self.helps_tagged(helper_id, t)
            stated = t in mine
            if not helps and not stated:
                continue
            out.append(TopicEvidence(t, helps, stated, self.value(helper_id, t, timescale_days)))
        out.sort(key=lambda e: (-e.value, e.topic))
        return out

    def scores(
        self,
        topics: Collection[str],
        slot_of: Callable[[str], int | None],
        n_slots: int,
        timescale_days: float | None = None,
        layout: object = None,
    ) -> FloatArray:
        """``topic_history`` of every slot (``slot_of`` gives a helper id's slot, ``None`` to
        skip it): ``sum over topics t of idf(t) * (log(1 + decayed helps tagged t) +
        stated(t))``, each help weighted ``exp(-age / timescale_days)`` (no decay without a
        timescale; see :meth:`_decayed`); 0 for a helper sharing none of ``topics``.

        ``layout``: a token that changes whenever ``slot_of`` would answer differently (the
        index's layout); with it, each topic's slots and sums are kept between asks, so a topic
        shared by 100,000 helpers costs a few vector operations, not a Python loop."""
        out = np.zeros(n_slots, dtype=np.float64)
        for t in clean_topics(topics):
            stated = self._stated.get(t)
            if t not in self._helped and not stated:
                continue
            idf = self.idf(t)
            if t in self._helped:
                slots, sums = self._slots_and_sums(t, slot_of, timescale_days, layout)
                ok = slots >= 0
                np.add.at(out, slots[ok], idf * np.log1p(sums[ok]))
            for h in stated or ():
                s = slot_of(h)
                if s is not None:
                    out[s] += idf * STATED_WEIGHT
        return out

    def _slots_and_sums(
        self,
        topic: str,
        slot_of: Callable[[str], int | None],
        timescale_days: float | None,
        layout: object,
    ) -> tuple[npt.NDArray[np.intp], FloatArray]:
        """The slots (-1: not in the index) of the helpers with helps on ``topic`` and their
        decayed sums, kept while the topic's helps, the latest help, the timescale and
        ``layout`` stay the same (a help on another topic leaves them)."""
        ids = self._topic_arrays(topic)[0]
        key = (layout, self._latest, timescale_days)
        cached = self._scores_cache.get(topic)
        if layout is not None and cached is not None and cached[0] is ids and cached[1] == key:
            return cached[2], cached[3]
        ids, sums = self._decayed(topic, timescale_days)
        slots = np.fromiter(
            (-1 if (s := slot_of(h)) is None else s for h in ids), np.intp, len(ids)
        )
        if layout is not None:
            self._scores_cache[topic] = (ids, key, slots, sums)
        return slots, sums

    # --- persistence ----------------------------------------------------------------------
    def export_state(self) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
        """Arrays and JSON-able values :meth:`from_state` rebuilds this index from (copies:
        safe to write out after the index changed again)."""
        names: dict[str, int] = {}
        for h in self._n_of:
            names.setdefault(h, len(names))
        topics = list(self._helped)
        ptr = np.zeros(len(topics) + 1, dtype=np.int64)
        who_parts: list[npt.NDArray[np.int32]] = []
        when_parts: list[FloatArray] = []
        for i, t in enumerate(topics):
            who, when = self._helped[t]
            ids = np.fromiter((names.setdefault(h, len(names)) for h in who), np.int32, len(who))
            who_parts.append(ids)
            when_parts.append(np.frombuffer(when, dtype=np.float64).copy())
            ptr[i + 1] = ptr[i] + len(who)
        arrays: dict[str, npt.NDArray[Any]] = {
            "ptr": ptr,
            "who": np.concatenate(who_parts) if who_parts else np.zeros(0, np.int32),
            "when": np.concatenate(when_parts) if when_parts else np.zeros(0, np.float64),
            "n_of": np.array([self._n_of.get(h, 0) for h in names], dtype=np.int64),
        }
        meta = {
            "names": list(names),
            "topics": topics,
            "profiles": {h: sorted(t) for h, t in self._profile.items()},
            "n_helps": self._n_helps,
            "latest": None if math.isnan(self._latest) else self._latest,
        }
        return arrays, meta

    @classmethod
    def from_state(
        cls, arrays: Mapping[str, npt.NDArray[Any]], meta: Mapping[str, Any]
    ) -> TopicIndex:
        """The index :meth:`export_state` described."""
        index = cls()
        names = [str(h) for h in meta["names"]]
        topics = [str(t) for t in meta["topics"]]
        ptr = np.asarray(arrays["ptr"]).tolist()
        who = np.asarray(arrays["who"])
        when = np.asarray(arrays["when"], dtype=np.float64)
        if len(ptr) != len(topics) + 1 or who.size != when.size or ptr[-1] != who.size:
            raise ValueError("topic columns of different lengths")
        topics_of: dict[str, set[str]] = {}
        for i, t in enumerate(topics):
            lo, hi = ptr[i], ptr[i + 1]
            ids = who[lo:hi]
            column = [names[k] for k in ids.tolist()]
            index._helped[t] = (column, array("d", when[lo:hi].tobytes()))
            for k in np.unique(ids).tolist():
                mine = topics_of.get(names[k])
                if mine is None:
                    topics_of[names[k]] = {t}
                else:
                    mine.add(t)
        index._topics_of = topics_of
        n_of = np.asarray(arrays["n_of"]).tolist()
        index._n_of = {h: int(n) for h, n in zip(names, n_of, strict=False) if n}
        for h, stated in meta["profiles"].items():
            index.set_profile(str(h), stated)
        index._n_helps = int(meta["n_helps"])
        latest = meta["latest"]
        index._latest = math.nan if latest is None else float(latest)
        index.revision += 1
        return index


_ATTACHED: weakref.WeakKeyDictionary[HelperIndex, TopicIndex] = weakref.WeakKeyDictionary()


def attach(index: HelperIndex, topics: TopicIndex) -> TopicIndex:
    """Make ``topics`` the topic index the ranker consults for ``index``; returns it."""
    _ATTACHED[index] = topics
    return topics


def topics_of(index: HelperIndex) -> TopicIndex | None:
    """The topic index attached to ``index`` (``None``: the ranker has no topic signal)."""
    return _ATTACHED.get(index)
