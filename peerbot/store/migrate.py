"""Schema migrations (Alembic) driven from Python: upgrade, inspect, refuse to run unmigrated.

The migration scripts live in ``<project root>/migrations``; ``alembic.ini`` at the top level
points there too, so the ``alembic`` command and these functions see the same history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from peerbot.config import project_root
from peerbot.store.db import create_engine_for, safe_url
from peerbot.store.installations import SLACK_METADATA
from peerbot.store.models import Base

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where it is used: the commands that only check the schema
# (:func:`ensure_migrated`, e.g. the cron tick `peerbot jobs run-due`) do without its half second.


class SchemaNotReadyError(RuntimeError):
    """The database is not at the schema revision this code needs."""


def migrations_dir() -> Path:
    """The directory holding ``env.py`` and ``versions/``."""
    return project_root() / "migrations"


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic :class:`~alembic.config.Config` for peerbot's migrations.

    Reads the top-level ``alembic.ini`` when present; ``script_location`` is always the project's
    ``migrations`` directory. ``url`` (optional) becomes ``sqlalchemy.url``.
    """
    from alembic.config import Config

    ini = project_root() / "alembic.ini"
    cfg = Config(str(ini)) if ini.is_file() else Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if url is not None:
        text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", text.replace("%", "%%"))
    return cfg


def _run(target: str | URL | Engine, fn: Any, *args: Any) -> None:
    """Run an Alembic command inside one transaction on ``target``.

    On SQLite, foreign keys are off while it runs: a migration that rebuilds a table (batch mode
    copies it, drops the old one and renames the copy) would otherwise cascade the drop into the
    rows that refer to it. The keys are checked before the transaction commits.
    """
    engine = target if isinstance(target, Engine) else create_engine_for(target)
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:  # outside any transaction, where SQLite honours it
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            try:
                with connection.begin():
                    cfg = alembic_config()
                    cfg.attributes["connection"] = connection
                    fn(cfg, *args)
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
            finally:
                if sqlite:
                    connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    finally:
        if engine is not target:
            engine.dispose()


def upgrade(url: str | URL | Engine, revision: str = "head") -> None:
    """Upgrade the database at ``url`` (or an engine) to ``revision`` (default: the head)."""
    from alembic import command

    _run(url, command.upgrade, revision)


def downgrade(url: str | URL | Engine, revision: str = "base") -> None:
    """Downgrade the database at ``url`` (or an engine) to ``revision`` (default: empty)."""
    from alembic import command

    _run(url, command.downgrade, revision)


def stamp(url: str | URL | Engine, revision: str = "head") -> None:
    """Record ``revision`` as current without running migrations (after ``create_all``)."""
    from alembic import command

    _run(url, command.stamp, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision in ``migrations/versions``: what this code needs."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {migrations_dir() / 'versions'}")
    return head


def not_ready_message(url: str | URL, current: str | None, head: str) -> str:
    """The explanation given when the schema is behind (or ahead of) the code."""
    return (
        f"The database at {safe_url(url)} is not migrated "
        f"(at {current or 'empty'}, code needs {head}): run `peerbot migrate`."
    )


_REVISION = re.compile(r"^revision(?:\s*:[^=]*)?=\s*[\"']([^\"']+)[\"']", re.M)
_DOWN = re.compile(r"^down_revision(?:\s*:[^=]*)?=(.*)$", re.M)


def _quick_head() -> str | None:
    """The head revision read from the migration files' ``revision``/``down_revision`` lines
    (no Alembic import, no module executed), or None when they do not name exactly one."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (migrations_dir() / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        rev, down = _REVISION.search(source), _DOWN.search(source)
        if rev is None or down is None:
            return None
        revisions.add(rev.group(1))
        parents.update(re.findall(r"[\"']([^\"']+)[\"']", down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _quick_current(engine: Engine) -> str | None:
    """The single revision in ``alembic_version``, or None (no table, none or several)."""
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except Exception:  # no table yet: Alembic's own check below says so properly
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def ensure_migrated(engine: Engine) -> None:
    """Raise :class:`SchemaNotReadyError` unless the database is at the head revision.

    The usual case (at the head) is confirmed from the migration files' text and one query;
    anything else is decided by Alembic itself."""
    quick = _quick_current(engine)
    if quick is not None and quick == _quick_head():
        return
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        raise SchemaNotReadyError(not_ready_message(engine.url, current, head))


def _flatten(diffs: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for diff in diffs:
        if isinstance(diff, list):
            out.extend(diff)
        else:
            out.append(diff)
    return out


def check_drift(url: str | URL | Engine) -> list[str]:
    """Differences between the models and the migrated schema; ``[]`` means they agree.

    Upgrades the database at ``url`` to the head first, so point it at a throwaway (an empty
    database is fine). Each difference is one readable line, as Alembic's autogenerate sees it.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = url if isinstance(url, Engine) else create_engine_for(url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            # peerbot's models and slack_sdk's installation tables (migration 0011)
            diffs = compare_metadata(context, [Base.metadata, SLACK_METADATA])  # type: ignore[arg-type]
    finally:
        if engine is not url:
            engine.dispose()
    return [repr(diff) for diff in _flatten(diffs)]
