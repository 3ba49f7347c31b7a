"""``semantic_profile``: the cosine of an ask to the mean of a helper's past helps, kept beside
the index as it changes, explained truthfully."""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np
import pytest

from peerbot.matching import (
    Ask,
    HelperColumns,
    HelperFacts,
    HelperIndex,
    HelperRecord,
    HybridRanker,
    PastHelp,
    profiles,
)
from peerbot.matching.profiles import profile_similarity
from peerbot.matching.scoring import SIGNALS, RankerWeights
from tests.matching.helpers import EMB, NOW, helper, past
from tests.matching.test_ranker import _check_truth, _workspace

ON = "handling a low performer who misses deadlines"
OFF = [
    "budget planning for next year",
    "hiring loop for engineers",
    "salary negotiation offer",
    "remote onboarding checklist",
    "quarterly roadmap priorities",
    "incident postmortem process",
]
ONLY_PROFILE = RankerWeights.from_mapping({**dict.fromkeys(SIGNALS, 0.0), "semantic_profile": 1.0})
ONLY_HISTORY = RankerWeights.from_mapping({**dict.fromkeys(SIGNALS, 0.0), "semantic_history": 1.0})


def _ask(text: str = ON) -> Ask:
    return Ask(text, EMB.embed([text])[0], NOW, asker_id="ASKER")


def _specialist_and_generalist() -> HelperIndex:
    on = [f"{ON} case {k}" for k in range(2)]
    return HelperIndex.build(
        [
            helper("SPECIALIST", on),
            helper("GENERALIST", [*on, ON, *OFF]),
            helper("NEW", [], "performance"),
        ],
        EMB.dimension,
    )


def test_a_specialist_outranks_a_generalist_with_more_similar_helps() -> None:
    """The generalist helped on every ask the specialist did and one more close one, so the
    soft count of similar helps puts them first; what they help on as a whole is mostly other
    subjects, so ``semantic_profile`` puts the specialist first. A helper with no past help is
    unknown to it (last)."""
    index = _specialist_and_generalist()
    by_history = [r.helper_id for r in HybridRanker(index, ONLY_HISTORY).rank(_ask(), limit=None)]
    assert by_history[0] == "GENERALIST"
    by_profile = [r.helper_id for r in HybridRanker(index, ONLY_PROFILE).rank(_ask(), limit=None)]
    assert by_profile == ["SPECIALIST", "GENERALIST", "NEW"]
    sims = profile_similarity(index, _ask().vector)
    assert np.isnan(sims[index.slot("NEW")])


@pytest.mark.parametrize("storage", ["float32", "int8"])
def test_kept_centroids_follow_the_index_as_it_changes(storage: str) -> None:
    """Values after helps are added, a helper replaced and one removed are those of an index
    built afresh from the same records (in both storages)."""
    records = {f"H{k}": helper(f"H{k}", [OFF[k], OFF[(k + 1) % len(OFF)]]) for k in range(5)}
    index = HelperIndex(EMB.dimension, storage=storage)
    for r in records.values():
        index.upsert(r)
    query = _ask().vector

    def same_as_fresh() -> None:
        fresh = HelperIndex(EMB.dimension, storage=storage)
        for r in records.values():
            fresh.upsert(r)
        got, want = profile_similarity(index, query), profile_similarity(fresh, query)
        assert sorted(index.helper_ids()) == sorted(fresh.helper_ids())
        for h in fresh.helper_ids():
            assert got[index.slot(h)] == pytest.approx(want[fresh.slot(h)], abs=2e-3), h

    same_as_fresh()  # kept from now on
    before = profile_similarity(index, query)[index.slot("H1")]
    for h, p in (("H1", past("x1", ON)), ("H3", past("x3", f"{ON} again"))):
        index.add_past_help(h, p)
        records[h] = dataclasses.replace(records[h], past_helps=(*records[h].past_helps, p))
    same_as_fresh()
    assert profile_similarity(index, query)[index.slot("H1")] > before
    records["H2"] = helper("H2", [ON, ON])
    index.upsert(records["H2"])
    index.remove("H4")
    del records["H4"]
    same_as_fresh()


def test_the_explanation_counts_the_similar_past_helps_truly() -> None:
    index = _specialist_and_generalist()
    ranker = HybridRanker(index, ONLY_PROFILE)
    top = ranker.rank(_ask(), limit=1)[0]
    assert top.helper_id == "SPECIALIST" and top.reasons == ("semantic_profile",)
    rec = index.record("SPECIALIST")
    q = _ask().vector / np.linalg.norm(_ask().vector)
    similar = sum(
        float(np.asarray(h.vector) @ q) >= ranker.weights.similar_threshold for h in rec.past_helps
    )
    assert similar == 2
    assert top.explanation.startswith("2 of their 2 past helps were on similar asks, e.g. '")
    quoted = re.search(r"e\.g\. '([^']+)'", top.explanation)
    assert quoted and any(h.text.startswith(quoted.group(1).rstrip("…")) for h in rec.past_helps)


