"""HybridRanker: explanations tell the truth, fairness spreads offers, absent data is harmless."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from peerbot.matching import Ask, HelperFacts, HelperIndex, HybridRanker
from peerbot.matching.index import KIND_PAST
from peerbot.matching.scoring import SIGNALS, RankerWeights, combine, top_reasons
from tests.matching.helpers import EMB, NOW, helper

ASK = "how do I handle a low performer who keeps missing deadlines"


def _ask(text: str = ASK, offset: int | None = 0, asker: str | None = "ASKER") -> Ask:
    return Ask(text, EMB.embed([text])[0], NOW, asker_id=asker, asker_utc_offset_minutes=offset)


def _workspace() -> HelperIndex:
    records = [
        helper(
            "PERF",
            [
                "handling a low performer on my team",
                "low performer missing deadlines again",
                "performance plan for a low performer",
                "how to hire a designer",
            ],
            "performance management and difficult conversations",
            HelperFacts(capacity_total=3, capacity_used=2, utc_offset_minutes=0, recent_offers=3),
        ),
        helper(
            "HIRE",
            ["how to hire a designer", "hiring loop for engineers"],
            "hiring",
            HelperFacts(
                capacity_total=3,
                capacity_used=0,
                utc_offset_minutes=60,
                recent_offers=0,
                rating_mean=4.8,
                rating_count=12,
            ),
        ),
        helper(
            "FAR",
            ["budget planning"],
            "",
            HelperFacts(
                capacity_total=3,
                capacity_used=0,
                utc_offset_minutes=9 * 60,
                recent_offers=1,
                offers_received=10,
                offers_accepted=9,
            ),
        ),
        helper("NEW", [], "", HelperFacts()),
        helper("ASKER", ["handling a low performer"], "performance", HelperFacts()),
    ]
    return HelperIndex.build(records, EMB.dimension)


def _check_truth(ranker: HybridRanker, ask: Ask) -> None:
    """Every explanation names the top positive contributors, and what it says is so."""
    ranked = ranker.rank(ask, limit=None)
    hits = ranker.index.search(ask.vector)
    for r in ranked:
        positive = sorted(
            ((v, k) for k, v in r.contributions.items() if v > 0),
            key=lambda p: (-p[0], SIGNALS.index(p[1])),
        )
        assert list(r.reasons) == [k for _, k in positive[:2]]
        slot = ranker.index.slot(r.helper_id)
        assert slot is not None
        rec = ranker.index.record(r.helper_id)
        if "semantic_history" in r.reasons:
            mask = (hits.owners == slot) & (hits.kinds == KIND_PAST)
            sims = hits.sims[mask]
            n_similar = int((sims >= ranker.weights.similar_threshold).sum())
            best_text = rec.past_helps[int(hits.refs[mask][np.argmax(sims)])].text
            assert best_text[:40].lower() in r.explanation.lower()
            if n_similar:
                assert f"helped on {n_similar} similar ask" in r.explanation
        if "lexical" in r.reasons:
            doc_words = set(
                " ".join([rec.expertise_text, *[h.text for h in rec.past_helps]]).split()
            )
            quoted = r.explanation.split("mention")[1].split(";")[0]
            words = re.findall(r"'([^']+)'", quoted)
            assert words
            assert all(w in doc_words and w in ask.text.split() for w in words)
        if "semantic_expertise" in r.reasons and "expertise mentions" in r.explanation:
            quoted = r.explanation.split("expertise mentions")[1].split(";")[0]
            words = re.findall(r"'([^']+)'", quoted)
            assert all(w in rec.expertise_text.split() and w in ask.text.split() for w in words)
        if "capacity" in r.reasons:
            left = (rec.facts.capacity_total or 0) - (rec.facts.capacity_used or 0)
            assert f"room for {left} more ask" in r.explanation
        if "fairness" in r.reasons:
            assert rec.facts.recent_offers is not None
            if rec.facts.recent_offers == 0:
                assert "not been asked lately" in r.explanation


def test_topical_expert_first_and_explained_truthfully() -> None:
    ranker = HybridRanker(_workspace(), RankerWeights())
    ranked = ranker.rank(_ask(), limit=None)
    assert ranked[0].helper_id == "PERF"
    assert "ASKER" not in [r.helper_id for r in ranked]
    top = ranked[0]
    assert {"semantic_history", "lexical"} & set(top.reasons)
    assert "similar ask" in top.explanation or "mention" in top.explanation
    _check_truth(ranker, _ask())


@pytest.mark.parametrize(
    "text",
    [
        ASK,
        "difficult conversations about performance",
        "hiring loop for designers",
        "budget planning for next year",
        "totally unrelated",
    ],
)
@pytest.mark.parametrize("offset", [0, 9 * 60, None])
def test_explanations_truthful_for_many_asks(text: str, offset: int | None) -> None:
    _check_truth(HybridRanker(_workspace(), RankerWeights()), _ask(text, offset))


def test_expertise_explained() -> None:
    ranker = HybridRanker(_workspace(), RankerWeights())
    ranked = ranker.rank(_ask("difficult conversations about performance"), limit=None)
    assert ranked[0].helper_id == "PERF"
    assert "expertise mentions" in ranked[0].explanation
    assert "'difficult'" in ranked[0].explanation or "'performance'" in ranked[0].explanation


def test_reasons_are_top_contributors_in_domain() -> None:
    signals = {
        "semantic_history": np.array([3.0, 0.0, 1.0]),
        "capacity": np.array([0.1, 0.9, 0.5]),
        "fairness": np.array([0.0, -2.0, -1.0]),
    }
    scored = combine(["a", "b", "c"], signals, RankerWeights())
    for pos in range(3):
        pos_contrib = {k: v[pos] for k, v in scored.contributions.items() if v[pos] > 0}
        expected = sorted(pos_contrib, key=lambda k: -pos_contrib[k])[:2]
        assert top_reasons(scored, pos) == expected
    assert top_reasons(scored, 1)[0] == "capacity"


def test_fairness_term_spreads_offers() -> None:
    twin = ["handling a low performer on my team"]
    busy = helper("BUSY", twin, "", HelperFacts(recent_offers=6))
    idle = helper("IDLE", twin, "", HelperFacts(recent_offers=0))
    index = HelperIndex.build([busy, idle], EMB.dimension)
    fair = HybridRanker(index, RankerWeights()).rank(_ask(), limit=None)
    assert [r.helper_id for r in fair] == ["IDLE", "BUSY"]
    assert fair[0].contributions["fairness"] > 0 > fair[1].contributions["fairness"]
    assert "fairness" in fair[0].reasons
    assert "not been asked lately" in fair[0].explanation
    off = HybridRanker(index, dataclasses.replace(RankerWeights(), fairness=0.0))
    scores = {r.helper_id: r.score for r in off.rank(_ask(), limit=None)}
    assert scores["IDLE"] == pytest.approx(scores["BUSY"])


def test_absent_signals_contribute_nothing_and_do_not_break() -> None:
    index = HelperIndex.build(
        [helper("A", ["low performer"]), helper("B", ["hiring"]), helper("C", [])],
        EMB.dimension,
    )
    ranked = HybridRanker(index).rank(_ask(offset=None), limit=None)
    assert ranked[0].helper_id == "A"
    for r in ranked:
        assert np.isfinite(r.score)
        assert set(r.contributions) <= {"semantic_history", "lexical", "experience", "recency"}
    empty = HybridRanker(HelperIndex(EMB.dimension)).rank(_ask())
    assert empty == []


def test_hard_rule_hook_allowed_and_excluded() -> None:
    ranker = HybridRanker(_workspace())
    allowed = ranker.rank(_ask(), allowed=["HIRE", "FAR", "GONE"], limit=None)
    assert {r.helper_id for r in allowed} == {"HIRE", "FAR"}
    excluded = ranker.rank(_ask(), excluded={"PERF"}, limit=None)
    assert "PERF" not in {r.helper_id for r in excluded}
    assert len(excluded) == 3
    top1 = ranker.rank(_ask(), limit=1)
    assert len(top1) == 1
    assert top1[0].helper_id == ranker.rank(_ask(), limit=None)[0].helper_id
