"""Two first requests from one person at once both find nobody and insert: the second must read
the first one's row instead of failing (seen as an "unhandled error in a listener" in the fuzz
run on PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, func, select

from peerbot.services.people import upsert_person
from peerbot.store.db import session_factory, unit_of_work
from peerbot.store.models import Person
from tests.store.builders import NOW


def test_a_concurrent_first_insert_of_one_person_is_read_not_failed(
    engine: Engine, db_backend: str
) -> None:
    if db_backend != "postgresql":
        pytest.skip("SQLite takes the write lock first: the two cannot both insert")
    sessions = session_factory(engine)
    first_inserted = threading.Event()
    first_may_commit = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with unit_of_work(sessions) as s:
                upsert_person(s, "T001", "U1", NOW)
                first_inserted.set()
                first_may_commit.wait(10)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
            first_inserted.set()

    t = threading.Thread(target=first)
    t.start()
    assert first_inserted.wait(10)
    # The second's SELECT sees nobody (not committed yet); its INSERT waits on the first's row.
    threading.Timer(0.5, first_may_commit.set).start()
    with unit_of_work(sessions) as s:
        person = upsert_person(s, "T001", "U1", NOW)
        assert person.slack_user_id == "U1"
        person_id = person.id
    t.join(10)
    assert errors == []
    with unit_of_work(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 1
        assert s.scalar(select(Person.id)) == person_id
