"""A workspace's ranker learns from its own history: the tick trains and stores the weights once
there is enough of it (accepts, pairs and ratings as positives, passes as negatives), and the
matcher ranks with them; a workspace with little history keeps the hand-set weights."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Engine

from peerbot.clock import FrozenClock
from peerbot.domain.ports import UserInfo
from peerbot.domain.profiles import ProfileInput
from peerbot.embeddings import HashingEmbedder
from peerbot.matching.scoring import RankerWeights
from peerbot.scheduling.jobs import Tick, run_due
from peerbot.services import learning as learning_module
from peerbot.services.helpers import HelperService
from peerbot.services.learning import RankerLearning, load_events, positive_asks
from peerbot.services.matching import IndexedMatcher
from peerbot.services.people import upsert_person
from peerbot.store.db import session_factory, unit_of_work
from peerbot.store.models import (
    Ask,
    AskStatus,
    Embedding,
    EmbeddingOwner,
    Feedback,
    FeedbackRole,
    MeetingAnswer,
    MeetingCheck,
    MeetingSide,
    Offer,
    OfferStatus,
    Pair,
    PairStatus,
    RankerModel,
    Urgency,
)
from peerbot.store.types import vector_to_bytes

EMB = HashingEmbedder(64)
START = datetime(2026, 1, 5, 9, tzinfo=UTC)
TOPICS = [
    "kubernetes cluster upgrade",
    "hiring a senior designer",
    "budget planning spreadsheet",
    "performance review feedback",
    "remote team onboarding",
    "incident postmortem process",
]
#: Hand-set weights blind to what an ask is about (only activity counts): learning must help.
TOPIC_BLIND = RankerWeights(
    semantic_history=0.0,
    semantic_expertise=0.0,
    lexical=0.0,
    experience=1.0,
    recency=1.0,
    topical_recency=0.0,
    semantic_profile=0.0,
)


class Directory:
    def user(self, team_id: str, user_id: str) -> UserInfo | None:
        return UserInfo(user_id=user_id, name=user_id, tz="Europe/London")

    def lookup_by_email(self, team_id: str, email: str) -> UserInfo | None:
        return None


class _Noop:
    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: 0


def _history(engine: Engine, team: str, n: int, first: int = 0) -> None:
    """``n`` past asks in ``team`` (numbered from ``first``): each about one topic, accepted and
    paired with that topic's helper (rated 4 or 5), and passed on by the next topic's helper."""
    sessions = session_factory(engine)
    clock = FrozenClock(START)
    helpers = HelperService(sessions, clock, EMB, Directory())
    for t, topic in enumerate(TOPICS):
        helpers.save(team, f"UH{t}", ProfileInput(True, f"Years of {topic}."))
    rng = np.random.default_rng(7 + first)
    with unit_of_work(sessions) as s:
        ids = {
            uid: upsert_person(s, team, uid, START).id
            for uid in [f"UH{t}" for t in range(len(TOPICS))]
        }
        for i in range(first, first + n):
            t = int(rng.integers(len(TOPICS)))
            at = START + timedelta(hours=6 * i)
            asker = upsert_person(s, team, f"UA{i % 9}", at)
            text = f"question {i}: {TOPICS[t]}"
            ask = Ask(
                team_id=team,
                asker_id=asker.id,
                challenge=text,
                urgency=Urgency.NORMAL,
                anonymous=False,
                status=AskStatus.CLOSED,
                created_at=at,
                updated_at=at,
            )
            s.add(ask)
            s.flush()
            vec = EMB.embed([text])[0]
            s.add(
                Embedding(
                    team_id=team,
                    owner_kind=EmbeddingOwner.ASK,
                    owner_id=ask.id,
                    model_name=EMB.model_name,
                    dim=EMB.dimension,
                    vector=vector_to_bytes(vec),
                    created_at=at,
                )
            )
            helper, other = ids[f"UH{t}"], ids[f"UH{(t + 1) % len(TOPICS)}"]
            for rank, (hid, status) in enumerate(
                [(other, OfferStatus.PASSED), (helper, OfferStatus.ACCEPTED)], start=1
            ):
                s.add(
                    Offer(
                        team_id=team,
                        ask_id=ask.id,
                        helper_id=hid,
                        rank=rank,
                        score=0.0,
                        status=status,
                        sent_at=at,
                        responded_at=at + timedelta(hours=1),
                        created_at=at,
                    )
                )
            pair = Pair(
                team_id=team,
                ask_id=ask.id,
                helper_id=helper,
                asker_id=asker.id,
                status=PairStatus.CLOSED,
                created_at=at + timedelta(hours=1),
                closed_at=at + timedelta(days=7),
            )
            s.add(pair)
            s.flush()
            s.add(
                Feedback(
                    team_id=team,
                    pair_id=pair.id,
                    person_id=asker.id,
                    role=FeedbackRole.ASKER,
                    rating=4 + i % 2,
                    created_at=at + timedelta(days=7),
                )
            )


def test_five_past_asks_keep_the_defaults_five_hundred_learn(engine: Engine) -> None:
    _history(engine, "TSMALL", 5)
    _history(engine, "TBIG", 500)
    sessions = session_factory(engine)
    clock = FrozenClock(START + timedelta(days=200))
    learning = RankerLearning(sessions, clock, EMB.model_name, EMB.dimension, TOPIC_BLIND)

    with unit_of_work(sessions) as s:
        assert positive_asks(s, "TSMALL") == 5
        events = load_events(s, "TBIG", EMB.model_name)
    # The labels production has: the accepted/paired helper positive (rating 4 -> 1.25, 5 ->
    # 1.5), the helper who passed an explicit negative.
    assert len(events) == 500
    for e in events:
        assert e.helpers == (f"UH{TOPICS.index(e.text.split(': ', 1)[1])}",)
    assert {e.weight for e in events} == {1.25, 1.5}
    assert all(len(e.declined) == 1 and e.declined[0] not in e.helpers for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)

    tick = Tick(engine, _Noop(), _Noop(), _Noop(), _Noop(), _Noop(), ranker=learning)
    tick_sender = _Drain()
    tick = replace(tick, sender=tick_sender)
    report = run_due(tick)
    assert report.rankers_trained == 1  # TBIG only: TSMALL has too little history
    with unit_of_work(sessions) as s:
        assert s.get(RankerModel, "TSMALL") is None
        row = s.get(RankerModel, "TBIG")
        assert row is not None and row.labelled_asks == 500 and row.trained_on_asks > 400, row.model
        assert learning.weights(s, "TSMALL") == TOPIC_BLIND
        learned = learning.weights(s, "TBIG")
    assert learned != TOPIC_BLIND
    assert learned.semantic_history + learned.lexical > 0.0
    # Nothing new: the next tick does not retrain.
    assert run_due(tick).rankers_trained == 0

    # The matcher ranks the big workspace with the learned weights: the topic's helper first,
    # where the topic-blind defaults put someone else first.
    def first(matcher: IndexedMatcher, team: str, topic: int) -> str:
        text = f"new question about {TOPICS[topic]}"
        with unit_of_work(sessions) as s:
            asker = upsert_person(s, team, "UNEW", clock.now())
            ask = Ask(
                team_id=team,
                asker_id=asker.id,
                challenge=text,
                urgency=Urgency.NORMAL,
                anonymous=False,
                status=AskStatus.MATCHING,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
            s.add(ask)
            s.flush()
            ranked = matcher.candidates_for(s, ask, asker, EMB.embed([text])[0], clock.now())
            s.rollback()
            return ranked[0].candidate.user_id

    learned_matcher = IndexedMatcher(EMB.model_name, EMB.dimension, TOPIC_BLIND, learning=learning)
    blind = IndexedMatcher(EMB.model_name, EMB.dimension, TOPIC_BLIND)
    hits = sum(first(learned_matcher, "TBIG", t) == f"UH{t}" for t in range(len(TOPICS)))
    blind_hits = sum(first(blind, "TBIG", t) == f"UH{t}" for t in range(len(TOPICS)))
    assert hits > blind_hits
    assert hits >= len(TOPICS) - 1
    with unit_of_work(sessions) as s:
        stored = s.scalars(select(RankerModel.team_id)).all()
    assert stored == ["TBIG"]


class _Drain:
    def drain(self) -> Any:
        class R:
            sent = retried = dead = recovered = 0

        return R()


def test_did_you_meet_answers_weigh_the_labels(engine: Engine) -> None:
    """A pair that answered "no, we didn't meet" counts half; "yes" from either side, or only
    "not yet", leaves the rating's weight."""
    _history(engine, "TMEET", 4)
    sessions = session_factory(engine)
    with unit_of_work(sessions) as s:
        pairs = s.scalars(select(Pair).where(Pair.team_id == "TMEET").order_by(Pair.id)).all()
        answers = [
            [(MeetingSide.ASKER, MeetingAnswer.NO)],
            [(MeetingSide.ASKER, MeetingAnswer.NO), (MeetingSide.HELPER, MeetingAnswer.YES)],
            [(MeetingSide.HELPER, MeetingAnswer.NOT_YET)],
            [(MeetingSide.HELPER, MeetingAnswer.NO), (MeetingSide.ASKER, MeetingAnswer.NOT_YET)],
        ]
        for pair, given in zip(pairs, answers, strict=True):
            for side, answer in given:
                s.add(
                    MeetingCheck(
                        team_id="TMEET",
                        pair_id=pair.id,
                        side=side,
                        due_at=START,
                        sent_at=START,
                        answered_at=START,
                        answer=answer,
                    )
                )
    with unit_of_work(sessions) as s:
        weights = [e.weight for e in load_events(s, "TMEET", EMB.model_name)]
    # Ratings 4, 5, 4, 5 weigh 1.25, 1.5, 1.25, 1.5; "didn't meet" halves it.
    assert weights == [0.625, 1.5, 1.25, 0.75]


