"""The ranker port: the hard rules, then the hybrid ranker, on one snapshot. Pure, plain types."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol, overload

import numpy as np
import numpy.typing as npt

from peerbot.matching.facts import Ask, Candidate, Ranked, Snapshot
from peerbot.matching.index import HelperIndex
from peerbot.matching.learned import place_newcomer
from peerbot.matching.ranker import HybridRanker, Scoring
from peerbot.matching.rules import eligible
from peerbot.matching.scoring import RankerWeights


class Ranker(Protocol):
    """Orders the helpers a snapshot allows for its ask, best first, each with a true reason."""

    def rank(self, index: HelperIndex, snapshot: Snapshot) -> Sequence[Ranked]:
        """Best first; only helpers that pass every hard rule."""
        ...


class RankedList(Sequence[Ranked]):
    """Candidates best first; each one's explanation is written when it is first read.

    Ranking scores every candidate, but only the few offered are ever explained: writing the
    words for all of them cost seconds in a workspace of 100,000 helpers.
    """

    def __init__(
        self,
        ranker: HybridRanker,
        scoring: Scoring,
        order: npt.NDArray[np.intp],
        ask: Ask,
        by_id: dict[str, Candidate],
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self._lock = lock or nullcontext()
        self._ranker = ranker
        self._scoring = scoring
        self._order = order
        self._ask = ask
        self._by_id = by_id
        self._done: dict[int, Ranked] = {}

    def __len__(self) -> int:
        return int(self._order.size)

    def helper_ids(self) -> list[str]:
        """The candidates' ids best first, without writing any explanation."""
        ids = self._scoring.scored.ids
        return [ids[int(i)] for i in self._order]

    def _at(self, i: int) -> Ranked:
        hit = self._done.get(i)
        if hit is None:
            with self._lock:  # the index may be refreshed by another ranking meanwhile
                r = self._ranker.explain(self._scoring, int(self._order[i]), self._ask)
            hit = Ranked(self._by_id[r.helper_id], r.score, r.explanation)
            self._done[i] = hit
        return hit

    @overload
    def __getitem__(self, i: int) -> Ranked: ...
    @overload
    def __getitem__(self, i: slice) -> list[Ranked]: ...
    def __getitem__(self, i: int | slice) -> Ranked | list[Ranked]:
        if isinstance(i, slice):
            return [self._at(j) for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._at(i)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class RulesThenHybrid:
    """:class:`Ranker`: filter by :func:`~peerbot.matching.rules.eligible`, rank the rest with
    :class:`HybridRanker` over ``index``, using the snapshot's facts for both."""

    def __init__(self, weights: RankerWeights | None = None) -> None:
        self.weights = weights or RankerWeights()

    def rank(
        self,
        index: HelperIndex,
        snapshot: Snapshot,
        lock: AbstractContextManager[object] | None = None,
    ) -> Sequence[Ranked]:
        """Rank the eligible helpers of ``snapshot`` (those present in ``index``), best first.

        The index's facts of those helpers are brought up to the snapshot's first, so the rules
        and the ranker see the same facts. Explanations are written as the result is read
        (:class:`RankedList`): only for the helpers actually offered; ``lock`` is held while
        one is written (the one that guards ``index`` against changes).
        """
        allowed = eligible(snapshot.helpers, snapshot.ask, snapshot.managers)
        if not allowed:
            return []
        by_id = {c.user_id: c for c in allowed}
        index.sync_facts({c.user_id: c.facts for c in allowed})
        ranker = HybridRanker(index, self.weights)
        scoring = ranker.score(snapshot.ask, allowed=list(by_id))
        # Cold start: a newcomer whose expertise fits is offered early (see place_newcomer).
        helps = index.fact_columns()["helps_given"][scoring.slots]
        order = place_newcomer(scoring.scored, scoring.scored.order(None), helps)
        return RankedList(ranker, scoring, order, snapshot.ask, by_id, lock)
