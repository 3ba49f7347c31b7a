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


def _fixed_rule(helper: Candidate) -> Ineligible | None:
    """The rules that depend neither on the ask nor on the time (see :func:`why_ineligible`)."""
    facts = helper.facts
    if not facts.opted_in:
        return Ineligible.NOT_OPTED_IN
    if not facts.reachable:
        return Ineligible.UNREACHABLE
    if facts.capacity_total is not None and (facts.capacity_used or 0) >= facts.capacity_total:
        return Ineligible.NO_CAPACITY
    if facts.pending_offers_max is not None and (
        (facts.pending_offers or 0) >= facts.pending_offers_max
    ):
        return Ineligible.OFFERS_WAITING
    return None


class Eligibility:
    """:func:`eligible` for many asks over the same helpers, without a loop over every rule.

    The rules that do not depend on the ask are evaluated once per helper (again only for the
    helpers :meth:`replace` hands in); per ask only what the ask changes is looked up: the
    asker, their reporting line (up and down), the never-match lists naming them, the helpers
    already offered, and pauses still running. Same answer as :func:`eligible`, same order.
    """

    def __init__(self, helpers: Iterable[Candidate], managers: Mapping[str, str | None]) -> None:
        self.managers = managers
        #: Bumped whenever the set of helpers passing the fixed rules changes.
        self.revision = 0
        #: Ids handed to :meth:`replace`, in order (who to sync since a position).
        self.replaced: list[str] = []
        self._by_id: dict[str, Candidate] = {}
        self._fixed_ok: dict[str, bool] = {}
        self._paused: dict[str, Candidate] = {}
        self._blocked_by: dict[str, set[str]] = {}
        self._reports: dict[str, list[str]] = {}
        for uid, mgr in managers.items():
            if mgr:
                self._reports.setdefault(mgr, []).append(uid)
        self.replace(helpers)

    def replace(self, helpers: Iterable[Candidate]) -> None:
        """Take new facts for ``helpers`` (added when new; order kept for known ones)."""
        for h in helpers:
            uid = h.user_id
            self.replaced.append(uid)
            old = self._by_id.get(uid)
            if old is not None:
                for blocked in old.facts.never_match:
                    self._blocked_by.get(blocked, set()).discard(uid)
            self._by_id[uid] = h
            ok = _fixed_rule(h) is None
            if self._fixed_ok.get(uid) != ok:
                self._fixed_ok[uid] = ok
                self.revision += 1
            for blocked in h.facts.never_match:
                self._blocked_by.setdefault(blocked, set()).add(uid)
            if h.facts.paused_until is not None:
                self._paused[uid] = h
            else:
                self._paused.pop(uid, None)

    @property
    def by_id(self) -> Mapping[str, Candidate]:
        """Every helper held, by id."""
        return self._by_id

    def fixed_ok(self) -> list[str]:
        """Ids of the helpers passing the rules that do not depend on the ask, in order."""
        return [uid for uid, ok in self._fixed_ok.items() if ok]

    def _below(self, user_id: str, limit: int = 50) -> set[str]:
        """Everyone whose management chain (as :func:`management_chain` cuts it) holds
        ``user_id``: their reports, direct or further down."""
        found: set[str] = set()
        frontier = [user_id]
        for _depth in range(limit):
            nxt = []
            for m in frontier:
                for r in self._reports.get(m, ()):
                    if r not in found and r != user_id:
                        found.add(r)
                        nxt.append(r)
            if not nxt:
                break
            frontier = nxt
        # A cycle or an over-long chain can reach someone whose own chain is cut before
        # ``user_id``: keep only those the rule itself would name.
        return {r for r in found if user_id in management_chain(r, self.managers, limit)}

    def excluded(self, ask: Ask) -> set[str]:
        """Ids of helpers passing the fixed rules that this ask rules out."""
        drop = set(ask.already_offered) | set(ask.asker_never_match)
        asker = ask.asker_id
        if asker is not None:
            drop.add(asker)
            drop |= self._blocked_by.get(asker, set())
            drop.update(management_chain(asker, self.managers))
            drop |= self._below(asker)
        for uid, h in self._paused.items():
            until = h.facts.paused_until
            if until is not None and until > ask.now:
                drop.add(uid)
        return drop

    def eligible(self, ask: Ask) -> list[Candidate]:
        """:func:`eligible` of every helper held, for ``ask``."""
        drop = self.excluded(ask)
        return [self._by_id[uid] for uid, ok in self._fixed_ok.items() if ok and uid not in drop]
