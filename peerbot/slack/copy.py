"""Sentences more than one screen says, written once so that they cannot disagree."""

from __future__ import annotations


def who_sees(max_offers: int, at_once: int | None = 1, urgent_at_once: int | None = None) -> str:
    """Who will see a request, accurately: up to ``max_offers`` peers (``MAX_OFFERS_PER_ASK``),
    ``at_once`` at a time (1, or 2 when the ask's settings ask two helpers in parallel; None
    when the screen does not know, and then it says nothing about the pace). A screen where the
    asker has not chosen the urgency yet gives ``urgent_at_once`` too, the pace of an urgent ask
    ("In the next day or two"), said when it differs."""
    n = max(1, max_offers)
    if n == 1:
        return "One experienced peer sees it, in a private DM. Nobody else does."
    pace = ""
    if at_once is not None:
        pace = " one at a time" if at_once <= 1 else f" {at_once} at a time"
        if urgent_at_once is not None and urgent_at_once != at_once:
            pace += f" ({min(urgent_at_once, n)} at a time if you need help in the next day or two)"
        pace += ","
    return (
        f"Up to {n} experienced peers see it,{pace} each in a private DM, until one "
        "accepts. Nobody else does."
    )
