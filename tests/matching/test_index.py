"""HelperIndex: incremental changes rank exactly like a fresh build; the change feed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from peerbot.matching import (
    AddPastHelp,
    Ask,
    HelperFacts,
    HelperIndex,
    HelperRecord,
    HybridRanker,
    RemoveHelper,
    UpdateFacts,
    UpsertHelper,
)
from peerbot.matching.index import FACT_COLUMNS
from peerbot.matching.scoring import RankerWeights
from tests.matching.helpers import EMB, NOW, helper, past

TOPICS = [
    "handling a low performer who misses deadlines",
    "giving feedback to a senior engineer",
    "hiring the first data scientist",
    "remote team morale and burnout",
    "planning a reorg without losing people",
    "promotion case for a staff engineer",
    "conflict between two tech leads",
    "budget cuts and layoffs communication",
]


def _records(n: int, seed: int = 0) -> list[HelperRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for h in range(n):
        texts = [
            f"{TOPICS[int(rng.integers(len(TOPICS)))]} case {int(rng.integers(100))}"
            for _ in range(int(rng.integers(0, 5)))
        ]
        facts = HelperFacts(
            capacity_total=3,
            capacity_used=int(rng.integers(0, 3)),
            utc_offset_minutes=int(rng.integers(-5, 6)) * 60,
            recent_offers=int(rng.integers(0, 4)),
        )
        expertise = TOPICS[h % len(TOPICS)] if h % 3 == 0 else ""
        out.append(helper(f"U{h}", texts, expertise, facts))
    return out


def _scores(index: HelperIndex, text: str) -> dict[str, float]:
    ranker = HybridRanker(index, RankerWeights())
    ask = Ask(text, EMB.embed([text])[0], NOW, asker_utc_offset_minutes=0)
    s = ranker.score(ask).scored
    return {s.ids[i]: float(s.score[i]) for i in range(len(s.ids))}


def _mutate(index: HelperIndex, records: list[HelperRecord]) -> list[HelperRecord]:
    """Apply a mix of changes; return the records a fresh build should hold."""
    current = {r.helper_id: r for r in records}
    index.remove("U3")
    del current["U3"]
    new = helper("N1", ["hiring the first data scientist fast"], "hiring", HelperFacts())
    index.upsert(new)
    current["N1"] = new
    extra = past("x1", "remote team morale after layoffs", days_ago=1)
    index.add_past_help("U5", extra)
    r5 = current["U5"]
    current["U5"] = HelperRecord(
        r5.helper_id, r5.expertise_vector, r5.expertise_text, [*r5.past_helps, extra], r5.facts
    )
    replaced = helper("U7", ["conflict between two tech leads again"], "conflict", HelperFacts())
    index.upsert(replaced)
    current["U7"] = replaced
    facts = HelperFacts(capacity_total=5, capacity_used=0, recent_offers=0)
    index.update_facts("U8", facts)
    r8 = current["U8"]
    current["U8"] = HelperRecord(
        r8.helper_id, r8.expertise_vector, r8.expertise_text, r8.past_helps, facts
    )
    return list(current.values())


@pytest.mark.parametrize("ivf", [False, True])
def test_incremental_changes_rank_like_a_fresh_build(ivf: bool) -> None:
    records = _records(40)
    index = HelperIndex.build(
        records, EMB.dimension, exact_max_rows=0 if ivf else 10**6, n_lists=6, n_probe=2
    )
    assert (index.centroids is not None) == ivf
    expected_records = _mutate(index, records)
    fresh = HelperIndex.build(expected_records, EMB.dimension, centroids=index.centroids, n_probe=2)
    for text in TOPICS:
        got, want = _scores(index, text), _scores(fresh, text)
        assert got.keys() == want.keys()
        for hid, value in want.items():
            assert got[hid] == pytest.approx(value, abs=1e-9), hid
    assert "U3" not in index
    assert len(index) == len(fresh) == 40


def test_record_roundtrip_and_slot_reuse() -> None:
    index = HelperIndex.build(_records(5), EMB.dimension)
    slot = index.slot("U2")
    index.remove("U2")
    index.upsert(helper("Z", ["hiring"]))
    assert index.slot("Z") == slot
    assert [h.text for h in index.record("Z").past_helps] == ["hiring"]
    assert sorted(index.helper_ids()) == ["U0", "U1", "U3", "U4", "Z"]


def test_apply_change_feed_is_ordered_and_idempotent() -> None:
    index = HelperIndex.build(_records(4), EMB.dimension, generation=10)
    changes = [
        AddPastHelp(13, "N", past("p", "giving feedback to a senior engineer")),
        UpsertHelper(12, helper("N", [])),
        RemoveHelper(9, "U0"),  # older than the index: ignored
        UpdateFacts(14, "U1", HelperFacts(recent_offers=2)),
        RemoveHelper(15, "U2"),
        UpdateFacts(16, "U2", HelperFacts(recent_offers=1)),  # for a removed helper: skipped
    ]
    assert index.apply(changes) == 5
    assert index.generation == 16
    assert "U0" in index
    assert "U2" not in index
    assert len(index.record("N").past_helps) == 1
    assert index.record("U1").facts.recent_offers == 2
    assert index.apply(changes) == 0  # replaying the feed changes nothing


def test_wrong_dimension_is_refused() -> None:
    index = HelperIndex(EMB.dimension)
    with pytest.raises(ValueError, match="dimension"):
        index.upsert(HelperRecord("A", np.ones(3, np.float32)))


@pytest.mark.parametrize("ivf", [False, True])
def test_removing_a_helper_leaves_the_other_helpers_vectors_intact(ivf: bool) -> None:
    """Regression: the bulk build let past helps view their rows, and removing a helper
    compacted those rows in place, so other helpers' records read the wrong vectors."""
    records = _records(30)
    index = HelperIndex.build(
        records, EMB.dimension, exact_max_rows=0 if ivf else 10**6, n_lists=4, n_probe=2
    )
    for gone in ("U0", "U4", "U9"):
        index.remove(gone)
    index.upsert(helper("N", ["remote team morale and burnout today"]))
    index.add_past_help("U1", past("late", "hiring the first data scientist"))
    for rec in records:
        if rec.helper_id in ("U0", "U4", "U9"):
            continue
        held = index.record(rec.helper_id).past_helps
        assert [h.text for h in held[: len(rec.past_helps)]] == [h.text for h in rec.past_helps]
        for mine, want in zip(held, rec.past_helps, strict=False):
            unit = np.asarray(want.vector, np.float32) / np.linalg.norm(want.vector)
            # int8 storage (the IVF default) rounds each component to half a step.
            step = float(np.abs(unit).max()) / 127
            assert np.allclose(mine.vector, unit, atol=step / 2 + 1e-6), rec.helper_id
            assert mine.ask_id == want.ask_id and mine.helped_at == want.helped_at
    assert [h.ask_id for h in index.record("U1").past_helps][-1] == "late"


