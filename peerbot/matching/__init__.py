"""Matching: the in-memory helper index, BM25, and the hybrid ranker used in production."""

from peerbot.matching.bm25 import BM25Index, tokenize
from peerbot.matching.index import (
    AddPastHelp,
    HelperFacts,
    HelperIndex,
    HelperRecord,
    IndexChange,
    PastHelp,
    RemoveHelper,
    UpdateFacts,
    UpsertHelper,
)
from peerbot.matching.ranker import Ask, HybridRanker, RankedHelper

__all__ = [
    "AddPastHelp",
    "Ask",
    "BM25Index",
    "HelperFacts",
    "HelperIndex",
    "HelperRecord",
    "HybridRanker",
    "IndexChange",
    "PastHelp",
    "RankedHelper",
    "RemoveHelper",
    "UpdateFacts",
    "UpsertHelper",
    "tokenize",
]
