"""Who may be asked to help whom: the hard filters applied before any ranking. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from peerbot.matching.facts import Ask, Candidate


class Ineligible(StrEnum):
    """Why a helper is filtered out for an ask."""

    NOT_OPTED_IN = "not opted in"
    PAUSED = "paused"
    NO_CAPACITY = "no capacity left"
    OFFERS_WAITING = "has as many offers waiting as allowed"
    IS_ASKER = "is the asker"
    REPORTING_LINE = "in the asker's reporting line"
    NEVER_MATCH = "on a never-match list"
    ALREADY_OFFERED = "already offered this ask"
    UNREACHABLE = "deleted or cannot be messaged"


def management_chain(
    user_id: str, managers: Mapping[str, str | None], limit: int = 50
) -> list[str]:
    """``user_id``'s managers, nearest first (cycles and over-long chains are cut)."""
    chain: list[str] = []
    seen = {user_id}
    current = managers.get(user_id)
    while current and current not in seen and len(chain) < limit:
        chain.append(current)
        seen.add(current)
        current = managers.get(current)
    return chain


def in_reporting_line(a: str, b: str, managers: Mapping[str, str | None]) -> bool:
    """True when either person manages the other, directly or further up."""
    return b in management_chain(a, managers) or a in management_chain(b, managers)


def why_ineligible(
    helper: Candidate, ask: Ask, managers: Mapping[str, str | None]
) -> Ineligible | None:
    """The first rule that excludes ``helper`` from ``ask`` (at ``ask.now``), or None."""
    facts = helper.facts
    uid = helper.user_id
    if not facts.opted_in:
        return Ineligible.NOT_OPTED_IN
    if uid == ask.asker_id:
        return Ineligible.IS_ASKER
    if not facts.reachable:
        return Ineligible.UNREACHABLE
    if facts.paused_until is not None and facts.paused_until > ask.now:
        return Ineligible.PAUSED
    if facts.capacity_total is not None and (facts.capacity_used or 0) >= facts.capacity_total:
        return Ineligible.NO_CAPACITY
    if facts.pending_offers_max is not None and (
        (facts.pending_offers or 0) >= facts.pending_offers_max
    ):
        return Ineligible.OFFERS_WAITING
    if uid in ask.already_offered:
        return Ineligible.ALREADY_OFFERED
    if (ask.asker_id is not None and ask.asker_id in facts.never_match) or (
        uid in ask.asker_never_match
    ):
        return Ineligible.NEVER_MATCH
    if ask.asker_id is not None and in_reporting_line(uid, ask.asker_id, managers):
        return Ineligible.REPORTING_LINE
    return None


def eligible(
    helpers: Iterable[Candidate], ask: Ask, managers: Mapping[str, str | None]
) -> list[Candidate]:
    """The helpers no rule excludes, in the given order."""
    return [h for h in helpers if why_ineligible(h, ask, managers) is None]