@pytest.mark.parametrize("ivf", [False, True])
def test_compaction_after_many_removals_keeps_records_and_scores(ivf: bool) -> None:
    """Removing most helpers frees most rows; the matrix is compacted (rows renumbered) and
    what is left still ranks as a fresh build of the same helpers and reads its own vectors."""
    from peerbot.eval.bench import synthetic_queries, synthetic_records

    records = synthetic_records(900, helps=6, dimension=64)
    options = {"exact_max_rows": 0, "n_lists": 8, "n_probe": 8} if ivf else {}
    index = HelperIndex.build(records, 64, **options)  # type: ignore[arg-type]
    gone = {r.helper_id for r in records[::3]} | {r.helper_id for r in records[1::3]}
    for hid in gone:
        index.remove(hid)
    assert index.n_rows == 300 * 7 and index._hw < 900 * 7  # compacted (rows renumbered)
    kept = [r for r in records if r.helper_id not in gone]
    late = past("late", "remote team morale")
    index.add_past_help(kept[0].helper_id, late)
    r0 = kept[0]
    kept[0] = HelperRecord(
        r0.helper_id, r0.expertise_vector, r0.expertise_text, [*r0.past_helps, late], r0.facts
    )
    fresh = HelperIndex.build(kept, 64, centroids=index.centroids, n_probe=8)
    for rec in kept[1:50]:
        got = index.record(rec.helper_id)
        assert [h.ask_id for h in got.past_helps] == [h.ask_id for h in rec.past_helps]
        for mine, want in zip(got.past_helps, rec.past_helps, strict=True):
            assert float(mine.vector @ want.vector) / np.linalg.norm(want.vector) > 0.995
    for q in synthetic_queries(3, dimension=64):
        a = HybridRanker(index).score(Ask("team morale", q, NOW)).scored
        b = HybridRanker(fresh).score(Ask("team morale", q, NOW)).scored
        got_scores = dict(zip(list(a.ids), a.score.tolist(), strict=True))
        want_scores = dict(zip(list(b.ids), b.score.tolist(), strict=True))
        assert got_scores.keys() == want_scores.keys()
        for hid, value in want_scores.items():
            assert got_scores[hid] == pytest.approx(value, abs=1e-6), hid


