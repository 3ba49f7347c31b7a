"""Matching, in one place: the plain types, the hard rules, scoring, the helper index (with
BM25), the hybrid ranker, and the ranker port that puts rules and ranker together. Pure: the
services load a :class:`Snapshot` and keep the index current; nothing here does I/O."""

from peerbot.matching.bm25 import BM25Index, tokenize
from peerbot.matching.facts import Ask, Candidate, HelperFacts, Ranked, Snapshot
from peerbot.matching.index import (
    AddPastHelp,
    HelperColumns,
    HelperIndex,
    HelperRecord,
    IndexChange,
    PastHelp,
    RemoveHelper,
    UpdateFacts,
    UpsertHelper,
)
from peerbot.matching.matcher import Ranker, RulesThenHybrid
from peerbot.matching.ranker import HybridRanker, RankedHelper
from peerbot.matching.rules import Eligibility, Ineligible, eligible, why_ineligible
from peerbot.matching.scoring import RankerWeights

__all__ = [
    "AddPastHelp",
    "Ask",
    "BM25Index",
    "Candidate",
    "Eligibility",
    "HelperColumns",
    "HelperFacts",
    "HelperIndex",
    "HelperRecord",
    "HybridRanker",
    "IndexChange",
    "Ineligible",
    "PastHelp",
    "Ranked",
    "RankedHelper",
    "Ranker",
    "RankerWeights",
    "RemoveHelper",
    "RulesThenHybrid",
    "Snapshot",
    "UpdateFacts",
    "UpsertHelper",
    "eligible",
    "tokenize",
    "why_ineligible",
]
