"""The replay of ``peerbot eval routing``: capacity is occupied, fairness sees the offers so far,
and the bootstrap intervals hold the estimate."""

from __future__ import annotations

from datetime import timedelta

from peerbot.eval.replay import ReplayAsk, bootstrap, load_figures, replay
from peerbot.matching import Ask, RulesThenHybrid, Snapshot, eligible
from peerbot.matching.facts import HelperFacts
from tests.matching.helpers import EMB, NOW


def _asks(n: int, every_days: float = 1.0) -> list[ReplayAsk]:
    out = []
    for i in range(n):
        at = NOW + timedelta(days=i * every_days)
        out.append(ReplayAsk(at, Ask(f"ask {i}", EMB.embed([f"ask {i}"])[0], at), frozenset("A")))
    return out


def _always_a_first(s: Snapshot) -> list[str]:
    """A ranker that prefers A, then B, then C: only those the rules allow."""
    ok = {c.user_id for c in eligible(s.helpers, s.ask, s.managers)}
    return [h for h in "ABC" if h in ok]


def test_capacity_is_occupied_for_the_configured_days() -> None:
    res = replay(_asks(4), list("ABC"), {}, _always_a_first, capacity=1, occupy_days=2.5)
    # Day 0: A; day 1: A is busy (until day 2.5) -> B; day 2: A and B busy -> C; day 3: A free.
    assert res.firsts == ["A", "B", "C", "A"]
    assert [r["MRR"] for r in res.rows] == [1.0, 0.0, 0.0, 1.0]
    # Day 1 and day 2: A, the one relevant helper, is at capacity: those asks cannot score.
    assert res.all_busy == [False, True, True, False]
    # Occupied for less than a day: A takes every ask.
    res = replay(_asks(4), list("ABC"), {}, _always_a_first, capacity=1, occupy_days=0.5)
    assert res.firsts == ["A"] * 4
    assert not any(res.all_busy)


def test_an_ask_is_all_busy_only_when_every_relevant_helper_is_full() -> None:
    """A and B both answered; with A busy, B still can score the ask (not all busy)."""
    asks = [ReplayAsk(a.at, a.ask, frozenset("AB")) for a in _asks(3)]
    res = replay(asks, list("ABC"), {}, _always_a_first, capacity=1, occupy_days=1.5)
    # Day 0: A; day 1: A busy -> B (relevant: MRR 1); day 2: A free again.
    assert res.firsts == ["A", "B", "A"]
    assert res.all_busy == [False, False, False]
    assert [r["MRR"] for r in res.rows] == [1.0, 1.0, 1.0]


def test_fairness_sees_the_offers_made_so_far() -> None:
    """Through the production ranker with only the fairness signal: each first offer goes to
    whoever had the fewest offers lately, so three helpers share six asks evenly."""
    from peerbot.matching import HelperIndex, HelperRecord
    from peerbot.matching.scoring import SIGNALS, RankerWeights

    index = HelperIndex.build([HelperRecord(h, None, "", ()) for h in "ABC"], EMB.dimension)
    only_fairness = RankerWeights.from_mapping({**dict.fromkeys(SIGNALS, 0.0), "fairness": 1.0})

    def rank(s: Snapshot) -> list[str]:
        return [r.candidate.user_id for r in RulesThenHybrid(only_fairness).rank(index, s)]

    base = {h: HelperFacts() for h in "ABC"}
    res = replay(_asks(6), list("ABC"), base, rank, capacity=10, occupy_days=0.1)
    assert sorted(res.firsts) == ["A", "A", "B", "B", "C", "C"]
    figures = load_figures(res.firsts, 3)
    assert figures["distinct_first_offers"] == 3 and figures["gini"] == 0.0


def test_bootstrap_interval_holds_the_mean() -> None:
    rows = [{"MRR": float(i % 3 == 0)} for i in range(90)]
    firsts = [str(i % 5) for i in range(90)]
    ci = bootstrap(rows, firsts, 10, draws=300)
    low, high = ci["MRR"]
    assert low < 1 / 3 < high and high - low < 0.3
    assert ci["distinct_first_offers"] == [5.0, 5.0]
