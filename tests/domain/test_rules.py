from __future__ import annotations

from datetime import UTC, datetime, timedelta

from peerbot.domain.rules import (
    AskFacts,
    HelperFacts,
    Ineligible,
    eligible,
    in_reporting_line,
    management_chain,
    why_ineligible,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
MANAGERS = {"A": "M1", "M1": "M2", "M2": None, "H": "X", "X": None, "CYC1": "CYC2", "CYC2": "CYC1"}


def helper(uid: str = "H", **kw: object) -> HelperFacts:
    base: dict[str, object] = {
        "user_id": uid,
        "opted_in": True,
        "paused_until": None,
        "capacity": 2,
        "active_pairs": 0,
    }
    base.update(kw)
    return HelperFacts(**base)  # type: ignore[arg-type]


ASK = AskFacts(asker_id="A")


def test_a_willing_helper_is_eligible() -> None:
    assert why_ineligible(helper(), ASK, MANAGERS, NOW) is None


def test_each_rule() -> None:
    cases = [
        (helper(opted_in=False), ASK, Ineligible.NOT_OPTED_IN),
        (helper("A"), ASK, Ineligible.IS_ASKER),
        (helper(paused_until=NOW + timedelta(days=1)), ASK, Ineligible.PAUSED),
        (helper(active_pairs=2), ASK, Ineligible.NO_CAPACITY),
        (helper(never_match=frozenset({"A"})), ASK, Ineligible.NEVER_MATCH),
        (helper(), AskFacts("A", asker_never_match=frozenset({"H"})), Ineligible.NEVER_MATCH),
        (helper(), AskFacts("A", already_offered=frozenset({"H"})), Ineligible.ALREADY_OFFERED),
        (helper("M2"), ASK, Ineligible.REPORTING_LINE),
        (helper(reachable=False), ASK, Ineligible.UNREACHABLE),
    ]
    for h, ask, expected in cases:
        assert why_ineligible(h, ask, MANAGERS, NOW) is expected


def test_pause_in_the_past_has_ended() -> None:
    assert (
        why_ineligible(helper(paused_until=NOW - timedelta(seconds=1)), ASK, MANAGERS, NOW) is None
    )


def test_reporting_line_either_way() -> None:
    assert in_reporting_line("A", "M2", MANAGERS)
    assert in_reporting_line("M2", "A", MANAGERS)
    assert not in_reporting_line("A", "H", MANAGERS)


def test_chain_survives_cycles() -> None:
    assert management_chain("CYC1", MANAGERS) == ["CYC2"]


def test_eligible_keeps_order() -> None:
    hs = [helper("H"), helper("A"), helper("Z")]
    assert [h.user_id for h in eligible(hs, ASK, MANAGERS, NOW)] == ["H", "Z"]
