# ruff: noqa: S608 - SQL built from constants and ids of this test, values bound
"""Matching at scale: the index load binds no parameter per helper or past ask.

The regression test for the first ask failing on PostgreSQL once helpers had more past asks
than the driver's 65,535 bind parameters (the load listed every id in ``IN (...)``): on
PostgreSQL with just over that many past asks. Both backends also count the parameters every
statement of the first ask binds: a statement binding one per past ask fails the test with a
few thousand rows already (SQLite runs that cheaper version only).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, event, func, select, text
from sqlalchemy.engine import Engine

from peerbot.domain.ports import Embedder
from peerbot.services.people import upsert_person
from peerbot.store.db import unit_of_work
from peerbot.store.models import Embedding, EmbeddingOwner, Offer, Person
from peerbot.store.types import UTCDateTime, vector_to_bytes
from tests.fixtures.app import Harness

#: More than psycopg's 65,535 bind parameters per statement (PostgreSQL).
PAST_ASKS = 65_600
#: SQLite: enough that a statement binding one parameter per past ask is caught by the count.
SQLITE_PAST_ASKS = 3_000
#: At most this many parameters in any one statement of the first ask.
MAX_PARAMETERS = 200


def _past_asks(engine: Engine) -> int:
    return PAST_ASKS if engine.dialect.name == "postgresql" else SQLITE_PAST_ASKS


def _numbers(engine: Engine) -> str:
    """A ``SELECT n`` of 1.._past_asks on either backend, computed by the server."""
    n = _past_asks(engine)
    if engine.dialect.name == "postgresql":
        return f"SELECT n FROM generate_series(1, {n}) AS g(n)"
    return (
        f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n}) "
        "SELECT n FROM g"
    )


class _ParameterCount:
    """The most parameters any one statement bound (per row, for executemany)."""

    def __init__(self) -> None:
        self.most = 0
        self.statement = ""

    def __call__(
        self,
        conn: object,
        cursor: object,
        statement: str,
        parameters: Any,
        context: object,
        executemany: bool,
    ) -> None:
        # executemany: a list of rows; but "insertmanyvalues" batches (an INSERT of several
        # rows in one statement) come as one row of all their values (flat, or by name)
        flat = isinstance(parameters, dict) or (
            bool(parameters) and not isinstance(parameters[0], tuple | list | dict)
        )
        rows = parameters if executemany and not flat else [parameters]
        for row in rows or ():
            n = len(row) if row is not None else 0
            if n > self.most:
                self.most, self.statement = n, statement[:200]


def _seed_past_asks(harness: Harness, engine: Engine, helpers: list[int], asker: int) -> None:
    """PAST_ASKS closed asks by ``asker``, each helped by one of ``helpers``, with vectors."""
    team = harness.team
    embedder = harness.container.embedder
    vec = vector_to_bytes(embedder.embed(["Planning a budget for next year's vendors."])[0])
    now = bindparam("now", harness.clock.now(), type_=UTCDateTime())
    numbers = _numbers(engine)
    n = len(helpers)
    with engine.begin() as conn:
        bump_once = engine.dialect.name == "postgresql" and conn.scalar(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        )
        if bump_once:
            # Bulk load as a restore would: the per-row change-number triggers (one update of
            # the same row per pair) are skipped, and the number is moved once below.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            text(
                "INSERT INTO asks (team_id, asker_id, challenge, urgency, anonymous, status, "
                "created_at, updated_at) "
                f"SELECT :team, :asker, 'Past ask ' || n, 'normal', false, 'closed', :now, :now "
                f"FROM ({numbers}) AS s"
            ).bindparams(now, team=team, asker=asker)
        )
        conn.execute(
            text(
                "INSERT INTO pairs (team_id, ask_id, helper_id, asker_id, status, cadence, "
                "missed_checkins, created_at) "
                "SELECT :team, a.id, CASE a.id % :n "
                + " ".join(f"WHEN {i} THEN {h}" for i, h in enumerate(helpers))
                + " END, :asker, 'closed', 'weekly', 0, :now FROM asks a "
                "WHERE a.asker_id = :asker AND a.status = 'closed'"
            ).bindparams(now, team=team, asker=asker, n=n)
        )
        conn.execute(
            text(
                "INSERT INTO embeddings (team_id, owner_kind, owner_id, model_name, dim, vector, "
                "created_at) "
                "SELECT :team, 'ask', a.id, :model, :dim, :vec, :now FROM asks a "
                "WHERE a.asker_id = :asker AND a.status = 'closed'"
            ).bindparams(
                now,
                team=team,
                asker=asker,
                model=embedder.model_name,
                dim=embedder.dimension,
                vec=vec,
            )
        )
        if bump_once:
            conn.execute(text("SET LOCAL session_replication_role = origin"))
            conn.execute(
                text(
                    "INSERT INTO matching_versions (team_id, version) VALUES (:team, 1) "
                    "ON CONFLICT (team_id) DO UPDATE SET version = matching_versions.version + 1"
                ).bindparams(team=team)
            )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))  # as autovacuum would after a bulk load


def test_first_ask_succeeds_with_more_past_asks_than_bind_parameters(
    harness: Harness, engine: Engine, real_embedder: Embedder
) -> None:
    harness.add_helper("bea", "Budgets, vendor contracts and planning for next year.")
    harness.add_helper("hal", "Hiring and onboarding engineers.")
    harness.add_helper("fay", "Giving feedback to senior people.")
    old_asker = harness.add_user("olive")
    with unit_of_work(harness.container.sessions) as s:
        asker_id = upsert_person(s, harness.team, old_asker, harness.clock.now()).id
        ids = list(
            s.scalars(
                select(Person.id)
                .where(Person.slack_user_id.in_(list(harness.users.values())))
                .where(Person.slack_user_id != old_asker)
                .order_by(Person.id)
            )
        )
    _seed_past_asks(harness, engine, ids, asker_id)
    with unit_of_work(harness.container.sessions) as s:
        past = s.scalar(select(func.count()).where(Embedding.owner_kind == EmbeddingOwner.ASK))
    assert past is not None and past >= _past_asks(engine)
    if engine.dialect.name == "postgresql":
        assert past > 65_535

    asker = harness.add_user("ann")
    count = _ParameterCount()
    event.listen(engine, "before_cursor_execute", count)
    try:
        r = harness.ask(asker, "How do I plan next year's budget with our vendors?")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert r.status == 200
    assert 0 < count.most <= MAX_PARAMETERS, (count.most, count.statement)
    with unit_of_work(harness.container.sessions) as s:
        offered = s.scalars(select(Offer.helper_id)).all()
        helper_users = dict(s.execute(select(Person.id, Person.slack_user_id)).all())
    assert len(offered) == 1, "the first ask was not offered to anyone"
    assert helper_users[offered[0]] in set(harness.users.values()) - {asker, old_asker}
    # The helper was told: an offer DM went out.
    offered_user = helper_users[offered[0]]
    assert harness.dms(offered_user), "no offer DM"
