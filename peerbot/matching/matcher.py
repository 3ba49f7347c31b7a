"""The ranker port: the hard rules, then the hybrid ranker, on one snapshot. Pure, plain types."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol, overload

import numpy as np
import numpy.typing as npt

from peerbot.matching.facts import Ask, Candidate, Ranked, Snapshot
from peerbot.matching.index import HelperIndex
from peerbot.matching.learned import NEWCOMER_POSITION, place_newcomer
from peerbot.matching.ranker import HybridRanker, Scoring
from peerbot.matching.rules import Eligibility, eligible
from peerbot.matching.scoring import RankerWeights

#: The head of the order sorted at first (see :meth:`RankedList.order`).
_HEAD = 32


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
        helps: npt.NDArray[np.float64],
        ask: Ask,
        by_id: Mapping[str, Candidate],
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self._lock = lock or nullcontext()
        self._ranker = ranker
        self._scoring = scoring
        self._helps = helps
        self._ask = ask
        self._by_id = by_id
        self._done: dict[int, Ranked] = {}
        #: The order (see :meth:`order`); only its first ``_known`` entries are final.
        self._order = np.zeros(0, dtype=np.intp)
        self._known = 0

    def order(self, upto: int | None = None) -> npt.NDArray[np.intp]:
        """Candidate positions best first (:func:`place_newcomer` applied to the score order),
        at least the first ``upto`` of them (all when ``None``).

        Only the head that is read is sorted: a full sort of 100,000 scores took longer than
        the rest of a ranking, and an ask is offered to a few helpers. The head is exactly the
        full order's: :meth:`Scored.order` of ``k`` is the first ``k`` of the full stable sort,
        and :func:`place_newcomer` moves one candidate up to a position before ``k``, so the
        first ``k`` entries of its result do not depend on how the rest is ordered.
        """
        scored = self._scoring.scored
        n = int(scored.score.size)
        want = n if upto is None else min(max(upto, 0), n)
        if want <= self._known:
            return self._order[: self._known]
        # Grow geometrically; past half of the candidates a full sort costs no more.
        k = max(want, 2 * self._known, _HEAD)
        if k > NEWCOMER_POSITION and 2 * k < n:
            head = scored.order(k)[:k]
            rest = np.ones(n, dtype=bool)
            rest[head] = False
            full = np.concatenate([head, np.flatnonzero(rest)])
        else:
            k = n
            full = scored.order(None)
        self._order = place_newcomer(scored, full, self._helps)
        self._known = k
        return self._order[:k]

    def __len__(self) -> int:
        return int(self._scoring.scored.score.size)

    def helper_ids(self) -> list[str]:
        """The candidates' ids best first, without writing any explanation."""
        ids = self._scoring.scored.ids
        return [ids[int(i)] for i in self.order()]

    def _at(self, i: int) -> Ranked:
        hit = self._done.get(i)
        if hit is None:
            pos = int(self.order(i + 1)[i])
            with self._lock:  # the index may be refreshed by another ranking meanwhile
                r = self._ranker.explain(self._scoring, pos, self._ask)
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
        #: (index, its layout, eligibility, its revision) -> slots passing the fixed rules.
        self._fixed: tuple[HelperIndex, int, Eligibility, int, npt.NDArray[np.intp]] | None = None
        #: (index, its layout, eligibility, position in its ``replaced``) last synced.
        self._synced: tuple[HelperIndex, int, Eligibility, int] | None = None

    def apart(self) -> RulesThenHybrid:
        """A ranker with these weights and nothing kept: to warm an index no ranking of this
        one sees yet (see :meth:`adopt`), while this one ranks on."""
        return RulesThenHybrid(self.weights)

    def adopt(self, other: RulesThenHybrid) -> None:
        """Keep what ``other`` kept between asks (the rules' state of the index it ranked
        last) in place of this ranker's own: once that index is the one asks rank on, the
        next ask finds it. Each kept part names the index, its layout and the rules' view it
        holds for, so a part that no longer fits is made again, as always."""
        self._fixed = other._fixed
        self._synced = other._synced

    def rank(
        self,
        index: HelperIndex,
        snapshot: Snapshot,
        lock: AbstractContextManager[object] | None = None,
        weights: RankerWeights | None = None,
    ) -> Sequence[Ranked]:
        """Rank the eligible helpers of ``snapshot`` (those present in ``index``), best first.

        The index's facts of those helpers are brought up to the snapshot's first, so the rules
        and the ranker see the same facts. Explanations are written as the result is read
        (:class:`RankedList`): only for the helpers actually offered; ``lock`` is held while
        one is written (the one that guards ``index`` against changes). ``weights``: the
        workspace's learned ones (this ranker's own when ``None``); the rules' state kept
        between asks is the same whatever the weights.
        """
        if snapshot.eligibility is not None:
            return self._rank_kept(index, snapshot, snapshot.eligibility, lock, weights)
        allowed = eligible(snapshot.helpers, snapshot.ask, snapshot.managers)
        if not allowed:
            return []
        by_id = {c.user_id: c for c in allowed}
        index.sync_facts({c.user_id: c.facts for c in allowed})
        ranker = HybridRanker(index, weights or self.weights)
        scoring = ranker.score(snapshot.ask, allowed=list(by_id))
        return _ranked(index, ranker, scoring, snapshot.ask, by_id, lock)

    def _fixed_slots(self, index: HelperIndex, elig: Eligibility) -> npt.NDArray[np.intp]:
        """Index slots of the helpers passing the fixed rules (kept until either side moves)."""
        kept = self._fixed
        if (
            kept is not None
            and kept[0] is index
            and kept[1] == index.layout
            and kept[2] is elig
            and kept[3] == elig.revision
        ):
            return kept[4]
        slots = [s for s in (index.slot(uid) for uid in elig.fixed_ok()) if s is not None]
        arr = np.asarray(slots, dtype=np.intp)
        self._fixed = (index, index.layout, elig, elig.revision, arr)
        return arr

    def _rank_kept(
        self,
        index: HelperIndex,
        snapshot: Snapshot,
        elig: Eligibility,
        lock: AbstractContextManager[object] | None,
        weights: RankerWeights | None = None,
    ) -> Sequence[Ranked]:
        """:meth:`rank` with an :class:`Eligibility` kept between asks: the same candidates in
        the same order as :func:`eligible` gives, without checking every rule of every helper."""
        ask = snapshot.ask
        base = slots = self._fixed_slots(index, elig)
        drop = [s for s in (index.slot(uid) for uid in elig.excluded(ask)) if s is not None]
        if drop:
            slots = slots[~np.isin(slots, np.asarray(drop, dtype=np.intp))]
        if slots.size == 0:
            return []
        by_id = elig.by_id
        synced = self._synced
        if synced is not None and synced[:3] == (index, index.layout, elig):
            # Only the helpers whose facts were replaced since the last sync.
            todo: Iterable[str] = dict.fromkeys(elig.replaced[synced[3] :])
        else:  # everyone who may be a candidate: the index's copy may be from its build
            todo = index.live()[1][self._fixed_slots(index, elig)].tolist()
        index.sync_facts({uid: by_id[uid].facts for uid in todo if uid in by_id})
        self._synced = (index, index.layout, elig, len(elig.replaced))
        ranker = HybridRanker(index, weights or self.weights)
        # The ask-independent contributions are kept for everyone passing the fixed rules and
        # the candidates' derived from them (most askers are helpers, left out of their ask).
        scoring = ranker.score(ask, slots=slots, base=base)
        return _ranked(index, ranker, scoring, ask, by_id, lock)


def _ranked(
    index: HelperIndex,
    ranker: HybridRanker,
    scoring: Scoring,
    ask: Ask,
    by_id: Mapping[str, Candidate],
    lock: AbstractContextManager[object] | None,
) -> RankedList:
    """The ranked list, best first; cold start: a newcomer whose expertise fits is offered
    early (see :func:`~peerbot.matching.learned.place_newcomer`)."""
    helps = index.fact_columns()["helps_given"][scoring.slots]
    return RankedList(ranker, scoring, helps, ask, by_id, lock)
