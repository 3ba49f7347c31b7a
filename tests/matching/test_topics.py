"""The ``topic_history`` signal: topics of past helps and of profiles, counted, weighted by
rarity, explained truthfully, reachable from a stated topic alone, and never from the future."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from peerbot.matching import Ask, HelperFacts, HelperIndex, HelperRecord, HybridRanker
from peerbot.matching.learned import HelpEvent, replay_features
from peerbot.matching.scoring import SIGNALS, RankerWeights
from peerbot.matching.topics import STATED_WEIGHT, TopicIndex, attach, clean_topics, topics_of
from tests.matching.helpers import EMB, NOW, helper
from tests.matching.test_ranker import _check_truth

#: Only the topic signal counts: what the ranking shows is the topic signal's doing.
TOPICS_ONLY = RankerWeights(
    **{name: 0.0 for name in SIGNALS if name != "topic_history"},  # type: ignore[arg-type]
    topic_history=1.0,
)

#: (helper, past asks as (text, topics)): the test's own record of who helped on what.
HISTORY: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "REPL": [
        ("primary lags behind after failover", ("replication", "postgresql")),
        ("standby will not catch up", ("replication",)),
        ("logical decoding slot grows", ("replication", "postgresql")),
    ],
    "PG": [
        ("vacuum never finishes", ("postgresql", "vacuum")),
        ("slow query on a big join", ("postgresql", "performance")),
        ("index not used by the planner", ("postgresql", "performance")),
        ("which collation to pick", ("postgresql",)),
    ],
    "BACKUP": [("restore a dump to another host", ("backup",))],
    "QUIET": [],
}


def _workspace(profile: dict[str, tuple[str, ...]] | None = None) -> HelperIndex:
    records = [helper(h, [t for t, _ in asks], "", HelperFacts()) for h, asks in HISTORY.items()]
    index = HelperIndex.build(records, EMB.dimension)
    topics = attach(index, TopicIndex())
    for h, asks in HISTORY.items():
        for _text, tags in asks:
            topics.add_help(h, tags)
    for h, tags in (profile or {}).items():
        topics.set_profile(h, tags)
    return index


def _ask(text: str, topics: tuple[str, ...]) -> Ask:
    return Ask(text, EMB.embed([text])[0], NOW, asker_id="ASKER", topics=frozenset(topics))


def test_clean_topics_and_counts() -> None:
    assert clean_topics([" Replication ", "replication", "", "Two  words"]) == (
        "replication",
        "two words",
    )
    index = TopicIndex()
    index.add_help("A", ["x", "y"])
    index.add_help("A", ["x"])
    index.add_help("B", [])
    assert (len(index), index.helps_tagged("A", "x"), index.helps_tagged("B", "x")) == (3, 2, 0)
    # The rarer topic is worth more: 2 of 3 helps tagged x, 1 of 3 tagged y.
    assert index.idf("y") > index.idf("x") > index.idf("unknown") - 10
    assert index.idf("x") == pytest.approx(math.log(4 / 3))
    index.set_profile("B", ["Z", "y"])
    assert index.stated("B") == {"z", "y"}
    index.set_profile("B", ["y"])
    assert index.stated("B") == {"y"}
    index.remove("A")
    assert (index.helps_tagged("A", "x"), len(index), index.idf("x")) == (0, 1, math.log(2))


def test_the_helper_who_helped_on_the_topic_comes_first_and_is_told_why() -> None:
    """Text unrelated to anyone's past asks: the topic alone decides, and the explanation
    gives the count of that helper's past asks carrying it."""
    ranker = HybridRanker(_workspace(), TOPICS_ONLY)
    ranked = ranker.rank(_ask("what should we do tonight", ("replication",)), limit=None)
    assert ranked[0].helper_id == "REPL"
    told = sum("replication" in tags for _t, tags in HISTORY["REPL"])
    assert ranked[0].explanation == f"Helped on {told} asks about 'replication'"
    # Two topics: the rarer one shared counts for more than the common one.
    ranked = ranker.rank(_ask("tonight", ("postgresql", "vacuum")), limit=None)
    assert [r.helper_id for r in ranked[:2]] == ["PG", "REPL"]
    assert "about 'vacuum'" in ranked[0].explanation or "about 'postgresql'" in (
        ranked[0].explanation
    )


