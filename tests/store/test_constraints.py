"""The constraints that keep peerbot's state consistent, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from peerbot.store.models import (
    Ask,
    Checkin,
    CheckinKind,
    Feedback,
    FeedbackRole,
    HelperProfile,
    Offer,
    OutboxMessage,
    Pair,
    PairStatus,
    Person,
    ProcessedSlackId,
    SlackIdKind,
    Workspace,
)
from tests.store.builders import (
    NOW,
    add_ask,
    add_pair,
    add_person,
    add_workspace,
    flush_in_savepoint,
    graph,
    outbox_message,
)


def test_one_pair_per_ask(db_session: Session) -> None:
    asker, helper, ask = graph(db_session)
    add_pair(db_session, ask, helper)
    other = add_person(db_session, "T001", "U_OTHER")
    second = Pair(team_id="T001", ask_id=ask.id, helper_id=other.id, asker_id=asker.id)
    with pytest.raises(IntegrityError):
        flush_in_savepoint(db_session, second)
    # A different ask may have its own pair.
    add_pair(db_session, add_ask(db_session, asker), helper)


def test_a_failed_pair_leaves_room_for_another_on_the_same_ask(db_session: Session) -> None:
    asker, helper, ask = graph(db_session)
    first = add_pair(db_session, ask, helper)
    first.status = PairStatus.FAILED
    db_session.flush()
    other = add_person(db_session, "T001", "U_OTHER")
    flush_in_savepoint(
        db_session, Pair(team_id="T001", ask_id=ask.id, helper_id=other.id, asker_id=asker.id)
    )
    third = Pair(team_id="T001", ask_id=ask.id, helper_id=helper.id, asker_id=asker.id)
    with pytest.raises(IntegrityError):  # but only one live pair
        flush_in_savepoint(db_session, third)


def test_outbox_idempotency_key_is_unique(db_session: Session) -> None:
    flush_in_savepoint(db_session, outbox_message("offer:42:U1"))
    with pytest.raises(IntegrityError):
        flush_in_savepoint(db_session, outbox_message("offer:42:U1", team_id="T002"))
    flush_in_savepoint(db_session, outbox_message("offer:42:U2"))
    assert len(db_session.scalars(select(OutboxMessage)).all()) == 2


def test_processed_slack_ids_are_unique_per_team_and_kind(db_session: Session) -> None:
    def row(team: str, kind: SlackIdKind, slack_id: str) -> ProcessedSlackId:
        return ProcessedSlackId(team_id=team, kind=kind, slack_id=slack_id, processed_at=NOW)

    flush_in_savepoint(db_session, row("T1", SlackIdKind.EVENT, "Ev1"))
    with pytest.raises(IntegrityError):
        flush_in_savepoint(db_session, row("T1", SlackIdKind.EVENT, "Ev1"))
    flush_in_savepoint(
        db_session, row("T2", SlackIdKind.EVENT, "Ev1"), row("T1", SlackIdKind.VIEW, "Ev1")
    )


def test_offer_is_unique_per_ask_and_helper(db_session: Session) -> None:
    _, helper, ask = graph(db_session)

    def offer(rank: int) -> Offer:
        return Offer(team_id="T001", ask_id=ask.id, helper_id=helper.id, rank=rank, score=0.5)

    flush_in_savepoint(db_session, offer(1))
    with pytest.raises(IntegrityError):
        flush_in_savepoint(db_session, offer(2))


def test_people_are_unique_per_team(db_session: Session) -> None:
    add_workspace(db_session, "T001")
    add_workspace(db_session, "T002")
    add_person(db_session, "T001", "U1")
    add_person(db_session, "T002", "U1")  # same user id in another workspace is someone else
    with pytest.raises(IntegrityError):
        flush_in_savepoint(db_session, Person(team_id="T001", slack_user_id="U1"))


def test_ask_client_key_is_unique_per_team(db_session: Session) -> None:
    asker, _, _ = graph(db_session)
    add_ask(db_session, asker, client_key="V123")
    with pytest.raises(IntegrityError):
        flush_in_savepoint(
            db_session, Ask(team_id="T001", asker_id=asker.id, challenge="x", client_key="V123")
        )
    add_workspace(db_session, "T002")
    other = add_person(db_session, "T002", "U9")
    add_ask(db_session, other, client_key="V123")
    add_ask(db_session, asker)  # no key: as many as you like
    add_ask(db_session, asker)


def test_checkins_are_unique_per_pair_kind_and_due_time(db_session: Session) -> None:
    _, helper, ask = graph(db_session)
    pair = add_pair(db_session, ask, helper)

    def checkin(kind: CheckinKind, due_delta: timedelta = timedelta(0)) -> Checkin:
        return Checkin(team_id="T001", pair_id=pair.id, kind=kind, due_at=NOW + due_delta)

    flush_in_savepoint(db_session, checkin(CheckinKind.ASKER))
    with pytest.raises(IntegrityError):
        flush_in_savepoint(db_session, checkin(CheckinKind.ASKER))
    flush_in_savepoint(
        db_session, checkin(CheckinKind.BUMP), checkin(CheckinKind.ASKER, timedelta(days=7))
    )


def _feedback(pair: Pair, person: Person, role: FeedbackRole, rating: int | None) -> Feedback:
    return Feedback(team_id="T001", pair_id=pair.id, person_id=person.id, role=role, rating=rating)


@pytest.mark.parametrize("rating", [0, 6, -1])
def test_rating_outside_1_to_5_is_refused(db_session: Session, rating: int) -> None:
    asker, helper, ask = graph(db_session)
    pair = add_pair(db_session, ask, helper)
    with pytest.raises(IntegrityError):
        flush_in_savepoint(db_session, _feedback(pair, asker, FeedbackRole.ASKER, rating))


def test_ratings_1_to_5_and_none_are_accepted_once_per_role(db_session: Session) -> None:
    asker, helper, ask = graph(db_session)
    for n in range(1, 6):
        pair = add_pair(db_session, add_ask(db_session, asker), helper)
        flush_in_savepoint(db_session, _feedback(pair, asker, FeedbackRole.ASKER, n))
    pair = add_pair(db_session, ask, helper)
    flush_in_savepoint(
        db_session,
        _feedback(pair, asker, FeedbackRole.ASKER, None),
        _feedback(pair, helper, FeedbackRole.HELPER, 4),
    )
    with pytest.raises(IntegrityError):
        flush_in_savepoint(db_session, _feedback(pair, asker, FeedbackRole.ASKER, 5))


def test_helper_capacity_cannot_be_negative(db_session: Session) -> None:
    _, helper, _ = graph(db_session)
    with pytest.raises(IntegrityError):
        flush_in_savepoint(
            db_session, HelperProfile(person_id=helper.id, team_id="T001", capacity=-1)
        )


def test_foreign_keys_are_enforced(db_session: Session) -> None:
    """On SQLite too (PRAGMA foreign_keys=ON)."""
    with pytest.raises(IntegrityError):
        flush_in_savepoint(db_session, Person(team_id="T_MISSING", slack_user_id="U1"))
    _, helper, _ = graph(db_session)
    with pytest.raises(IntegrityError):
        flush_in_savepoint(
            db_session, Offer(team_id="T001", ask_id=999_999, helper_id=helper.id, rank=1, score=0)
        )


def test_deleting_an_ask_removes_its_offers_and_pair(db_session: Session) -> None:
    _, helper, ask = graph(db_session)
    db_session.add(Offer(team_id="T001", ask_id=ask.id, helper_id=helper.id, rank=1, score=1))
    add_pair(db_session, ask, helper)
    db_session.flush()
    db_session.expunge_all()
    db_session.execute(delete(Ask).where(Ask.id == ask.id))
    assert db_session.scalars(select(Offer)).all() == []
    assert db_session.scalars(select(Pair)).all() == []


def test_deleting_a_workspace_with_only_people_cascades(db_session: Session) -> None:
    add_workspace(db_session, "T009")
    add_person(db_session, "T009", "U1")
    db_session.expunge_all()
    db_session.execute(delete(Workspace).where(Workspace.team_id == "T009"))
    assert db_session.scalars(select(Person).where(Person.team_id == "T009")).all() == []