@pytest.mark.parametrize("text", [ON, "hiring loop for designers", "budget planning"])
def test_explanations_stay_true_when_the_profile_leads(text: str) -> None:
    weights = dataclasses.replace(RankerWeights(), semantic_profile=4.0)
    ranker = HybridRanker(_workspace(), weights)
    named = {n for r in ranker.rank(_ask(text), limit=None) for n in r.reasons}
    assert "semantic_profile" in named
    _check_truth(ranker, _ask(text))


def test_no_past_help_no_profile_signal() -> None:
    index = HelperIndex.build(
        [HelperRecord("A", EMB.embed(["hiring"])[0], "hiring", (), HelperFacts())], EMB.dimension
    )
    scoring = HybridRanker(index, ONLY_PROFILE).score(_ask())
    assert "semantic_profile" not in scoring.scored.contributions
    index.add_past_help("A", PastHelp("1", EMB.embed([ON])[0], ON, NOW))
    assert profile_similarity(index, _ask().vector)[index.slot("A")] == pytest.approx(
        float(EMB.embed([ON])[0] @ _ask().vector), abs=1e-5
    )


def test_among_computes_only_the_helpers_the_search_found_related() -> None:
    """Given the owners of the past helps a search found, the others are unknown, or at the
    floor when one is given; those given keep exactly their full value."""
    index = _specialist_and_generalist()
    query = _ask().vector
    full = profile_similarity(index, query)
    spec, gen = index.slot("SPECIALIST"), index.slot("GENERALIST")
    assert spec is not None and gen is not None
    some = profile_similarity(index, query, np.array([gen, gen, -1, 999], dtype=np.intp))
    assert some[gen] == full[gen]
    assert np.isnan(some[spec]) and not np.isnan(full[spec])
    # With a floor: those not computed take it (a helper without past helps stays unknown),
    # those computed are at least it.
    floored = profile_similarity(index, query, np.array([gen]), floor=0.99)
    assert floored[spec] == 0.99 and floored[gen] == max(full[gen], 0.99)
    assert np.isnan(floored[index.slot("NEW")])


def test_a_replaced_helper_alone_is_summed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """After the first ranking, replacing one helper of many sums that helper's rows only (a
    profile edit in a 100,000-helper workspace must not re-read 1.1 million vectors)."""
    records = [helper(f"H{k}", [OFF[k % len(OFF)], f"{ON} {k}"]) for k in range(30)]
    index = HelperIndex.build(records, EMB.dimension)
    query = _ask().vector
    profile_similarity(index, query)
    asked: list[object] = []
    real = index.past_help_sums

    def spy(since_row: int = 0, slots: np.ndarray | None = None) -> object:
        asked.append(None if slots is None else sorted(slots.tolist()))
        return real(since_row, slots)

    monkeypatch.setattr(index, "past_help_sums", spy)
    index.upsert(helper("H7", [ON, ON, ON]))
    got = profile_similarity(index, query)
    assert asked == [[index.slot("H7")]]
    fresh = HelperIndex.build(
        [*records[:7], helper("H7", [ON, ON, ON]), *records[8:]], EMB.dimension
    )
    want = profile_similarity(fresh, query)
    for h in fresh.helper_ids():
        assert got[index.slot(h)] == pytest.approx(want[fresh.slot(h)], abs=1e-5), h


