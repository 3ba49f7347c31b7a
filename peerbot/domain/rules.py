"""Who may be asked to help whom: the hard filters applied before any ranking. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Ineligible(StrEnum):
    """Why a helper is filtered out for an ask."""

    NOT_OPTED_IN = "not opted in"
    PAUSED = "paused"
    NO_CAPACITY = "no capacity left"
    IS_ASKER = "is the asker"
    REPORTING_LINE = "in the asker's reporting line"
    NEVER_MATCH = "on a never-match list"
    ALREADY_OFFERED = "already offered this ask"
    UNREACHABLE = "deleted or cannot be messaged"


@dataclass(frozen=True)
class HelperFacts:
    """What the rules need to know about one helper."""

    user_id: str
    opted_in: bool
    paused_until: datetime | None
    capacity: int
    active_pairs: int
    never_match: frozenset[str] = field(default_factory=frozenset)
    reachable: bool = True


@dataclass(frozen=True)
class AskFacts:
    """What the rules need to know about the ask and its asker."""

    asker_id: str
    asker_never_match: frozenset[str] = field(default_factory=frozenset)
    already_offered: frozenset[str] = field(default_factory=frozenset)


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
    helper: HelperFacts, ask: AskFacts, managers: Mapping[str, str | None], now: datetime
) -> Ineligible | None:
    """The first rule that excludes ``helper`` from ``ask``, or None when they may be asked."""
    if not helper.opted_in:
        return Ineligible.NOT_OPTED_IN
    if helper.user_id == ask.asker_id:
        return Ineligible.IS_ASKER
    if not helper.reachable:
        return Ineligible.UNREACHABLE
    if helper.paused_until is not None and helper.paused_until > now:
        return Ineligible.PAUSED
    if helper.active_pairs >= helper.capacity:
        return Ineligible.NO_CAPACITY
    if helper.user_id in ask.already_offered:
        return Ineligible.ALREADY_OFFERED
    if ask.asker_id in helper.never_match or helper.user_id in ask.asker_never_match:
        return Ineligible.NEVER_MATCH
    if in_reporting_line(helper.user_id, ask.asker_id, managers):
        return Ineligible.REPORTING_LINE
    return None


def eligible(
    helpers: Iterable[HelperFacts],
    ask: AskFacts,
    managers: Mapping[str, str | None],
    now: datetime,
) -> list[HelperFacts]:
    """The helpers no rule excludes, in the given order."""
    return [h for h in helpers if why_ineligible(h, ask, managers, now) is None]
