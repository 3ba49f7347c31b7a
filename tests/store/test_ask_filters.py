"""The ask states of ``peerbot.domain.asks`` and their SQL in ``peerbot.store.ask_filters``
select the same asks, on both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from peerbot.domain.asks import still_waiting, waiting_for_helper
from peerbot.store.ask_filters import ask_still_waiting, ask_waiting_for_helper
from peerbot.store.models import Ask, AskStatus
from tests.store.builders import NOW, add_person, add_workspace


def test_the_sql_and_the_domain_predicates_agree_on_every_status_and_wait(
    db_session: Session,
) -> None:
    add_workspace(db_session)
    asker = add_person(db_session, "T001", "U1")
    waits = (None, NOW - timedelta(seconds=1), NOW, NOW + timedelta(seconds=1))
    for status in AskStatus:
        for until in waits:
            db_session.add(
                Ask(
                    team_id="T001",
                    asker_id=asker.id,
                    challenge="My team misses deadlines",
                    status=status,
                    waiting_until=until,
                    created_at=NOW,
                )
            )
    db_session.flush()
    asks = db_session.scalars(select(Ask)).all()
    assert len(asks) == len(AskStatus) * len(waits)
    for domain, sql in (
        (still_waiting, ask_still_waiting),
        (waiting_for_helper, ask_waiting_for_helper),
    ):
        selected = set(db_session.scalars(select(Ask.id).where(sql(NOW))))
        expected = {a.id for a in asks if domain(a.status, a.waiting_until, NOW)}
        assert selected == expected, domain.__name__
    # What the predicates say, spelled out once.
    still = {
        (a.status, a.waiting_until) for a in asks if still_waiting(a.status, a.waiting_until, NOW)
    }
    assert still == {(AskStatus.UNMET, NOW + timedelta(seconds=1))}
    looking = {a.status for a in asks if waiting_for_helper(a.status, None, NOW)}
    assert looking == {AskStatus.OPEN, AskStatus.MATCHING, AskStatus.OFFERED}
