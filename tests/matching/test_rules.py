from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from peerbot.matching import Ask, Candidate, HelperFacts
from peerbot.matching.rules import (
    Eligibility,
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


def _random_workspace(
    rng: np.random.Generator, n: int
) -> tuple[list[Candidate], dict[str, str | None], list[str]]:
    """``n`` helpers with every rule in play, and reporting lines with chains and cycles."""
    ids = [f"U{i}" for i in range(n)]
    people = ids + [f"P{i}" for i in range(n // 2)]
    managers: dict[str, str | None] = {
        p: (str(rng.choice(people)) if rng.random() < 0.8 else None) for p in people
    }
    helpers = []
    for uid in ids:
        used = int(rng.integers(0, 4))
        helpers.append(
            Candidate(
                0,
                uid,
                None,
                HelperFacts(
                    opted_in=bool(rng.random() < 0.95),
                    reachable=bool(rng.random() < 0.95),
                    paused_until=(
                        NOW + timedelta(days=int(rng.integers(-3, 3)))
                        if rng.random() < 0.2
                        else None
                    ),
                    never_match=frozenset(
                        str(p) for p in rng.choice(people, int(rng.integers(0, 3)))
                    ),
                    capacity_total=int(rng.integers(1, 4)),
                    capacity_used=used,
                    pending_offers=int(rng.integers(0, 3)),
                    pending_offers_max=2,
                ),
            )
        )
    return helpers, managers, people


def test_eligibility_kept_between_asks_answers_as_the_rules_do() -> None:
    rng = np.random.default_rng(7)
    for n in (5, 40, 300):
        helpers, managers, people = _random_workspace(rng, n)
        kept = Eligibility(helpers, managers)
        for _ in range(40):
            asker = str(rng.choice(people))
            ask = Ask(
                "",
                np.zeros(4, dtype=np.float32),
                NOW,
                asker_id=asker,
                asker_never_match=frozenset(str(p) for p in rng.choice(people, 2)),
                already_offered=frozenset(str(p) for p in rng.choice(people, 2)),
            )
            expected = eligible(helpers, ask, managers)
            assert kept.eligible(ask) == expected
            # Facts move between asks (offers made, pairs closed): only those are handed in.
            moved = [
                Candidate(
                    0,
                    h.user_id,
                    None,
                    HelperFacts(
                        opted_in=h.facts.opted_in,
                        reachable=h.facts.reachable,
                        paused_until=h.facts.paused_until,
                        never_match=frozenset({asker}) if rng.random() < 0.3 else frozenset(),
                        capacity_total=h.facts.capacity_total,
                        capacity_used=int(rng.integers(0, 4)),
                        pending_offers=int(rng.integers(0, 3)),
                        pending_offers_max=2,
                    ),
                )
                for h in rng.choice(np.array(helpers, dtype=object), max(1, n // 10))
            ]
            kept.replace(moved)
            new = {h.user_id: h for h in moved}
            helpers = [new.get(h.user_id, h) for h in helpers]
        assert kept.eligible(ask) == eligible(helpers, ask, managers)


def test_eligibility_keeps_a_cycle_in_the_reporting_lines_from_looping() -> None:
    helpers = [helper("CYC1"), helper("H"), helper("M1")]
    kept = Eligibility(helpers, MANAGERS)
    assert [h.user_id for h in kept.eligible(ask_facts("CYC2"))] == ["H", "M1"]
    # M1 reports to M2: out; the cycle is nobody's report.
    assert [h.user_id for h in kept.eligible(ask_facts("M2"))] == ["CYC1", "H"]
    for asker in ("CYC1", "CYC2", "M2", "A", "X"):
        assert kept.eligible(ask_facts(asker)) == eligible(helpers, ask_facts(asker), MANAGERS)


def test_a_kept_eligibility_of_a_hundred_thousand_helpers_is_kept() -> None:
    # Regression: the cache rebuilt its Eligibility once 50,000 ids had been replaced, and a
    # new one holds every helper's id: at 100,000 helpers every ask rebuilt it and synced
    # every helper's facts into the index again (a quarter of each ask's time).
    from peerbot.services.matching import worn_out

    n = 100_000
    elig = Eligibility([helper(f"H{i}") for i in range(n)], {})
    assert not worn_out(elig, n)
    elig.replace([helper("H1")] * (n + 10))
    assert not worn_out(elig, n)
    elig.replace([helper("H1")] * 60_000)
    assert worn_out(elig, n)  # it is rebuilt now and then, not never