def test_ivf_shortlist_scores_a_helper_on_all_its_past_helps() -> None:
    """A helper whose past helps fall in several partitions is scored on all of them when it
    is shortlisted (the probe alone sees only those in the probed partitions)."""
    from peerbot.eval.bench import synthetic_records
    from peerbot.matching import PastHelp

    records = synthetic_records(400, helps=8, dimension=64, topics=32)
    index = HelperIndex.build(records, 64, exact_max_rows=0, n_lists=16, n_probe=1)
    cent = index.centroids
    assert cent is not None
    q = cent[3]
    far = cent[int(np.argmin(cent @ q))]  # the centroid least like the query
    index.upsert(
        HelperRecord("X", None, "", [PastHelp("near", q, "near"), PastHelp("far", far, "far")])
    )
    slot = index.slot("X")

    def rows_of_x(shortlist: int, n_probe: int) -> dict[int, float]:
        index.shortlist = shortlist
        hits = index.search(q, n_probe=n_probe)
        mine = hits.owners == slot
        return dict(zip(hits.refs[mine].tolist(), hits.sims[mine].tolist(), strict=True))

    exact = rows_of_x(0, 16)
    assert sorted(exact) == [0, 1]
    assert rows_of_x(0, 1).keys() == {0}  # the probe alone misses the far past help
    rescored = rows_of_x(5, 1)
    assert rescored.keys() == {0, 1}
    assert rescored == pytest.approx(exact, abs=1e-6)


@pytest.mark.parametrize("storage", ["float16", "int8"])
def test_compact_storage_scores_close_to_float32(storage: str) -> None:
    records = _records(40)
    ref = HelperIndex.build(records, EMB.dimension, storage="float32")
    small = HelperIndex.build(records, EMB.dimension, storage=storage)
    assert small._mat.dtype == np.dtype(storage)
    assert small._mat.nbytes * (2 if storage == "float16" else 4) == ref._mat.nbytes
    q = EMB.embed([TOPICS[1]])[0]
    a, b = ref.search(q), small.search(q)
    assert np.array_equal(a.owners, b.owners) and np.array_equal(a.refs, b.refs)
    assert np.allclose(a.sims, b.sims, atol=0.01 if storage == "int8" else 1e-3)
    assert not np.array_equal(a.sims, b.sims)  # really stored in the smaller type
    with pytest.raises(ValueError, match="storage"):
        HelperIndex(EMB.dimension, storage="float64")


def _facts_by_id(index: HelperIndex) -> dict[str, list[float | None]]:
    """Each helper's fact columns (``None`` for ``NaN``, so that lists compare)."""
    cols = index.fact_columns()
    out: dict[str, list[float | None]] = {}
    for hid in index.helper_ids():
        values = [float(cols[name][index.slot(hid)]) for name in FACT_COLUMNS]  # type: ignore[index]
        out[hid] = [None if np.isnan(v) else v for v in values]
    return out


