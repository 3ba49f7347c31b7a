"""The index's columnar load (a full build) holds what the record-by-record load holds.

A full build reads :func:`load_columns` (no object per past help); the incremental refresh
still reads :func:`load_records`. Both must give an index that ranks and explains alike: same
helpers, expertise, past helps (ask id, text, time, vector, in pair order), same scores.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import Engine

from peerbot.matching import Ask as MatchAsk
from peerbot.matching import HelperIndex, HybridRanker, RankerWeights
from peerbot.services.ranking import load_columns, load_records
from peerbot.store.db import session_factory, unit_of_work
from peerbot.store.models import Embedding, EmbeddingOwner, HelperProfile, Pair
from peerbot.store.types import vector_to_bytes
from tests.store.builders import NOW, add_ask, add_person, add_workspace

MODEL = "test-model"
DIM = 16
TEXTS = [
    "Hiring the first data scientist",
    "Équipe à distance: moral en baisse après la réorganisation",
    "Conflict between two tech leads 🙂 about ownership",
    "Giving feedback to a senior engineer who misses deadlines",
    "予算削減とレイオフの伝え方",
]


def _seed(engine: Engine) -> None:
    rng = np.random.default_rng(7)
    with unit_of_work(session_factory(engine)) as s:
        add_workspace(s)
        asker = add_person(s, "T001", "U_ASKER")
        helpers = []
        for i in range(8):
            person = add_person(s, "T001", f"UH{i}", deleted=(i == 6))
            s.add(
                HelperProfile(
                    person_id=person.id,
                    team_id="T001",
                    opted_in=(i != 5),
                    expertise=f"{TEXTS[i % len(TEXTS)]} ({i})",
                    topics=["hiring", "réorg"] if i % 2 else [],
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            if i != 3:  # helper 3 states no expertise vector
                s.add(_embedding(person.id, EmbeddingOwner.HELPER_EXPERTISE, rng))
            helpers.append(person)
        s.flush()
        # Past helps in an order unlike the helpers' (pair ids interleaved), helper 4 none.
        order = [0, 2, 1, 0, 7, 2, 5, 6, 1, 0, 7, 2]
        for k, h in enumerate(order):
            ask = add_ask(s, asker, challenge=f"{TEXTS[k % len(TEXTS)]} #{k}")
            s.add(_embedding(ask.id, EmbeddingOwner.ASK, rng))
            s.add(
                Pair(
                    team_id="T001",
                    ask_id=ask.id,
                    helper_id=helpers[h].id,
                    asker_id=asker.id,
                    created_at=NOW - timedelta(days=k, microseconds=137 * k),
                )
            )
        s.flush()


def _embedding(owner_id: int, kind: EmbeddingOwner, rng: np.random.Generator) -> Embedding:
    vec = rng.standard_normal(DIM).astype(np.float32)
    return Embedding(
        team_id="T001",
        owner_kind=kind,
        owner_id=owner_id,
        model_name=MODEL,
        dim=DIM,
        vector=vector_to_bytes(vec),
        created_at=NOW,
    )


def test_columnar_load_builds_the_index_the_records_build(engine: Engine) -> None:
    _seed(engine)
    with unit_of_work(session_factory(engine)) as s:
        cols = load_columns(s, "T001", MODEL)
        records, _removed = load_records(s, "T001", MODEL)
    # Opted-out (UH5) and deleted (UH6) helpers are left out; the rest all present.
    assert sorted(cols.helper_ids) == sorted(r.helper_id for r in records)
    assert sorted(cols.helper_ids) == ["UH0", "UH1", "UH2", "UH3", "UH4", "UH7"]
    a = HelperIndex.build(cols, DIM, MODEL)
    b = HelperIndex.build(records, DIM, MODEL)
    for rec in records:
        got = a.record(rec.helper_id)
        want = b.record(rec.helper_id)
        assert got.expertise_text == want.expertise_text
        assert (got.expertise_vector is None) == (want.expertise_vector is None)
        if want.expertise_vector is not None:
            assert np.array_equal(got.expertise_vector, want.expertise_vector)
        assert [(h.ask_id, h.text, h.helped_at) for h in got.past_helps] == [
            (h.ask_id, h.text, h.helped_at) for h in want.past_helps
        ]
        assert all(
            np.array_equal(g.vector, w.vector)
            for g, w in zip(got.past_helps, want.past_helps, strict=True)
        )
    assert a.record("UH0").past_helps[0].helped_at == NOW  # pair order, times exact
    assert len(a.record("UH2").past_helps) == 3
    assert a.record("UH4").past_helps == ()
    rng = np.random.default_rng(1)
    for text in TEXTS:
        ask = MatchAsk(text, rng.standard_normal(DIM).astype(np.float32), NOW)
        ra = HybridRanker(a, RankerWeights()).rank(ask, limit=None)
        rb = HybridRanker(b, RankerWeights()).rank(ask, limit=None)
        assert [(r.helper_id, r.score, r.explanation) for r in ra] == [
            (r.helper_id, r.score, r.explanation) for r in rb
        ]


def test_columnar_load_of_an_empty_workspace(engine: Engine) -> None:
    with unit_of_work(session_factory(engine)) as s:
        add_workspace(s)
    with unit_of_work(session_factory(engine)) as s:
        cols = load_columns(s, "T001", MODEL)
    index = HelperIndex.build(cols, DIM, MODEL)
    assert len(index) == 0


def test_topics_load_in_bulk_as_added_one_by_one(engine: Engine) -> None:
    """The full topic load (plain columns from the database, added in bulk) holds what adding
    each pair's topics in pair order holds, read back through the ORM: picked topics (JSON
    lists), automatic labels, none, opted-out and deleted helpers' helps (they count in the
    idf), undated-looking times with microseconds, and the profiles' stated topics."""
    from peerbot.domain.topics import ask_topics
    from peerbot.matching.topics import TopicIndex
    from peerbot.services.topic_index import attach_topics
    from peerbot.store.models import Ask, Person

    _seed(engine)
    picks: list[tuple[list[str] | None, str | None]] = [
        (["hiring", "Remote work"], None),
        (None, "conflict"),
        ([], "hiring"),
        (None, None),
        (["réorg"], "conflict"),
    ]
    with unit_of_work(session_factory(engine)) as s:
        asks = s.query(Ask).order_by(Ask.id).all()
        for k, ask in enumerate(asks):
            ask.topics, ask.topic = picks[k % len(picks)]
    with unit_of_work(session_factory(engine)) as s:
        bulk = attach_topics(HelperIndex(DIM, MODEL), s, "T001")
        want = TopicIndex()
        rows = (
            s.query(Pair, Ask, Person)
            .join(Ask, Ask.id == Pair.ask_id)
            .join(Person, Person.id == Pair.helper_id)
            .order_by(Pair.id)
        )
        for pair, ask, person in rows:
            want.add_help(person.slack_user_id, ask_topics(ask.topics, ask.topic), pair.created_at)
        for profile, person in s.query(HelperProfile, Person).join(
            Person, Person.id == HelperProfile.person_id
        ):
            if profile.topics:
                want.set_profile(person.slack_user_id, profile.topics)
    got_arrays, got_meta = bulk.export_state()
    want_arrays, want_meta = want.export_state()
    assert got_meta == want_meta
    assert want_meta["topics"] == ["hiring", "remote work", "conflict", "réorg"]
    for name, arr in want_arrays.items():
        assert np.array_equal(got_arrays[name], arr), name
