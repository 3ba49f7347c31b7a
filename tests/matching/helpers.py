"""Builders shared by the matching tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from peerbot.embeddings import HashingEmbedder
from peerbot.matching import HelperFacts, HelperRecord, PastHelp

EMB = HashingEmbedder(64)
NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


def past(ask_id: str, text: str, days_ago: float | None = 10) -> PastHelp:
    """A past help whose vector is the fake embedding of ``text``."""
    at = None if days_ago is None else NOW - timedelta(days=days_ago)
    return PastHelp(ask_id, EMB.embed([text])[0], text, at)


def helper(
    hid: str, texts: list[str], expertise: str = "", facts: HelperFacts | None = None
) -> HelperRecord:
    """A helper with past helps on ``texts`` and optional stated expertise."""
    vec = EMB.embed([expertise])[0] if expertise else None
    helps = [past(f"{hid}-{i}", t, days_ago=5 + 7 * i) for i, t in enumerate(texts)]
    return HelperRecord(hid, vec, expertise, helps, facts or HelperFacts())
