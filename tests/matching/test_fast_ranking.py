"""The production ranking (:class:`RulesThenHybrid` with an :class:`Eligibility`, what
``IndexedMatcher.candidates_for`` calls) ranks exactly as a full computation from scratch.

What production keeps between asks (the ask-independent contributions and the search's copy of
the prior shortlist's rows, shared by every ranker of an index whatever its weights; the order
sorted only as far as it is read) must change nothing: same helpers in the same order, same
scores, same explanations. The reference below computes everything afresh for every ask (no
cache, a full stable sort of every candidate, then the newcomer's place), as the ranker did
before those shortcuts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from peerbot.eval.bench import synthetic_queries, synthetic_records
from peerbot.matching import (
    Ask,
    Candidate,
    Eligibility,
    HelperFacts,
    HelperIndex,
    HelperRecord,
    HybridRanker,
    PastHelp,
    RankerWeights,
    RulesThenHybrid,
    Snapshot,
)
from peerbot.matching import index as index_module
from peerbot.matching import ranker as ranker_module
from peerbot.matching.learned import place_newcomer

NOW = datetime(2025, 1, 1, tzinfo=UTC)
#: Weights as a workspace's learned ones may be: every signal on, others than the defaults.
LEARNED = dataclasses.replace(
    RankerWeights(), lexical=0.7, recency=1.5, topical_recency=0.4, neighbours=0.3, rating=0.1
)


def _same_as_fresh(
    index: HelperIndex, ask: Ask, elig: Eligibility, ranked: Any, top: int
) -> tuple[Any, list[str]]:
    """Assert that ``ranked`` (the production ranker's, with what it keeps) is the ranking a
    ranker with nothing kept makes: the same order, the first ``top`` explanations, every
    contribution and score within 1e-12. Returns its scoring and the reference order."""
    got = ranked._scoring.scored
    want_ids, want_head = _reference(index, ask, LEARNED, elig, top)
    assert ranked.helper_ids() == want_ids
    assert [(r.candidate.user_id, r.explanation) for r in ranked[:top]] == [
        (i, e) for i, _, e in want_head
    ]
    fresh = HybridRanker(index, LEARNED)
    fresh._caches = ranker_module._Caches()
    want = fresh.score(ask, allowed=[c.user_id for c in elig.eligible(ask)]).scored
    assert list(got.contributions) == list(want.contributions)
    for name, values in want.contributions.items():
        np.testing.assert_allclose(got.contributions[name], values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.score, want.score, rtol=1e-12, atol=1e-12)
    return got, want_ids


def _reference(
    index: HelperIndex, ask: Ask, weights: RankerWeights, elig: Eligibility, top: int
) -> tuple[list[str], list[tuple[str, float, str]]]:
    """All candidates' ids best first and the first ``top`` (id, score, explanation), computed
    afresh: the eligible helpers, a ranker with nothing kept, the full order."""
    allowed = [c.user_id for c in elig.eligible(ask)]
    ranker = HybridRanker(index, weights)
    ranker._caches = ranker_module._Caches()  # nothing kept from any earlier ranking
    index._also_cache = None  # the search's copy of the prior shortlist's rows, made again
    scoring = ranker.score(ask, allowed=allowed)
    scored = scoring.scored
    helps = index.fact_columns()["helps_given"][scoring.slots]
    order = place_newcomer(scored, np.argsort(-scored.score, kind="stable"), helps)
    ids = [scored.ids[int(i)] for i in order]
    head = []
    for i in order[:top]:
        r = ranker.explain(scoring, int(i), ask)
        head.append((r.helper_id, r.score, r.explanation))
    return ids, head


def _workspace(n: int, ivf: bool) -> tuple[list[HelperRecord], HelperIndex]:
    """``n`` synthetic helpers (every fact filled in) and a few newcomers: no past help, a
    stated expertise (which the last ask of :func:`_asks` is close to)."""
    records = synthetic_records(n, helps=4, topics=32)
    for i in range(0, n, max(1, n // 5)):
        r = records[i]
        records[i] = HelperRecord(
            r.helper_id,
            r.expertise_vector,
            "coaching a new team lead",
            (),
            dataclasses.replace(r.facts, helps_given=0),
        )
    options = {"exact_max_rows": 0, "n_lists": 16} if ivf else {}
    index = HelperIndex.build(records, 384, "s", **options)  # type: ignore[arg-type]
    if ivf:
        index.n_probe = 2  # a few partitions: the prior shortlist matters
        index.prior_shortlist = max(8, n // 8)
    return records, index


@pytest.mark.parametrize(("n", "ivf"), [(60, False), (400, False), (1_500, True)])
def test_production_ranking_equals_a_full_computation_ask_after_ask(n: int, ivf: bool) -> None:
    records, index = _workspace(n, ivf)
    ids = [r.helper_id for r in records]
    helpers = [Candidate(i, r.helper_id, None, r.facts) for i, r in enumerate(records)]
    managers = {ids[3]: ids[4], ids[4]: ids[5]}  # a reporting line
    elig = Eligibility(helpers, managers)
    production = RulesThenHybrid(RankerWeights())
    newcomer = records[0]
    assert newcomer.expertise_vector is not None
    vectors = [*synthetic_queries(6, topics=32, seed=3), newcomer.expertise_vector]
    rng = np.random.default_rng(5)
    placed = 0
    for a, vector in enumerate(vectors):
        weights = LEARNED if a % 2 else RankerWeights()
        ask = Ask(
            "how do I coach a new team lead through feedback and hiring",
            vector,
            NOW + timedelta(hours=a),
            asker_id=ids[4] if a % 3 == 0 else None,  # drops their manager and report
            asker_utc_offset_minutes=60 if a % 2 else None,
            asker_never_match=frozenset({ids[7]}),
            already_offered=frozenset({ids[8], ids[9]}),
        )
        snapshot = Snapshot(ask, helpers, managers, elig)
        ranked = production.rank(index, snapshot, weights=None if a % 2 == 0 else weights)
        got_head = [(r.candidate.user_id, r.score, r.explanation) for r in ranked[:12]]
        got_ids = ranked.helper_ids()  # type: ignore[attr-defined]
        want_ids, want_head = _reference(index, ask, weights, elig, 12)
        assert got_ids == want_ids
        assert len(ranked) == len(want_ids)
        assert [(i, e) for i, _, e in got_head] == [(i, e) for i, _, e in want_head]
        np.testing.assert_allclose(
            [s for _, s, _ in got_head], [s for _, s, _ in want_head], rtol=1e-12, atol=1e-12
        )
        ruled_out = {ids[7], ids[8], ids[9]} | ({ids[3], ids[4], ids[5]} if a % 3 == 0 else set())
        assert not ruled_out & set(got_ids)
        placed += newcomer.helper_id in got_ids[:2]
        # Offers change facts between asks (the ask-independent part is computed again),
        # and a helper pauses (a rule that depends on the time).
        for i in rng.choice(n, size=3, replace=False).tolist():
            f = helpers[i].facts
            helpers[i] = Candidate(
                i, ids[i], None, dataclasses.replace(f, recent_offers=(f.recent_offers or 0) + 1)
            )
        p = int(rng.integers(10, n))
        helpers[p] = Candidate(
            p, ids[p], None, dataclasses.replace(helpers[p].facts, paused_until=NOW + timedelta(1))
        )
        elig.replace([helpers[i] for i in range(n) if helpers[i] is not records[i]])
    assert placed  # the newcomer's place was taken into account at least once


def test_reading_further_down_the_list_sorts_more_of_it() -> None:
    """The order is sorted as far as it is read: reading the 40th helper, or every id, gives
    the full order's entries."""
    records, index = _workspace(300, False)
    helpers = [Candidate(i, r.helper_id, None, r.facts) for i, r in enumerate(records)]
    elig = Eligibility(helpers, {})
    ask = Ask("feedback", synthetic_queries(1, topics=32, seed=9)[0], NOW)
    ranked = RulesThenHybrid().rank(index, Snapshot(ask, helpers, {}, elig))
    want, _ = _reference(index, ask, RankerWeights(), elig, 0)
    assert ranked[40].candidate.user_id == want[40]
    assert [r.candidate.user_id for r in ranked[:70]] == want[:70]
    assert ranked[-1].candidate.user_id == want[-1]
    assert [r.candidate.user_id for r in ranked] == want


def test_rankers_of_one_index_share_what_they_keep_and_an_index_change_drops_it() -> None:
    """A new ranker of the same index (production makes one per ask) reuses the
    ask-independent contributions; a change of facts makes again those of the signals it
    changed (the others kept), a change of rows all of them."""
    records, index = _workspace(200, False)
    ask = Ask("feedback", synthetic_queries(1, topics=32)[0], NOW, asker_utc_offset_minutes=0)
    first = HybridRanker(index).score(ask).scored.contributions
    again = HybridRanker(index).score(ask).scored.contributions
    assert again["fairness"] is first["fairness"]  # the very arrays kept
    index.update_facts(
        records[1].helper_id, dataclasses.replace(records[1].facts, recent_offers=40)
    )
    changed = HybridRanker(index).score(ask).scored.contributions
    assert changed["fairness"] is not first["fairness"]
    assert changed["fairness"][1] < first["fairness"][1]
    assert changed["rating"] is first["rating"]  # a signal the change left alone: kept
    # The entry was brought up to date, not added beside the old one.
    kept = ranker_module._KEPT[index].static
    assert len(kept) == 1 and all(v.mark == index.facts_mark() for v in kept.values())
    index.add_past_help(
        records[2].helper_id, PastHelp("new", records[2].past_helps[0].vector, "hiring", NOW)
    )
    again = HybridRanker(index).score(ask).scored.contributions
    assert again["rating"] is not first["rating"]  # the rows changed: all made again
    assert len(kept) == 1 and all(v.mark == index.facts_mark() for v in kept.values())


def test_a_helper_without_facts_keeps_the_reference_order() -> None:
    """Unknown facts (NaN columns) take the same path in both."""
    records, index = _workspace(80, False)
    records.append(HelperRecord("BLANK", None, "", (), HelperFacts()))
    index = HelperIndex.build(records, 384, "s")
    helpers = [Candidate(i, r.helper_id, None, r.facts) for i, r in enumerate(records)]
    elig = Eligibility(helpers, {})
    ask = Ask("hiring", synthetic_queries(1, topics=32, seed=4)[0], NOW)
    ranked = RulesThenHybrid().rank(index, Snapshot(ask, helpers, {}, elig))
    want, head = _reference(index, ask, RankerWeights(), elig, 5)
    assert ranked.helper_ids() == want  # type: ignore[attr-defined]
    assert [(r.candidate.user_id, r.explanation) for r in ranked[:5]] == [
        (i, e) for i, _, e in head
    ]


def test_the_prior_shortlists_rows_copied_again_from_the_last_copy_are_the_stored_rows() -> None:
    """When a change of facts moves a few helpers in or out of the prior shortlist, the new
    copy of their rows takes the rows it already had from the last copy: the same bytes as
    taken from the matrix, and the same owners and scales."""
    _records, index = _workspace(600, True)
    first = np.arange(0, 300, dtype=np.intp)
    index._also_rows(first)
    moved = np.concatenate([np.arange(20, 300), np.arange(400, 430)]).astype(np.intp)
    slots, rows, block, scale, (own, kind, ref) = index._also_rows(moved)
    assert np.array_equal(slots, np.sort(moved))
    assert np.array_equal(rows, np.sort(index._rows_of_many(slots)))
    assert np.array_equal(block, index._take(rows))
    assert np.array_equal(scale, index._scale[rows])
    assert np.array_equal(own, index._own[rows]) and np.array_equal(ref, index._ref[rows])
    assert np.array_equal(kind, index._kind[rows])


def test_candidates_with_the_same_fingerprint_are_not_taken_for_each_other() -> None:
    """The kept contributions are found by a cheap fingerprint of the candidates' slots (the
    first, the last, the sum) and the slots compared: the same helpers in another order are
    other candidates, not the kept ones."""
    _records, index = _workspace(50, False)
    ask = Ask("feedback", synthetic_queries(1, topics=32)[0], NOW)
    ranker = HybridRanker(index)
    a = np.array([0, 3, 2, 5], dtype=np.intp)
    b = np.array([0, 2, 3, 5], dtype=np.intp)
    first = ranker.score(ask, slots=a).scored.contributions["fairness"]
    second = ranker.score(ask, slots=b).scored.contributions["fairness"]
    assert np.array_equal(second, first[[0, 2, 1, 3]])
    assert not np.array_equal(second, first)


def _changed_facts(f: HelperFacts, kind: int, rng: np.random.Generator) -> HelperFacts:
    """``f`` after one of the changes production makes (an offer, an answer, a rating, a
    profile edit), or one that leaves every signal as it was."""
    if kind == 0:  # an offer: one more recent offer
        return dataclasses.replace(f, recent_offers=(f.recent_offers or 0) + 1)
    if kind == 1:  # an answer to an offer
        received = (f.offers_received or 0) + 1
        return dataclasses.replace(
            f, offers_received=received, offers_accepted=(f.offers_accepted or 0) + 1
        )
    if kind == 2:  # a rating, or none known any more
        if rng.random() < 0.5:
            return dataclasses.replace(f, rating_mean=None, rating_count=0)
        return dataclasses.replace(f, rating_mean=float(rng.uniform(1, 5)), rating_count=4)
    if kind == 3:  # a profile edit: several signals at once
        return dataclasses.replace(
            f,
            years_managing=None if rng.random() < 0.3 else float(rng.integers(0, 30)),
            utc_offset_minutes=int(rng.integers(-10, 12)) * 60,
            median_accept_hours=float(rng.uniform(0.1, 90)),
            helps_given=int(rng.integers(0, 40)),
        )
    if kind == 4:  # a pair ended or began: capacity used (never full here)
        return dataclasses.replace(f, capacity_used=int(rng.integers(0, 3)), capacity_total=3)
    return dataclasses.replace(f, pending_offers=(f.pending_offers or 0) + 1)  # no signal's


@pytest.mark.parametrize(("n", "ivf"), [(300, False), (1_500, True)])
def test_after_changes_of_facts_the_kept_contributions_are_a_fresh_computations(
    n: int, ivf: bool
) -> None:
    """Production brings the ask-independent contributions it keeps up to date after each
    change of facts (only the changed helpers' values looked at, only the signals they moved
    standardised again): after every change in a long sequence of them, the ranking is the
    one a ranker with nothing kept computes, every candidate's score and every signal's
    contribution included, and the signals no change moved are the very arrays kept."""
    records, index = _workspace(n, ivf)
    ids = [r.helper_id for r in records]
    helpers = [Candidate(i, r.helper_id, None, r.facts) for i, r in enumerate(records)]
    elig = Eligibility(helpers, {})
    production = RulesThenHybrid(LEARNED)
    ask = Ask(
        "how do I coach a new team lead through feedback and hiring",
        synthetic_queries(1, topics=32, seed=11)[0],
        NOW,
        asker_utc_offset_minutes=60,
    )
    rng = np.random.default_rng(17)
    before: dict[str, np.ndarray] = {}
    kept_alike = 0
    for step in range(40):
        ranked = production.rank(index, Snapshot(ask, helpers, {}, elig))
        got, _ = _same_as_fresh(index, ask, elig, ranked, 10)
        # A change that moved no signal of a candidate keeps the arrays as they were.
        kept_alike += sum(got.contributions[k] is v for k, v in before.items())
        before = {k: got.contributions[k] for k in ("rating", "tenure") if k in got.contributions}
        # The next changes: one to five helpers, as offers, answers and edits come in.
        kinds = [0] if step % 4 == 0 else rng.integers(0, 6, size=int(rng.integers(1, 6)))
        for kind in kinds:
            i = int(rng.integers(0, n))
            helpers[i] = Candidate(
                i, ids[i], None, _changed_facts(helpers[i].facts, int(kind), rng)
            )
            elig.replace([helpers[i]])
    assert kept_alike  # the incremental path was taken (and kept what no change moved)


def test_the_journal_of_fact_changes_gives_the_changed_slots_and_their_values_before() -> None:
    """:meth:`HelperIndex.facts_changed_since`: each changed slot once with its fact columns'
    values at the mark; ``None`` once rows changed (anything may have) or the journal was cut."""
    records, index = _workspace(40, False)
    cols = index.fact_columns()
    was = {name: col.copy() for name, col in cols.items()}
    mark = index.facts_mark()
    assert index.facts_changed_since(mark) is not None
    uid = records[5].helper_id
    for i, offers in ((5, 7), (2, 1), (5, 9)):
        f = dataclasses.replace(records[i].facts, recent_offers=offers)
        index.update_facts(records[i].helper_id, f)
    changed = index.facts_changed_since(mark)
    assert changed is not None
    slots, values = changed
    assert slots.tolist() == sorted({index.slot(records[i].helper_id) for i in (5, 2)})
    for name, col in values.items():
        assert np.array_equal(col, was[name][slots], equal_nan=True)
    assert index.facts(uid).recent_offers == 9
    index.add_past_help(uid, PastHelp("p", records[5].past_helps[0].vector, "hiring", NOW))
    assert index.facts_changed_since(mark) is None
    mark = index.facts_mark()
    for k in range(index_module._FACT_LOG_MAX + 1):
        index.update_facts(uid, dataclasses.replace(records[5].facts, recent_offers=k))
    assert index.facts_changed_since(mark) is None


def test_one_past_help_and_the_latest_time_read_alone_are_those_of_the_whole_list() -> None:
    """What an explanation quotes (:meth:`HelperIndex.past_help_text`,
    :meth:`HelperIndex.latest_help_at`) read without making every past help: the same as read
    from :meth:`HelperIndex.past_help_texts`, for helpers of the bulk build, helpers given a
    past help since, undated helps and helpers with none."""
    records, index = _workspace(30, False)
    vector = records[1].past_helps[0].vector
    index.add_past_help(records[1].helper_id, PastHelp("late", vector, "hiring", None))
    index.add_past_help(records[3].helper_id, PastHelp("new", vector, "budget", NOW))
    index.upsert(
        HelperRecord("UNDATED", None, "", (PastHelp("u", vector, "x", None),), HelperFacts())
    )
    for uid in [r.helper_id for r in records] + ["UNDATED"]:
        slot = index.slot(uid)
        assert slot is not None
        full = index.past_help_texts(slot)
        assert [index.past_help_text(slot, k) for k in range(len(full))] == full
        dated = [at for _t, at in full if at is not None]
        assert index.latest_help_at(slot) == (max(dated) if dated else None)
        with pytest.raises(IndexError):
            index.past_help_text(slot, len(full))


@pytest.mark.parametrize(("n", "ivf"), [(300, False), (1_500, True)])
def test_asked_by_helpers_the_contributions_derived_from_the_base_are_a_fresh_computations(
    n: int, ivf: bool
) -> None:
    """Askers who are helpers (left out of their own ask, with their reporting line, the
    helpers their never-match names and those already offered): the candidates' ask-independent
    contributions are derived from those kept for everyone passing the fixed rules, and are
    what a ranker with nothing kept computes: same order, same explanations, every candidate's
    contributions and score to 1e-12. Among the askers and the left-out helpers: helpers
    without facts (NaN columns) and helpers holding a signal's lowest (or only) value."""
    records, index = _workspace(n, ivf)
    ids = [r.helper_id for r in records]
    helpers = [Candidate(i, r.helper_id, None, r.facts) for i, r in enumerate(records)]
    # Helpers 10..13 know nothing (NaN in every fact column); 14 alone holds the lowest
    # responsiveness and fairness (left out as an asker and by a never-match).
    for i in range(10, 14):
        helpers[i] = Candidate(i, ids[i], None, HelperFacts())
    slow = dataclasses.replace(helpers[14].facts, median_accept_hours=5_000.0, recent_offers=90)
    helpers[14] = Candidate(14, ids[14], None, slow)
    managers = {ids[20]: ids[21], ids[21]: ids[22], ids[23]: ids[21]}
    elig = Eligibility(helpers, managers)
    production = RulesThenHybrid(LEARNED)
    vectors = synthetic_queries(8, topics=32, seed=23)
    rng = np.random.default_rng(29)
    taken = []
    original = HybridRanker._static_subset

    def spy(self: HybridRanker, *args: object) -> object:
        got = original(self, *args)  # type: ignore[arg-type]
        taken.append(got is not None)
        return got

    askers = [ids[21], ids[10], ids[14], ids[30], ids[11], ids[21], ids[40], ids[14]]
    for a, (vector, asker) in enumerate(zip(vectors, askers, strict=True)):
        ask = Ask(
            "how do I coach a new team lead through feedback and hiring",
            vector,
            NOW + timedelta(hours=a),
            asker_id=asker,
            asker_utc_offset_minutes=60 if a % 2 else None,
            asker_never_match=frozenset({ids[12], ids[14]} if a % 3 == 1 else ()),
            already_offered=frozenset({ids[13], ids[50 + a]}),
        )
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(HybridRanker, "_static_subset", spy)
            ranked = production.rank(index, Snapshot(ask, helpers, managers, elig))
        _, want_ids = _same_as_fresh(index, ask, elig, ranked, 12)
        assert asker not in set(want_ids)
        # An offer or another change between asks (the base brought up to date, then derived).
        i = int(rng.integers(0, n))
        helpers[i] = Candidate(i, ids[i], None, _changed_facts(helpers[i].facts, a % 6, rng))
        elig.replace([helpers[i]])
    assert taken and all(taken)  # every ask's contributions were derived from the base
