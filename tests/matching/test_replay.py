"""The replay of ``peerbot eval routing``: capacity is occupied, fairness sees the offers so far,
and the bootstrap intervals hold the estimate."""

from __future__ import annotations

from datetime import timedelta

import pytest

from peerbot.eval.replay import (
    ReplayAsk,
    ReplayResult,
    bootstrap,
    load_figures,
    ratio_bootstrap,
    replay,
)
from peerbot.eval.routing import _replay_mean, occupancy_lengths
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
    # A window shorter than the day between asks sees no earlier offer: every helper has
    # none lately, the signal is flat, and the first in order (A) takes every ask.
    res = replay(
        _asks(6),
        list("ABC"),
        base,
        rank,
        capacity=10,
        occupy_days=0.1,
        fairness_window=timedelta(hours=12),
    )
    assert res.firsts == ["A"] * 6


def test_bootstrap_interval_holds_the_mean() -> None:
    rows = [{"MRR": float(i % 3 == 0)} for i in range(90)]
    firsts = [str(i % 5) for i in range(90)]
    ci = bootstrap(rows, firsts, 10, draws=300)
    low, high = ci["MRR"]
    assert low < 1 / 3 < high and high - low < 0.3
    assert ci["distinct_first_offers"] == [5.0, 5.0]


def test_the_ratio_interval_is_paired_and_holds_the_ratio() -> None:
    """Ours is twice theirs on every ask: every resample gives exactly 2 (paired: the same asks
    in both means). With noise, the interval holds the ratio of the means."""
    theirs = [0.1 * (i % 4) for i in range(40)]
    exact = ratio_bootstrap([2 * t for t in theirs], theirs, draws=200)
    assert exact["ratio"] == pytest.approx(2.0)
    assert exact["interval"] == pytest.approx([2.0, 2.0])
    ours = [t + (0.3 if i % 3 == 0 else 0.0) for i, t in enumerate(theirs)]
    noisy = ratio_bootstrap(ours, theirs, draws=300)
    low, high = noisy["interval"]
    assert noisy["ratio"] == pytest.approx(sum(ours) / sum(theirs))
    assert low < noisy["ratio"] < high and low > 1.0
    assert ratio_bootstrap([1.0, 0.5], [0.0, 0.0]) == {}


def test_the_replayed_figure_averages_the_occupancy_lengths() -> None:
    """Five lengths, a day either side in half-day steps; each ask's reciprocal rank averaged
    over the lengths (not the replays pooled), the load figures averaged, each length kept."""
    assert occupancy_lengths(7.0) == [6.0, 6.5, 7.0, 7.5, 8.0]
    assert occupancy_lengths(7.0, 0.0) == [7.0]
    assert occupancy_lengths(0.5, 1.0) == [0.5, 1.0, 1.5]  # no length below a tenth of a day
    assert 3.3 in occupancy_lengths(3.3)  # the asked length exactly: its replay is reused

    def res(rrs: list[float], firsts: list[str]) -> ReplayResult:
        return ReplayResult([{"MRR": r} for r in rrs], list(firsts), [r == 0 for r in rrs])

    runs = {
        6.0: {"peerbot": res([1.0, 0.5, 0.0], "AAB"), "bm25": res([0.5, 0.5, 0.0], "AAA")},
        8.0: {"peerbot": res([1.0, 0.0, 0.0], "ABC"), "bm25": res([0.5, 0.25, 0.0], "AAA")},
    }
    mean = _replay_mean(runs, 4, capacity=2, draws=100)
    assert mean["occupy_days"] == [6.0, 8.0]
    assert mean["peerbot"]["MRR"] == pytest.approx((1.0 + 0.25 + 0.0) / 3)
    assert mean["bm25"]["MRR"] == pytest.approx((0.5 + 0.375) / 3)
    assert mean["peerbot"]["distinct_first_offers"] == 2.5  # 2 at 6 days, 3 at 8
    assert mean["peerbot"]["fewest_distinct_first_offers"] == 2
    assert mean["peerbot"]["answerers_all_busy"] == 1.5
    assert mean["ratio"]["peerbot / bm25"]["ratio"] == pytest.approx(1.25 / 0.875)
    assert mean["paired"]["peerbot - bm25"]["difference"] == pytest.approx((1.25 - 0.875) / 3)
    assert [p["occupy_days"] for p in mean["per_length"]] == [6.0, 8.0]
    assert mean["per_length"][0]["peerbot"] == pytest.approx(0.5)
    assert mean["per_length"][1]["distinct_first_offers"] == {"peerbot": 3, "bm25": 1}