def test_the_tick_counts_the_whole_history_only_when_enough_may_be_new(
    engine: Engine, monkeypatch: Any
) -> None:
    """The retraining check reads the labels beyond the ids the last training saw; the full
    count of labelled asks (3.7 s at 1.1 million asks) runs only when they may be enough."""
    _history(engine, "TGROW", 120)
    sessions = session_factory(engine)
    clock = FrozenClock(START + timedelta(days=200))
    learning = RankerLearning(sessions, clock, EMB.model_name, EMB.dimension, TOPIC_BLIND)
    tick = replace(
        Tick(engine, _Noop(), _Noop(), _Noop(), _Noop(), _Noop(), ranker=learning),
        sender=_Drain(),
    )
    counted: list[str] = []
    full_count = learning_module.positive_asks

    def counting(session: Any, team_id: str) -> int:
        counted.append(team_id)
        return full_count(session, team_id)

    monkeypatch.setattr(learning_module, "positive_asks", counting)
    assert run_due(tick).rankers_trained == 1  # never trained: counted in full
    assert counted == ["TGROW"]

    counted.clear()
    assert run_due(tick).rankers_trained == 0
    assert counted == []  # nothing new: not counted

    _history(engine, "TGROW", 10, first=120)  # 10 new, 25 needed
    assert run_due(tick).rankers_trained == 0
    assert counted == []

    _history(engine, "TGROW", 20, first=130)  # 30 new
    assert run_due(tick).rankers_trained == 1
    assert counted == ["TGROW"]
    with unit_of_work(sessions) as s:
        row = s.get(RankerModel, "TGROW")
        assert row is not None and row.labelled_asks == 150
        assert (row.last_offer_id, row.last_pair_id) == learning_module.high_water(s)
