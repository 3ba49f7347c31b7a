from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from peerbot.matching import Ask, Candidate, HelperFacts
from peerbot.matching.rules import (
    Ineligible,
    eligible,
    in_reporting_line,
    management_chain,
    why_ineligible,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
MANAGERS = {"A": "M1", "M1": "M2", "M2": None, "H": "X", "X": None, "CYC1": "CYC2", "CYC2": "CYC1"}


def helper(uid: str = "H", **kw: object) -> Candidate:
    base: dict[str, object] = {
        "opted_in": True,
        "paused_until": None,
        "capacity_total": 2,
        "capacity_used": 0,
    }
    base.update(kw)
    return Candidate(0, uid, None, HelperFacts(**base))  # type: ignore[arg-type]


def ask_facts(asker_id: str, **kw: frozenset[str]) -> Ask:
    return Ask("", np.zeros(4, dtype=np.float32), NOW, asker_id=asker_id, **kw)


ASK = ask_facts("A")


def test_a_willing_helper_is_eligible() -> None:
    assert why_ineligible(helper(), ASK, MANAGERS) is None


def test_each_rule() -> None:
    cases = [
        (helper(opted_in=False), ASK, Ineligible.NOT_OPTED_IN),
        (helper("A"), ASK, Ineligible.IS_ASKER),
        (helper(paused_until=NOW + timedelta(days=1)), ASK, Ineligible.PAUSED),
        (helper(capacity_used=2), ASK, Ineligible.NO_CAPACITY),
        (helper(never_match=frozenset({"A"})), ASK, Ineligible.NEVER_MATCH),
        (helper(), ask_facts("A", asker_never_match=frozenset({"H"})), Ineligible.NEVER_MATCH),
        (helper(), ask_facts("A", already_offered=frozenset({"H"})), Ineligible.ALREADY_OFFERED),
        (helper("M2"), ASK, Ineligible.REPORTING_LINE),
        (helper(reachable=False), ASK, Ineligible.UNREACHABLE),
        (helper(pending_offers=2, pending_offers_max=2), ASK, Ineligible.OFFERS_WAITING),
    ]
    for h, ask, expected in cases:
        assert why_ineligible(h, ask, MANAGERS) is expected


def test_offers_waiting_below_the_cap_or_without_one_rule_out_nobody() -> None:
    assert why_ineligible(helper(pending_offers=1, pending_offers_max=2), ASK, MANAGERS) is None
    assert why_ineligible(helper(pending_offers=9), ASK, MANAGERS) is None  # no cap set


def test_pause_in_the_past_has_ended() -> None:
    assert why_ineligible(helper(paused_until=NOW - timedelta(seconds=1)), ASK, MANAGERS) is None


def test_reporting_line_either_way() -> None:
    assert in_reporting_line("A", "M2", MANAGERS)
    assert in_reporting_line("M2", "A", MANAGERS)
    assert not in_reporting_line("A", "H", MANAGERS)


def test_chain_survives_cycles() -> None:
    assert management_chain("CYC1", MANAGERS) == ["CYC2"]


def test_eligible_keeps_order() -> None:
    hs = [helper("H"), helper("A"), helper("Z")]
    assert [h.user_id for h in eligible(hs, ASK, MANAGERS)] == ["H", "Z"]