def test_no_topics_no_signal() -> None:
    ranker = HybridRanker(_workspace(), TOPICS_ONLY)
    scoring = ranker.score(_ask("standby will not catch up", ()))
    assert "topic_history" not in scoring.scored.contributions
    # Without a topic index attached, topics on the ask are ignored (nothing breaks).
    bare = HelperIndex.build([helper("A", ["x"])], EMB.dimension)
    assert topics_of(bare) is None
    assert HybridRanker(bare, TOPICS_ONLY).rank(_ask("x", ("replication",)))[0].helper_id == "A"


def test_a_stated_topic_alone_reaches_a_helper_with_no_history() -> None:
    """Cold start: QUIET never helped, but lists 'backup' on their profile."""
    ranker = HybridRanker(_workspace({"QUIET": ("backup",)}), TOPICS_ONLY)
    ranked = ranker.rank(_ask("tonight", ("backup",)), limit=None)
    top = {r.helper_id: r for r in ranked[:2]}
    assert set(top) == {"BACKUP", "QUIET"}
    assert top["QUIET"].explanation == "Lists 'backup' among their topics"
    assert top["BACKUP"].explanation == "Helped on 1 ask about 'backup'"
    # One stated topic counts as much as one tagged help.
    assert top["QUIET"].score == pytest.approx(top["BACKUP"].score)
    assert math.log1p(1) == pytest.approx(STATED_WEIGHT)


def test_built_in_topics_are_said_by_their_label() -> None:
    index = _workspace()
    topics_of(index).add_help("QUIET", ["hiring"])  # type: ignore[union-attr]
    ranked = HybridRanker(index, TOPICS_ONLY).rank(_ask("tonight", ("hiring",)))
    assert ranked[0].explanation == "Helped on 1 ask about 'Hiring and interviewing'"


@pytest.mark.parametrize(
    "topics", [("replication",), ("postgresql", "performance"), ("backup", "vacuum"), ()]
)
def test_explanations_stay_true_with_topics_and_every_signal(topics: tuple[str, ...]) -> None:
    """With the default weights the topic signal competes with the others; whatever is named
    is true (the shared truth check, plus the topic counts checked against HISTORY)."""
    ranker = HybridRanker(_workspace(), RankerWeights())
    ask = _ask("standby will not catch up after failover", topics)
    _check_truth(ranker, ask)
    for r in ranker.rank(ask, limit=None):
        for n, tag in re.findall(r"helped on (\d+) asks? about '([^']+)'", r.explanation, re.I):
            assert tag in topics
            assert int(n) == sum(tag in tags for _t, tags in HISTORY[r.helper_id])


def _tagged_events(n: int) -> list[HelpEvent]:
    """One ask a day, alternately tagged 'a' (helped by A) and 'b' (helped by B)."""
    out = []
    for i in range(n):
        tag = "ab"[i % 2]
        text = f"question {i}"
        out.append(
            HelpEvent(
                str(i),
                text,
                EMB.embed([text])[0],
                NOW - timedelta(days=n - i),
                (tag.upper(),),
                topics=(tag,),
            )
        )
    return out