@pytest.mark.parametrize("ivf", [False, True])
def test_changes_after_a_columnar_build_rank_and_hold_facts_like_a_fresh_build(ivf: bool) -> None:
    """The bulk build from columns (vectors in one matrix, read through a row permutation as
    the database loader gives them), then every kind of change: the same scores and the same
    fact columns as a fresh build of the resulting records. The fact columns are read before
    the changes too, so each change must update them in place (not only a first read)."""
    from peerbot.eval.bench import synthetic_columns, synthetic_records

    cols = synthetic_columns(60, helps=3, dimension=EMB.dimension, topics=8)
    perm = np.random.default_rng(3).permutation(len(cols.help_texts))
    shuffled = np.empty_like(cols.help_vectors)
    shuffled[perm] = cols.help_vectors
    ids = [f"U{i}" for i in range(60)]  # the names _mutate changes
    cols = dataclasses.replace(cols, helper_ids=ids, help_vectors=shuffled, help_vector_rows=perm)
    index = HelperIndex.build(
        cols, EMB.dimension, exact_max_rows=0 if ivf else 10**6, n_lists=6, n_probe=2
    )
    assert (index.centroids is not None) == ivf
    records = [  # the same helpers as records (their vectors as given, not as stored)
        dataclasses.replace(r, helper_id=f"U{i}")
        for i, r in enumerate(synthetic_records(60, helps=3, dimension=EMB.dimension, topics=8))
    ]
    plain = HelperIndex.build(records, EMB.dimension, centroids=index.centroids, n_probe=2)
    assert _facts_by_id(index) == _facts_by_id(plain)
    index.update_facts("U1", HelperFacts(helps_given=None, recent_offers=4))
    current = {r.helper_id: r for r in records}
    r1 = current["U1"]
    current["U1"] = dataclasses.replace(r1, facts=HelperFacts(helps_given=None, recent_offers=4))
    expected = _mutate(index, list(current.values()))
    extra = past("x2", "conflict between two tech leads", days_ago=2)
    index.add_past_help("U1", extra)  # helps_given unknown: the count of past helps
    r1 = next(r for r in expected if r.helper_id == "U1")
    expected = [
        dataclasses.replace(r, past_helps=[*r.past_helps, extra]) if r is r1 else r
        for r in expected
    ]
    assert index.sync_facts({"U2": HelperFacts(rating_mean=4.5, rating_count=2)}) == 1
    expected = [
        dataclasses.replace(r, facts=HelperFacts(rating_mean=4.5, rating_count=2))
        if r.helper_id == "U2"
        else r
        for r in expected
    ]
    fresh = HelperIndex.build(expected, EMB.dimension, centroids=index.centroids, n_probe=2)
    assert _facts_by_id(index) == _facts_by_id(fresh)
    assert _facts_by_id(index)["U1"][0] == 4.0  # three past helps and one added
    for text in TOPICS:
        got, want = _scores(index, text), _scores(fresh, text)
        assert got.keys() == want.keys()
        for hid, value in want.items():
            assert got[hid] == pytest.approx(value, abs=1e-9), hid
    removed = index.slot("U4")
    index.remove("U4")
    assert np.isnan(index.fact_columns()["recent_offers"][removed])  # a free slot: unknown


def test_columns_refuse_mismatched_lengths_and_repeated_helpers() -> None:
    from peerbot.eval.bench import synthetic_columns

    cols = synthetic_columns(5, helps=2, dimension=EMB.dimension)
    with pytest.raises(ValueError, match="lengths"):
        dataclasses.replace(cols, help_texts=cols.help_texts[:-1])
    with pytest.raises(ValueError, match="per helper"):
        dataclasses.replace(cols, expertise_texts=cols.expertise_texts[:-1])
    twice = dataclasses.replace(cols, helper_ids=["A", "A", "B", "C", "D"])
    with pytest.raises(ValueError, match="twice"):
        HelperIndex.build(twice, EMB.dimension)
    with pytest.raises(ValueError, match="dimension"):
        HelperIndex.build(cols, EMB.dimension + 1)
