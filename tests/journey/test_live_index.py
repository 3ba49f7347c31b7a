"""The per-workspace index is kept current from the database, also across processes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from peerbot.clock import FrozenClock
from peerbot.domain.ports import Embedder, UserInfo
from peerbot.domain.profiles import ProfileInput
from peerbot.services.helpers import HelperService
from peerbot.services.matching import IndexedMatcher
from peerbot.services.people import upsert_person
from peerbot.store.db import session_factory, unit_of_work
from peerbot.store.models import Ask, AskStatus, Urgency

TEAM = "T1"


class NoDirectory:
    def user(self, team_id: str, user_id: str) -> UserInfo | None:
        return UserInfo(user_id=user_id, name=user_id, tz="Europe/London")

    def lookup_by_email(self, team_id: str, email: str) -> UserInfo | None:
        return None


def test_two_processes_see_each_others_profile_changes(
    engine: Engine, real_embedder: Embedder
) -> None:
    sessions = session_factory(engine)
    clock = FrozenClock(datetime(2026, 11, 23, 12, tzinfo=UTC))
    helpers = HelperService(sessions, clock, real_embedder, NoDirectory())
    # Two "worker processes": each has its own in-memory index.
    worker_a = IndexedMatcher(real_embedder.model_name, real_embedder.dimension)
    worker_b = IndexedMatcher(real_embedder.model_name, real_embedder.dimension)
    helpers.save(TEAM, "UH1", ProfileInput(True, "Hired and onboarded many engineers quickly."))
    helpers.save(TEAM, "UH2", ProfileInput(True, "Ran budgets and vendor contracts for years."))
    text = "How do I give difficult feedback about behaviour to a senior person?"
    vector = real_embedder.embed([text])[0]

    def top(worker: IndexedMatcher) -> str:
        with unit_of_work(sessions) as s:
            asker = upsert_person(s, TEAM, "UASK", clock.now())
            ask = Ask(
                team_id=TEAM,
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
            ranked = worker.candidates_for(s, ask, asker, vector, clock.now())
            s.rollback()
            return ranked[0].candidate.user_id

    assert top(worker_a) in {"UH1", "UH2"}
    assert top(worker_b) in {"UH1", "UH2"}
    # Worker A's process saves a new profile; worker B ranks next and must see it.
    clock.advance(timedelta(minutes=1))
    helpers.save(
        TEAM,
        "UH3",
        ProfileInput(True, "Gave hard feedback on behaviour to senior people many times."),
    )
    assert top(worker_b) == "UH3"
    # An opt-out is seen too.
    clock.advance(timedelta(minutes=1))
    helpers.opt_out(TEAM, "UH3")
    assert top(worker_a) != "UH3"
    assert top(worker_b) != "UH3"