def _sums_as_before(
    index: HelperIndex, since_row: int = 0, slots: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """:meth:`HelperIndex.past_help_sums` as it was computed before it was made faster (blocks
    in row order, int64 throughout): the reference the fast one must equal bit for bit."""
    from peerbot.matching.index import KIND_PAST, SUM_SCALE

    n, hw = index.n_slots, index._hw
    lo = min(max(since_row, 0), hw)
    live = (index._own[lo:hw] >= 0) & (index._kind[lo:hw] == KIND_PAST)
    if slots is not None:
        wanted = np.zeros(n + 1, dtype=bool)
        wanted[np.asarray(slots, dtype=np.intp)] = True
        live &= wanted[index._own[lo:hw]]
    rows = lo + np.flatnonzero(live)
    owners = index._own[rows]
    sums = np.zeros((n, index.dimension), dtype=np.int64)
    for a in range(0, rows.size, 1000):
        r, o = rows[a : a + 1000], owners[a : a + 1000]
        order = np.argsort(o, kind="stable")
        r, o = r[order], o[order]
        block = index._take(r).astype(np.float32)
        if index.storage == "int8":
            block *= index._scale[r][:, None]
        fixed = np.rint(block * SUM_SCALE).astype(np.int64)
        uniq, starts = np.unique(o, return_index=True)
        sums[uniq] += np.add.reduceat(fixed, starts, axis=0)
    return sums, np.bincount(owners, minlength=n).astype(np.int64)[:n], hw


@pytest.mark.parametrize("storage", ["float32", "int8"])
def test_past_help_sums_equal_the_former_computation_bit_for_bit(storage: str) -> None:
    """The fast sums (rows taken in owner order, one float32 multiply, int32 blocks) are the
    integers the former computation gave, over an IVF index built in bulk and then changed
    (rows appended, replaced, removed), for all rows, rows since a mark, and some slots."""
    from peerbot.matching import HelperColumns

    rng = np.random.default_rng(7)
    dim, n = 24, 300
    helps = rng.integers(0, 30, n)
    k = int(helps.sum())
    cols = HelperColumns(
        helper_ids=[f"H{i}" for i in range(n)],
        expertise_texts=["x"] * n,
        expertise_of=np.arange(n, dtype=np.intp),
        expertise_vectors=rng.normal(size=(n, dim)).astype(np.float32),
        help_counts=helps.astype(np.int64),
        help_vectors=rng.normal(size=(k, dim)).astype(np.float32),
        help_vector_rows=rng.permutation(k).astype(np.intp),
        help_ask_ids=[str(i) for i in range(k)],
        help_texts=["y"] * k,
        help_times=np.zeros(k),
    )
    index = HelperIndex.build(cols, dim, exact_max_rows=100, n_lists=8, storage=storage)
    assert index.centroids is not None  # IVF: each helper's rows spread over the partitions

    def check() -> None:
        for since, slots in ((0, None), (index._hw // 2, None), (0, np.array([3, 5, 5, 77]))):
            got, want = index.past_help_sums(since, slots), _sums_as_before(index, since, slots)
            assert got[0].dtype == want[0].dtype and np.array_equal(got[0], want[0])
            assert np.array_equal(got[1], want[1]) and got[2] == want[2]

    check()
    mark = index._hw
    for i in range(20):
        vec = rng.normal(size=dim).astype(np.float32)
        index.add_past_help(f"H{i}", PastHelp(f"new{i}", vec, "z", NOW))
    index.upsert(HelperRecord("H40", None, "", (PastHelp("r", rng.normal(size=dim), "r", NOW),)))
    index.remove("H41")
    check()
    got, want = index.past_help_sums(mark), _sums_as_before(index, mark)
    assert np.array_equal(got[0], want[0]) and got[1].sum() > 0


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc")
def test_helpers_with_no_past_help_hold_no_centroid_memory() -> None:
    """A provisional index (the helpers' profiles alone, served while a start-up builds the
    full one) has no past help: keeping its centroids takes no memory (before: the int32
    sums of zeros, 4 bytes per dimension per helper, 150 MB at 100,000 helpers: the worker
    went over 1 GB). A helper given a help afterwards is centred as in an index built with it."""
    n, d = 60_000, EMB.dimension
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((n, d)).astype(np.float32)
    cols = HelperColumns(
        helper_ids=[f"U{k}" for k in range(n)],
        expertise_texts=[""] * n,
        expertise_of=np.arange(n, dtype=np.intp),
        expertise_vectors=vecs,
        help_counts=np.zeros(n, dtype=np.int64),
        help_vectors=np.zeros((0, d), dtype=np.float32),
        help_ask_ids=[],
        help_texts=[],
        help_times=np.zeros(0),
    )
    index = HelperIndex.build(cols, d, "synthetic", storage="int8")
    del vecs, cols
    before = _rss_mb()
    profiles.warm(index)
    zeros_mb = n * d * 4 / 2**20  # what the int32 sums of zeros held
    assert _rss_mb() - before < zeros_mb / 4
    help_ = past("p1", ON)
    index.add_past_help("U5", help_)
    alone = HelperIndex.build([helper("U5", [ON])], d, storage="int8")
    query = _ask().vector
    got = profile_similarity(index, query)
    assert got[index.slot("U5")] == pytest.approx(
        profile_similarity(alone, query)[alone.slot("U5")], abs=2e-3
    )
    assert np.isnan(got[index.slot("U6")])
