"""Migrations: the real Alembic history on empty SQLite and PostgreSQL databases."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import MetaData, Table, inspect, select
from sqlalchemy.engine import make_url

from peerbot.config import project_root
from peerbot.domain.notices import decode, decode_audience
from peerbot.store import migrate
from peerbot.store.db import create_engine_for
from peerbot.store.installations import SLACK_METADATA
from peerbot.store.models import Base

ALL_TABLES = set(Base.metadata.tables)
#: slack_sdk's installation store and OAuth state store tables (migration 0011).
SLACK_TABLES = set(SLACK_METADATA.tables)
#: The newest migration.
HEAD = "0017"
#: The revision before HEAD.
PREVIOUS = "0016"


def _tables(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_schema_has_the_expected_tables() -> None:
    assert {
        "workspaces", "people", "helper_profiles", "helper_never_match", "asks", "offers",
        "pairs", "commitments", "checkins", "feedback", "outbox", "processed_slack_ids",
        "embeddings", "circle_pool", "circle_rounds", "circles", "circle_members",
        "circle_prompts", "circle_actions", "circle_feedback",
        "programme_settings", "programme_setting_changes", "admin_links",
        "admin_digests", "meeting_checks", "matching_versions", "ranker_models",
            "matching_changes", "index_erasures",
    } == ALL_TABLES  # fmt: skip


def test_upgrade_downgrade_upgrade(empty_db_url: str) -> None:
    engine = create_engine_for(empty_db_url)
    try:
        assert migrate.current_revision(engine) is None
        assert _tables(empty_db_url) == set()

        migrate.upgrade(empty_db_url)
        assert migrate.current_revision(engine) == migrate.head_revision() == HEAD
        assert _tables(empty_db_url) == ALL_TABLES | SLACK_TABLES | {"alembic_version"}

        migrate.downgrade(empty_db_url, "base")
        assert migrate.current_revision(engine) is None
        assert _tables(empty_db_url) - {"alembic_version"} == set()

        migrate.upgrade(empty_db_url)
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert _tables(empty_db_url) == ALL_TABLES | SLACK_TABLES | {"alembic_version"}
    finally:
        engine.dispose()


def test_0003_rewrites_old_outbox_payloads_as_notices_without_what_people_typed(
    empty_db_url: str,
) -> None:
    """Old payloads held copies of questions and thanks; after the upgrade none is left, the
    messages still to send carry ids, and one that cannot be expressed is retired."""
    secret = "My report cries in 1:1s"
    old = [
        ("offer:1:request", "chat.postMessage", "pending", {
            "user": "U1", "template": "offer_request", "on_fail": {"offer_id": 1},
            "data": {"offer_id": 1, "challenge": secret, "why": "x", "asker": None},
        }),
        ("pair:2:intro", "chat.postMessage", "sent", {
            "users": ["U1", "U2"], "template": "intro", "on_sent": {"pair_id": 2},
            "data": {"pair_id": 2, "challenge": secret, "helper": "U2", "asker": "U1"},
        }),
        ("offer:1:closed", "chat.update", "pending", {
            "ref": "offer:1:request", "template": "offer_closed",
            "data": {"offer_id": 1, "state": "passed"},
        }),
        ("commitment:2:v1", "chat.postMessage", "pending", {
            "users": ["U1", "U2"], "template": "commitment_added",
            "data": {"pair_id": 2, "text": "Talk to " + secret, "challenge": secret},
        }),
    ]  # fmt: skip
    engine = create_engine_for(empty_db_url)
    try:
        migrate.upgrade(empty_db_url, "0002")
        outbox = Table("outbox", MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            for key, method, status, payload in old:
                conn.execute(
                    outbox.insert().values(
                        team_id="T1", idempotency_key=key, kind="post", method=method,
                        payload=payload, status=status, attempts=0,
                        next_attempt_at=datetime(2026, 11, 30, tzinfo=UTC),
                        created_at=datetime(2026, 11, 30, tzinfo=UTC),
                    )
                )  # fmt: skip
        migrate.upgrade(empty_db_url)
        outbox = Table("outbox", MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            rows = {
                r.idempotency_key: r
                for r in conn.execute(select(outbox).order_by(outbox.c.id)).mappings()
            }
    finally:
        engine.dispose()
    assert secret not in str([dict(r) for r in rows.values()])
    assert rows["offer:1:request"]["payload"] == {
        "notice": {"kind": "offer_request", "offer_id": 1},
        "to": {"type": "person", "user_id": "U1"},
    }
    assert rows["pair:2:intro"]["payload"]["to"] == {"type": "group", "user_ids": ["U1", "U2"]}
    assert rows["pair:2:intro"]["status"] == "sent"
    assert rows["offer:1:closed"]["payload"]["notice"] == {
        "kind": "offer_closed", "offer_id": 1, "state": "passed"
    }  # fmt: skip
    assert rows["offer:1:closed"]["notice"] == "offer_closed"
    retired = rows["commitment:2:v1"]
    assert (retired["status"], retired["last_error"]) == ("dead", "retired_by_upgrade")
    # Every rewritten payload decodes as a notice and an audience.
    for key in ("offer:1:request", "pair:2:intro", "offer:1:closed"):
        decode(rows[key]["payload"]["notice"])
        decode_audience(rows[key]["payload"]["to"])


def test_0004_rebuilds_pairs_without_losing_the_rows_that_refer_to_them(
    empty_db_url: str,
) -> None:
    """SQLite rebuilds ``pairs`` to change its constraints; with foreign keys on, dropping the
    old table would cascade into check-ins and commitments."""
    engine = create_engine_for(empty_db_url)
    at = datetime(2026, 11, 30, tzinfo=UTC)
    try:
        migrate.upgrade(empty_db_url, "0003")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO workspaces (team_id, installed_at, settings) VALUES ('T1', ?, '{}')"
                if conn.dialect.name == "sqlite"
                else "INSERT INTO workspaces (team_id, installed_at, settings) "
                "VALUES ('T1', %s, '{}')",
                (at,),
            )
        meta = MetaData()
        people, asks, pairs, checkins = (
            Table(t, meta, autoload_with=engine) for t in ("people", "asks", "pairs", "checkins")
        )
        with engine.begin() as conn:
            for pid, uid in ((1, "U1"), (2, "U2")):
                conn.execute(people.insert().values(
                    id=pid, team_id="T1", slack_user_id=uid, deleted=False,
                    can_be_messaged=True, created_at=at, updated_at=at,
                ))  # fmt: skip
            conn.execute(asks.insert().values(
                id=1, team_id="T1", asker_id=1, challenge="c", urgency="normal",
                anonymous=False, status="paired", created_at=at, updated_at=at,
            ))  # fmt: skip
            conn.execute(pairs.insert().values(
                id=1, team_id="T1", ask_id=1, helper_id=2, asker_id=1, status="active",
                cadence="weekly", missed_checkins=0, created_at=at,
            ))  # fmt: skip
            conn.execute(checkins.insert().values(
                id=1, team_id="T1", pair_id=1, kind="asker", due_at=at, answer="none"
            ))  # fmt: skip
        migrate.upgrade(empty_db_url)
        with engine.connect() as conn:
            assert conn.execute(select(checkins.c.id)).scalars().all() == [1]
            assert conn.execute(select(pairs.c.status)).scalars().all() == ["active"]
    finally:
        engine.dispose()


def test_models_and_migrations_agree(empty_db_url: str) -> None:
    assert migrate.check_drift(empty_db_url) == []


def test_check_drift_notices_a_difference(empty_db_url: str) -> None:
    """The drift check is not vacuous: a table the models lack is reported."""
    migrate.upgrade(empty_db_url)
    engine = create_engine_for(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE stray (id INTEGER PRIMARY KEY)")
        diffs = migrate.check_drift(engine)
    finally:
        engine.dispose()
    assert len(diffs) == 1
    assert "remove_table" in diffs[0]
    assert "stray" in diffs[0]


def test_migrated_schema_has_the_same_constraint_names_as_the_models(
    empty_db_url: str, db_factory: object
) -> None:
    """Names (pk/fk/uq/ix/ck) from the migration equal those the naming convention gives."""
    from tests.fixtures.db import DatabaseFactory

    assert isinstance(db_factory, DatabaseFactory)
    backend = make_url(empty_db_url).get_backend_name()
    models_url = db_factory.fresh(backend, migrated=False)
    models_engine = create_engine_for(models_url)
    migrated_engine = create_engine_for(empty_db_url)
    try:
        Base.metadata.create_all(models_engine)
        migrate.upgrade(migrated_engine)
        assert _constraint_names(migrated_engine) == _constraint_names(models_engine)
        names = _constraint_names(migrated_engine)
        assert "uq_pairs_ask_id_live" in names["pairs"]
        assert "ck_feedback_rating_1_to_5" in names["feedback"]
        assert "ck_asks_status" in names["asks"]
        assert "ix_outbox_status_next_attempt_at" in names["outbox"]
    finally:
        models_engine.dispose()
        migrated_engine.dispose()
        db_factory.drop(models_url)


def _constraint_names(engine: object) -> dict[str, set[str]]:
    insp = inspect(engine)
    out: dict[str, set[str]] = {}
    for table in ALL_TABLES:
        names = {insp.get_pk_constraint(table)["name"]}
        names |= {fk["name"] for fk in insp.get_foreign_keys(table)}
        names |= {uq["name"] for uq in insp.get_unique_constraints(table)}
        names |= {ix["name"] for ix in insp.get_indexes(table)}
        names |= {ck["name"] for ck in insp.get_check_constraints(table)}
        out[table] = {n for n in names if n is not None}
    return out


def test_ensure_migrated_refuses_an_empty_database(empty_db_url: str, db_backend: str) -> None:
    url = make_url(empty_db_url)
    if db_backend == "postgresql":
        url = url.set(password="s3cret-pw")  # the test cluster trusts; the password is ignored
    engine = create_engine_for(url)
    try:
        with pytest.raises(migrate.SchemaNotReadyError) as info:
            migrate.ensure_migrated(engine)
    finally:
        engine.dispose()
    message = str(info.value)
    assert "run `peerbot migrate`" in message
    assert f"(at empty, code needs {HEAD})" in message
    assert "s3cret-pw" not in message
    assert (url.database or "") in message


def test_ensure_migrated_accepts_a_migrated_database(engine: object) -> None:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    migrate.ensure_migrated(engine)


def test_ensure_migrated_names_an_old_revision() -> None:
    msg = migrate.not_ready_message("postgresql://bot:pw@db/peerbot", "0000", "0001")
    assert msg == (
        "The database at postgresql+psycopg://bot:***@db/peerbot is not migrated "
        "(at 0000, code needs 0001): run `peerbot migrate`."
    )


def test_alembic_command_line_uses_the_settings_database_url(empty_db_url: str) -> None:
    """`alembic upgrade head` with no URL in alembic.ini takes DATABASE_URL from Settings."""
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": empty_db_url, "HOME": "/tmp"}
    res = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=project_root(),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    engine = create_engine_for(empty_db_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["sqlite:///offline.db", "postgresql://u@localhost/offline"])
def test_offline_sql_renders_for_both_dialects(url: str) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head", "--sql"],
        cwd=project_root(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "CREATE TABLE outbox" in res.stdout
    assert "CONSTRAINT ck_feedback_rating_1_to_5 CHECK" in res.stdout
    if url.startswith("postgresql"):
        assert "JSONB" in res.stdout
        assert "TIMESTAMP WITH TIME ZONE" in res.stdout


def test_quick_head_reads_the_same_head_as_alembic() -> None:
    """ensure_migrated's fast path (the migration files' text, no Alembic import) names the
    head Alembic finds."""
    assert migrate._quick_head() == migrate.head_revision() == HEAD


def test_ensure_migrated_refuses_a_database_one_revision_behind(empty_db_url: str) -> None:
    previous = PREVIOUS
    migrate.upgrade(empty_db_url, previous)
    engine = create_engine_for(empty_db_url)
    try:
        with pytest.raises(migrate.SchemaNotReadyError) as info:
            migrate.ensure_migrated(engine)
    finally:
        engine.dispose()
    assert f"(at {previous}, code needs {HEAD})" in str(info.value)
