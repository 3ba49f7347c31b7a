"""The workspace's matching change number: every change matching reads bumps it, nothing else.

Each step commits (the PostgreSQL triggers run at commit) and reads the number from a new
transaction, as another worker would.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, delete, update
from sqlalchemy.orm import Session

from peerbot.services.ranking import matching_version
from peerbot.store.db import session_factory, unit_of_work
from peerbot.store.models import (
    Ask,
    Embedding,
    EmbeddingOwner,
    Feedback,
    FeedbackRole,
    HelperNeverMatch,
    HelperProfile,
    Pair,
    PairStatus,
    Person,
)
from tests.store.builders import NOW, add_ask, add_pair, add_person, add_workspace


def _version(engine: Engine, team: str = "T001") -> int:
    with unit_of_work(session_factory(engine)) as session:
        return matching_version(session, team)


def _step(engine: Engine, change: Callable[[Session], object]) -> int:
    """Commit ``change``; return how much the number moved."""
    before = _version(engine)
    with unit_of_work(session_factory(engine)) as session:
        change(session)
    return _version(engine) - before


def test_changes_matching_reads_bump_the_number_and_others_do_not(engine: Engine) -> None:
    ids: dict[str, int] = {}

    def setup(s: Session) -> None:
        add_workspace(s)
        add_workspace(s, "T002")
        ids["asker"] = add_person(s, "T001", "UASKER").id
        ids["helper"] = add_person(s, "T001", "UHELPER").id
        ids["ask"] = add_ask(s, s.get_one(Person, ids["asker"])).id

    _step(engine, setup)
    assert _version(engine) == 0  # people without a manager: nothing matching reads yet

    def profile(s: Session) -> None:
        s.add(HelperProfile(person_id=ids["helper"], team_id="T001", opted_in=True))

    assert _step(engine, profile) > 0
    assert (
        _step(
            engine,
            lambda s: s.execute(
                update(HelperProfile)
                .where(HelperProfile.person_id == ids["helper"])
                .values(capacity=5)
            ),
        )
        > 0
    )
    # The asker's Slack profile refreshed (name, updated_at): not something matching reads.
    assert (
        _step(
            engine,
            lambda s: s.execute(
                update(Person)
                .where(Person.id == ids["asker"])
                .values(display_name="Ann", real_name="Ann A.", updated_at=NOW)
            ),
        )
        == 0
    )
    # An asker's time zone and reachability are not matching's business (their Slack profile
    # is refreshed on their first ask); a helper's are, and anyone's manager is.
    changes = [
        ("asker", {"tz": "Europe/Berlin", "can_be_messaged": False}, False),
        ("helper", {"tz": "Europe/Berlin"}, True),
        ("helper", {"can_be_messaged": False}, True),
        ("asker", {"manager_slack_user_id": "UBOSS"}, True),
        ("helper", {"deleted": True}, True),
    ]
    for who, values, moves in changes:
        moved = _step(
            engine,
            lambda s, w=who, v=values: s.execute(  # type: ignore[misc]
                update(Person).where(Person.id == ids[w]).values(**v)
            ),
        )
        assert (moved > 0) == moves, (who, values)
    # An ask's own vector is not a helper's: every ask stores one.
    vec = b"\x00\x00\x80\x3f" * 4
    assert (
        _step(
            engine,
            lambda s: s.add(
                Embedding(
                    team_id="T001", owner_kind=EmbeddingOwner.ASK, owner_id=ids["ask"],
                    model_name="m", dim=4, vector=vec, created_at=NOW,
                )
            ),
        )
        == 0
    )  # fmt: skip
    assert (
        _step(
            engine,
            lambda s: s.add(
                Embedding(
                    team_id="T001", owner_kind=EmbeddingOwner.HELPER_EXPERTISE,
                    owner_id=ids["helper"], model_name="m", dim=4, vector=vec, created_at=NOW,
                )
            ),
        )
        > 0
    )  # fmt: skip

    def pair(s: Session) -> None:
        ask = add_ask(s, s.get_one(Person, ids["asker"]))
        ids["pair"] = add_pair(s, ask, s.get_one(Person, ids["helper"])).id

    assert _step(engine, pair) > 0
    # A check-in moves the pair's dates: not matching's business.
    assert (
        _step(
            engine,
            lambda s: s.execute(
                update(Pair)
                .where(Pair.id == ids["pair"])
                .values(next_checkin_at=NOW, missed_checkins=1)
            ),
        )
        == 0
    )
    assert (
        _step(
            engine,
            lambda s: s.execute(
                update(Pair)
                .where(Pair.id == ids["pair"])
                .values(status=PairStatus.CLOSED, closed_at=NOW)
            ),
        )
        > 0
    )
    assert (
        _step(
            engine,
            lambda s: s.add(
                Feedback(
                    team_id="T001", pair_id=ids["pair"], person_id=ids["asker"],
                    role=FeedbackRole.ASKER, rating=5, created_at=NOW,
                )
            ),
        )
        > 0
    )  # fmt: skip
    assert (
        _step(
            engine,
            lambda s: s.add(
                HelperNeverMatch(
                    helper_person_id=ids["helper"], team_id="T001",
                    blocked_slack_user_id="UASKER", created_at=NOW,
                )
            ),
        )
        > 0
    )  # fmt: skip
    # Removing the helper's data (cascades included) is a change too.
    assert (
        _step(
            engine,
            lambda s: s.execute(delete(HelperProfile).where(HelperProfile.team_id == "T001")),
        )
        > 0
    )
    # Another workspace's number is its own.
    assert _version(engine, "T002") == 0


def test_a_bulk_change_moves_the_number_once_per_transaction_on_postgresql(
    engine: Engine,
) -> None:
    """Hundreds of pairs in one transaction: the number moves (once on PostgreSQL, where the
    counter row is updated once per transaction instead of once per row, which would
    move it hundreds of times here)."""
    ids: dict[str, int] = {}

    def setup(s: Session) -> None:
        add_workspace(s)
        ids["asker"] = add_person(s, "T001", "UASKER").id
        ids["helper"] = add_person(s, "T001", "UHELPER").id

    _step(engine, setup)

    def bulk(s: Session) -> None:
        asker = s.get_one(Person, ids["asker"])
        helper = s.get_one(Person, ids["helper"])
        for _ in range(400):
            ask = Ask(team_id="T001", asker_id=asker.id, challenge="c", created_at=NOW)
            s.add(ask)
            s.flush()
            s.add(Pair(team_id="T001", ask_id=ask.id, helper_id=helper.id, asker_id=asker.id))
        s.flush()

    moved = _step(engine, bulk)
    assert moved > 0
    if engine.dialect.name == "postgresql":
        assert moved == 1
    # The next transaction moves it again (the once-per-transaction memory does not linger).
    assert (
        _step(
            engine,
            lambda s: s.execute(
                update(Pair).where(Pair.helper_id == ids["helper"]).values(status=PairStatus.CLOSED)
            ),
        )
        > 0
    )
