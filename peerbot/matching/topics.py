"""Topics of past helps and of helper profiles: the ``topic_history`` signal's index.

An ask may carry topics (picked by the asker in production; a Stack Exchange question's tags in
the offline evaluation). Each past help then carries the topics of the ask it helped on, and a
helper may list topics on their profile. ``topic_history`` scores a helper for an ask by the
tf-idf-weighted overlap of the ask's topics with theirs::

    sum over the ask's topics t of idf(t) * (log(1 + helps of theirs tagged t) + stated(t))

where ``stated(t)`` is :data:`STATED_WEIGHT` when ``t`` is on their profile, and
``idf(t) = log((1 + N) / (1 + n_t))`` over the ``N`` past helps (``n_t`` of them tagged ``t``),
so a rare topic shared says more than a common one.

The structure lives beside the :class:`~peerbot.matching.index.HelperIndex` (attached with
:func:`attach`, found by the ranker with :func:`topics_of`) rather than inside it: it is small
(counts per helper and topic), keyed by helper id, and fed by whoever feeds the index's past
helps. Pure: no I/O.
"""

from __future__ import annotations

import math
import weakref
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from peerbot.matching.index import HelperIndex

FloatArray = npt.NDArray[np.float64]

#: What a topic on a helper's profile is worth, in units of ``log(1 + helps)`` (one stated topic
#: counts as much as one past help tagged with it: ``log(2)``).
STATED_WEIGHT = math.log(2.0)


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
    """Per helper: how many past helps carried each topic, and the topics of their profile."""

    def __init__(self) -> None:
        #: topic -> helper id -> helps tagged with it.
        self._helped: dict[str, Counter[str]] = {}
        #: topic -> helper ids that list it on their profile.
        self._stated: dict[str, set[str]] = {}
        self._profile: dict[str, frozenset[str]] = {}
        self._n_helps = 0
        #: Bumped on every change (caches key on it).
        self.revision = 0

    def __len__(self) -> int:
        """Past helps recorded (tagged or not)."""
        return self._n_helps

    def add_help(self, helper_id: str, topics: Iterable[str]) -> None:
        """Record one past help of ``helper_id`` on an ask with ``topics`` (may be none)."""
        self._n_helps += 1
        for t in clean_topics(topics):
            self._helped.setdefault(t, Counter())[helper_id] += 1
        self.revision += 1

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
        """Forget ``helper_id``'s profile topics and tagged helps (the help count stays: the
        asks happened)."""
        self.set_profile(helper_id, ())
        for counts in self._helped.values():
            counts.pop(helper_id, None)
        self.revision += 1

    def helps_tagged(self, helper_id: str, topic: str) -> int:
        """Past helps of ``helper_id`` on asks tagged ``topic``."""
        return int(self._helped.get(topic, Counter()).get(helper_id, 0))

    def stated(self, helper_id: str) -> frozenset[str]:
        """The topics on ``helper_id``'s profile."""
        return self._profile.get(helper_id, frozenset())

    def idf(self, topic: str) -> float:
        """``log((1 + N) / (1 + n_t))``: how rare ``topic`` is among the past helps."""
        n_t = sum(self._helped.get(topic, Counter()).values())
        return math.log((1.0 + self._n_helps) / (1.0 + n_t))

    def evidence(self, helper_id: str, topics: Collection[str]) -> list[TopicEvidence]:
        """Per topic of the ask that ``helper_id`` shares, what it adds; largest first."""
        out = []
        mine = self.stated(helper_id)
        for t in clean_topics(topics):
            helps = self.helps_tagged(helper_id, t)
            stated = t in mine
            if not helps and not stated:
                continue
            value = self.idf(t) * (math.log1p(helps) + (STATED_WEIGHT if stated else 0.0))
            out.append(TopicEvidence(t, helps, stated, value))
        out.sort(key=lambda e: (-e.value, e.topic))
        return out

    def scores(
        self, topics: Collection[str], slot_of: Callable[[str], int | None], n_slots: int
    ) -> FloatArray:
        """``topic_history`` of every slot (``slot_of`` gives a helper id's slot, ``None`` to
        skip it): 0 for a helper sharing none of ``topics``."""
        out = np.zeros(n_slots, dtype=np.float64)
        for t in clean_topics(topics):
            helped = self._helped.get(t)
            stated = self._stated.get(t)
            if not helped and not stated:
                continue
            idf = self.idf(t)
            if helped:
                for h, c in helped.items():
                    s = slot_of(h)
                    if s is not None:
                        out[s] += idf * math.log1p(c)
            if stated:
                for h in stated:
                    s = slot_of(h)
                    if s is not None:
                        out[s] += idf * STATED_WEIGHT
        return out


_ATTACHED: weakref.WeakKeyDictionary[HelperIndex, TopicIndex] = weakref.WeakKeyDictionary()


def attach(index: HelperIndex, topics: TopicIndex) -> TopicIndex:
    """Make ``topics`` the topic index the ranker consults for ``index``; returns it."""
    _ATTACHED[index] = topics
    return topics


def topics_of(index: HelperIndex) -> TopicIndex | None:
    """The topic index attached to ``index`` (``None``: the ranker has no topic signal)."""
    return _ATTACHED.get(index)