def test_training_sees_only_the_topics_of_earlier_asks() -> None:
    """An ask's own topics never count for its helper: the first ask tagged 'c', helped by C,
    gives C a topic signal of 0 (it would lead if the ask leaked in); the signal of every
    earlier ask is unchanged by a different future."""
    helpers = [HelperRecord(h, None, "x", (), HelperFacts()) for h in ("A", "B", "C")]
    col = SIGNALS.index("topic_history")
    events = _tagged_events(30)
    text = "question c"
    first_c = HelpEvent("c", text, EMB.embed([text])[0], NOW, ("C",), topics=("c",))
    data = replay_features([*events, first_c], helpers, EMB.dimension)
    group = next(g for g in data.groups if g.ask_id == "c")
    assert group.pos[0, col] == 0.0 and np.all(group.neg[:, col] == 0.0)
    # Those tagged 'a' learned A's history: A's topic value leads there.
    later = next(g for g in data.groups if g.ask_id == "20")
    assert later.pos[0, col] > later.neg[:, col].max()
    # A future with other topics changes nothing before it.
    other = [
        HelpEvent(e.ask_id, e.text, e.vector, e.at, e.helpers, topics=("zzz",)) for e in events
    ]
    mixed = events[:15] + other[15:]
    a = {g.ask_id: g for g in replay_features(events, helpers, EMB.dimension).groups}
    b = {g.ask_id: g for g in replay_features(mixed, helpers, EMB.dimension).groups}
    for k in range(15):
        if str(k) in a:
            np.testing.assert_array_equal(a[str(k)].pos, b[str(k)].pos)
            np.testing.assert_array_equal(a[str(k)].neg, b[str(k)].neg)


def test_removing_a_helper_and_adding_them_again_restores_the_same_scores() -> None:
    """The incremental update path: a changed helper is forgotten, then loaded again."""
    index = TopicIndex()
    for h, tags in [("A", ["x"]), ("B", ["x", "y"]), ("A", ["y"]), ("B", ["x"])]:
        index.add_help(h, tags, NOW - timedelta(days=3))
    index.set_profile("A", ["z"])
    slots = {"A": 0, "B": 1}
    before = index.scores(["x", "y", "z"], slots.get, 2, 30.0)
    index.remove("A")
    assert (index.helps_tagged("B", "x"), index.helps_tagged("A", "x"), len(index)) == (2, 0, 2)
    assert index.scores(["x", "y", "z"], slots.get, 2, 30.0)[0] == 0.0
    index.add_help("A", ["x"], NOW - timedelta(days=3))
    index.add_help("A", ["y"], NOW - timedelta(days=3))
    index.set_profile("A", ["z"])
    np.testing.assert_allclose(index.scores(["x", "y", "z"], slots.get, 2, 30.0), before)


def test_helps_added_as_columns_make_the_index_added_one_by_one() -> None:
    """The bulk path of a full load (:meth:`TopicIndex.add_help_columns`) holds what adding
    each help in turn holds: the same topics, counts, times in the same order, idf and
    scores, also when added to an index that already holds helps."""
    rng = np.random.default_rng(5)
    keys = [(), ("Hiring",), ("hiring", "remote"), ("remote", " Hiring "), ("budget",), ("x",)]
    helpers = [f"U{i}" for i in range(7)]

    def history(n: int) -> tuple[list[str], np.ndarray, np.ndarray]:
        who = [helpers[i] for i in rng.integers(0, len(helpers), n)]
        key = rng.integers(0, len(keys), n).astype(np.intp)
        times = NOW.timestamp() - rng.integers(0, 400, n) * 86400.0
        times[rng.random(n) < 0.2] = np.nan
        return who, key, times

    one, bulk = TopicIndex(), TopicIndex()
    for who, key, times in (history(60), history(25)):
        one.add_helps(
            (h, keys[k], None if math.isnan(t) else _at(t))
            for h, k, t in zip(who, key.tolist(), times.tolist(), strict=True)
        )
        assert bulk.add_help_columns(who, key, keys, times) == len(who)
    assert bulk.export_state()[1] == one.export_state()[1]
    for name, arr in one.export_state()[0].items():
        assert np.array_equal(bulk.export_state()[0][name], arr, equal_nan=True), name
    slot = {h: i for i, h in enumerate(helpers)}.get
    for topics in (["hiring"], ["remote", "budget"], ["x", "nothing"]):
        assert np.array_equal(one.scores(topics, slot, 7, 30.0), bulk.scores(topics, slot, 7, 30.0))
    one.remove("U3")
    bulk.remove("U3")
    assert bulk.export_state()[1] == one.export_state()[1]
    assert len(bulk) == len(one)


def _at(posix: float) -> datetime:
    return datetime.fromtimestamp(posix, UTC)
