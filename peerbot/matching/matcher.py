"""The ranker port: the hard rules, then the hybrid ranker, on one snapshot. Pure, plain types."""

from __future__ import annotations

from typing import Protocol

from peerbot.matching.facts import Ranked, Snapshot
from peerbot.matching.index import HelperIndex
from peerbot.matching.ranker import HybridRanker
from peerbot.matching.rules import eligible
from peerbot.matching.scoring import RankerWeights


class Ranker(Protocol):
    """Orders the helpers a snapshot allows for its ask, best first, each with a true reason."""

    def rank(self, index: HelperIndex, snapshot: Snapshot) -> list[Ranked]:
        """Best first; only helpers that pass every hard rule."""
        ...


class RulesThenHybrid:
    """:class:`Ranker`: filter by :func:`~peerbot.matching.rules.eligible`, rank the rest with
    :class:`HybridRanker` over ``index``, using the snapshot's facts for both."""

    def __init__(self, weights: RankerWeights | None = None) -> None:
        self.weights = weights or RankerWeights()

    def rank(self, index: HelperIndex, snapshot: Snapshot) -> list[Ranked]:
        """Rank the eligible helpers of ``snapshot`` (those present in ``index``), best first.

        The index's facts of those helpers are brought up to the snapshot's first, so the rules
        and the ranker see the same facts.
        """
        allowed = eligible(snapshot.helpers, snapshot.ask, snapshot.managers)
        if not allowed:
            return []
        by_id = {c.user_id: c for c in allowed}
        index.sync_facts({c.user_id: c.facts for c in allowed})
        ranked = HybridRanker(index, self.weights).rank(
            snapshot.ask, allowed=list(by_id), limit=len(by_id)
        )
        return [Ranked(by_id[r.helper_id], r.score, r.explanation) for r in ranked]
