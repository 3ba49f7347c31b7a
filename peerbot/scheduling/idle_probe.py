"""The idle probe: is anything due for the tick now? Answered before the app is imported.

`peerbot jobs run-due` runs from cron every minute, and most minutes nothing is due. Importing
the app (SQLAlchemy, pydantic, numpy, slack_sdk) alone takes longer than a second, so the
command first asks this module, which imports none of them: it reads the database URL as
:class:`peerbot.config.Settings` does, opens a plain DB-API connection (``sqlite3``, or
psycopg for PostgreSQL), checks the schema is the one its SQL was written for, and runs one
query with one column per condition of the tick's parts. When every column says "nothing", the
command prints the tick's all-zero summary and stops; otherwise it runs the full tick.

Each condition is a superset of what its tick part would act on (a false "due" only costs the
full tick; a missed one would leave work undone), and every doubt answers "don't know" (an
:class:`Unknown`), which also runs the full tick: an unsupported URL, a missing file, another
schema revision, a setting that does not parse, any database error.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from peerbot import config_env
from peerbot.domain import due_rules
from peerbot.domain.privacy import REDACTED, REMOVED_AT, SENT_OUTBOX_DAYS

#: The schema revision the SQL below was written for: a database at any other revision gets
#: the full tick (a test checks this is the migrations' head, so a new migration makes its
#: author review these conditions).
PROBE_SCHEMA = "0017"

#: ``Settings``' defaults of what the probe reads (a test checks them against ``Settings``).
DEFAULTS: dict[str, str] = {
    "database_url": "sqlite:///peerbot.db",
    "retention_days": "365",
    "uninstall_grace_days": "30",
    "circle_every_weeks": "4",
}

#: Every setting the probe reads (the defaults' and the Slack credentials' names).
READS = frozenset(DEFAULTS) | {"slack_bot_token", "slack_client_id", "slack_client_secret"}

#: The summary line of a tick that did nothing (``TickReport().summary()``, checked by a test).
QUIET_SUMMARY = "offers expired 0, check-ins 0, messages sent 0, retried 0, dead 0"

#: Ask statuses whose text retention redacts (``services.privacy.ENDED_ASKS``).
ENDED_ASKS = ("closed", "unmet", "cancelled")


class Unknown(Exception):
    """The probe cannot tell: the full tick runs. The message says why (for logs and tests)."""


# --------------------------------------------------------------------------- settings


def read_env(
    environ: Mapping[str, str] | None = None, env_file: str = config_env.ENV_FILE
) -> dict[str, str]:
    """The settings the probe reads, as ``Settings`` sees them, by lower-cased name
    (:func:`peerbot.config_env.read_env`); a setting set twice is :class:`Unknown`."""
    try:
        return config_env.read_env(READS, environ, env_file)
    except config_env.AmbiguousSetting as exc:
        raise Unknown(str(exc)) from None


def _setting(env: Mapping[str, str], name: str) -> str:
    return env.get(name, DEFAULTS[name])


def _int_setting(env: Mapping[str, str], name: str, low: int, high: int) -> int:
    try:
        value = int(_setting(env, name).strip())
    except ValueError:
        raise Unknown(f"{name.upper()} is not a whole number") from None
    if not low <= value <= high:
        raise Unknown(f"{name.upper()} is out of range")
    return value


def _has_token(env: Mapping[str, str]) -> bool:
    """A bot token, or both OAuth settings (else the full command says what is missing)."""
    return bool(env.get("slack_bot_token")) or (
        bool(env.get("slack_client_id")) and bool(env.get("slack_client_secret"))
    )


# --------------------------------------------------------------------------- connections


class Target(NamedTuple):
    """Where the database is: a SQLite file, or a PostgreSQL conninfo URI."""

    dialect: str
    where: str


_SQLITE = re.compile(r"^sqlite(\+pysqlite)?:///(?P<path>[^?#]+)$")
_POSTGRES = re.compile(r"^(postgresql|postgres)(\+psycopg)?://(?P<rest>.*)$")


def target_of(url: str) -> Target:
    """The database a URL names, for the forms the probe reads exactly as SQLAlchemy does
    (``sqlite:///file``, ``postgresql[+psycopg]://…``); anything else is :class:`Unknown`."""
    url = url.strip()
    m = _SQLITE.match(url)
    if m is not None:
        path = m.group("path")
        if path == ":memory:" or "%" in path or path.startswith("~"):
            raise Unknown("an in-memory, quoted or ~ SQLite path")
        return Target("sqlite", path)
    m = _POSTGRES.match(url)
    if m is not None:
        return Target("postgresql", "postgresql://" + m.group("rest"))
    raise Unknown("a database URL the probe does not read")


def _connect(target: Target) -> Any:
    if target.dialect == "sqlite":
        import sqlite3

        if not os.path.isfile(target.where):
            raise Unknown("no database file")
        conn = sqlite3.connect(target.where, isolation_level=None, timeout=5.0)
        conn.execute("BEGIN")  # deferred: one snapshot for both reads, no write lock
        return conn
    import psycopg

    pg = psycopg.connect(target.where, autocommit=False)
    pg.read_only = True
    return pg


def _param(target: Target, when: datetime) -> object:
    """A time as the column stores it: SQLite keeps naive UTC text (SQLAlchemy's format)."""
    if target.dialect == "sqlite":
        return when.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return when


def _sql(target: Target, sql: str) -> str:
    """``:name`` placeholders in the driver's style."""
    if target.dialect == "sqlite":
        return sql
    return re.sub(r":([a-z_]+)", r"%(\1)s", sql)


# --------------------------------------------------------------------------- the query

#: One column per condition, named by the tick part it stands for (see :data:`PARTS`). Each is
#: a superset of what its part selects; the comment names the method it mirrors.
_DUE_SQL = """
SELECT
  -- asks.match_stranded: asks saved but never matched (any age)
  EXISTS (SELECT 1 FROM asks WHERE status = 'matching') AS stranded_matching,
  -- asks.match_stranded: asks being offered to nobody (any age)
  EXISTS (SELECT 1 FROM asks a WHERE a.status = 'offered' AND NOT EXISTS (
      SELECT 1 FROM offers o WHERE o.ask_id = a.id AND o.status = 'pending'))
    AS stranded_offered,
  -- asks.expire_due: offers past their answer window
  EXISTS (SELECT 1 FROM offers WHERE status = 'pending' AND expires_at <= :now)
    AS offers_expired,
  -- asks.follow_waiting: every waiting ask (a fresh process re-ranks each one)
  EXISTS (SELECT 1 FROM asks WHERE status = 'unmet' AND waiting_until IS NOT NULL)
    AS asks_waiting,
  -- pairs.run_due: check-ins, "did you meet?", commitment reminders
  EXISTS (SELECT 1 FROM checkins WHERE sent_at IS NULL AND due_at <= :now) AS checkins,
  -- (a paused pairing's "did you meet?" is held: not due until it resumes)
  EXISTS (SELECT 1 FROM meeting_checks m WHERE m.sent_at IS NULL AND m.due_at <= :now
      AND NOT EXISTS (SELECT 1 FROM pairs p WHERE p.id = m.pair_id AND p.status = 'paused'))
    AS meeting_checks,
  EXISTS (SELECT 1 FROM commitments WHERE reminded_at IS NULL AND remind_at IS NOT NULL
      AND remind_at <= :now) AS commitment_reminders,
  -- deduper.forget_old
  EXISTS (SELECT 1 FROM processed_slack_ids WHERE processed_at < :slack_ids_cut)
    AS old_slack_ids,
  -- matching_feed.prune_feed (_due): a mark to move, or rows below the mark
  EXISTS (SELECT 1 FROM matching_versions mv WHERE mv.version - :keep_versions > mv.pruned_before
      OR EXISTS (SELECT 1 FROM matching_changes mc WHERE mc.team_id = mv.team_id
          AND mc.version < mv.pruned_before)) AS feed_prune,
  -- people.recheck_unreachable (due_for_recheck), paused workspaces included
  EXISTS (SELECT 1 FROM people WHERE NOT can_be_messaged AND last_dm_failure_at <= :recheck_cut)
    AS unreachable_recheck,
  -- retention.purge_removed: the removal times, judged below
  (SELECT {markers} FROM workspaces WHERE {marker} IS NOT NULL) AS removed_markers,
  -- retention.apply_retention: ended asks past the shortest retention (the partial index's
  -- condition inline, the status as an expression no index answers: as the service does)
  EXISTS (SELECT 1 FROM asks WHERE closed_at <= :retention_cut AND challenge != '{redacted}'
      AND status || '' IN ({ended})) AS retention_asks,
  EXISTS (SELECT 1 FROM circles c WHERE c.status = 'closed' AND c.closed_at <= :retention_cut
      AND (EXISTS (SELECT 1 FROM circle_members m WHERE m.circle_id = c.id
                   AND m.text != '{redacted}')
        OR EXISTS (SELECT 1 FROM circle_actions x WHERE x.circle_id = c.id
                   AND x.text != '{redacted}')
        OR EXISTS (SELECT 1 FROM circle_feedback f WHERE f.circle_id = c.id
                   AND f.note IS NOT NULL))) AS retention_circles,
  EXISTS (SELECT 1 FROM outbox WHERE status = 'sent' AND sent_at <= :outbox_cut)
    AS retention_outbox,
  -- circles.run_due (_teams_due): 4+ waiting, the shortest round interval passed
  EXISTS (SELECT 1 FROM (SELECT team_id, count(*) AS n, min(joined_at) AS first_joined
                         FROM circle_pool GROUP BY team_id) p
      WHERE p.n >= 4 AND COALESCE((SELECT max(r.formed_at) FROM circle_rounds r
                                   WHERE r.team_id = p.team_id), p.first_joined) <= :round_cut)
    AS circle_rounds,
  -- circles.run_due (_open_private_channels)
  EXISTS (SELECT 1 FROM circles WHERE "private" AND channel_id IS NULL AND status = 'active')
    AS circle_channels,
  -- circles.run_due: prompts, close-outs, pulses
  EXISTS (SELECT 1 FROM circles WHERE status = 'active' AND (next_prompt_at <= :now
      OR ends_at <= :now OR (pulse_at <= :now AND pulse_sent_at IS NULL))) AS circle_steps,
  -- digest.run_due: judged below (a time rule), when any workspace exists
  EXISTS (SELECT 1 FROM workspaces) AS any_workspace,
  -- ranker.refresh_due: a workspace with helpers never trained (or before migration 0014)
  -- that has enough labels, or one with enough new offers and pairs past its marks (upper
  -- bounds of labelled_since and positive_asks, each count stopping at what is enough)
  EXISTS (SELECT 1 FROM (SELECT DISTINCT team_id FROM helper_profiles) h
      LEFT JOIN ranker_models rm ON rm.team_id = h.team_id
      WHERE CASE WHEN rm.team_id IS NULL OR rm.last_offer_id IS NULL OR rm.last_pair_id IS NULL
        THEN (SELECT count(*) FROM (SELECT 1 FROM offers o WHERE o.team_id = h.team_id
                                    AND o.status = 'accepted' LIMIT :min_training) ol)
           + (SELECT count(*) FROM (SELECT 1 FROM pairs p WHERE p.team_id = h.team_id
                                    LIMIT :min_training) pl) >= :min_training
        ELSE (SELECT count(*) FROM (SELECT 1 FROM offers o WHERE o.id > rm.last_offer_id
                 AND {pk}o.team_id = h.team_id AND {pk}o.status = 'accepted' LIMIT :refresh_new) ol)
           + (SELECT count(*) FROM (SELECT 1 FROM pairs p WHERE p.id > rm.last_pair_id
                 AND {pk}p.team_id = h.team_id LIMIT :refresh_new) pl) >= :refresh_new
      END) AS ranker_refresh,
  -- sender.drain: pending messages due, and messages whose sender's claim lapsed
  EXISTS (SELECT 1 FROM outbox WHERE status = 'pending' AND next_attempt_at <= :now)
    AS outbox_due,
  EXISTS (SELECT 1 FROM outbox WHERE status = 'sending' AND claimed_until < :now)
    AS outbox_in_doubt
"""

#: The tick's parts (the fields of :class:`peerbot.scheduling.jobs.Tick`, and the functions
#: ``run_due`` calls on its engine) and the probe's conditions for each. A test fails when a
#: part is added to ``Tick`` without a condition here.
PARTS: dict[str, tuple[str, ...]] = {
    "asks": ("stranded_matching", "stranded_offered", "offers_expired", "asks_waiting"),
    "pairs": ("checkins", "meeting_checks", "commitment_reminders"),
    "deduper": ("old_slack_ids",),
    "engine": ("feed_prune",),  # prune_feed(tick.engine); the engine is also the tick lock's
    "people": ("unreachable_recheck",),
    "retention": ("removed_workspaces", "retention_asks", "retention_circles", "retention_outbox"),
    "circles": ("circle_rounds", "circle_channels", "circle_steps"),
    "digest": ("digest",),
    "ranker": ("ranker_refresh",),
    "sender": ("outbox_due", "outbox_in_doubt"),
}


class Cutoffs(NamedTuple):
    """The times and sizes the query compares with (from the settings and stored overrides)."""

    now: datetime
    retention_days: int
    grace: timedelta
    every_weeks: int

    def params(self, target: Target) -> dict[str, object]:
        """The query's parameters."""
        t = self.now
        return {
            "now": _param(target, t),
            "slack_ids_cut": _param(target, t - due_rules.KEEP_FOR),
            "keep_versions": due_rules.KEEP_VERSIONS,
            "recheck_cut": _param(target, t - due_rules.RECHECK_AFTER),
            "retention_cut": _param(target, t - timedelta(days=self.retention_days)),
            "outbox_cut": _param(target, t - timedelta(days=SENT_OUTBOX_DAYS)),
            "round_cut": _param(target, t - timedelta(weeks=self.every_weeks)),
            "min_training": due_rules.MIN_TRAINING_ASKS,
            "refresh_new": due_rules.REFRESH_NEW_ASKS,
        }


def _query(target: Target) -> str:
    if target.dialect == "sqlite":
        marker = f"json_extract(settings, '$.{REMOVED_AT}')"
        markers = f"group_concat({marker}, '|')"
    else:
        marker = f"(settings ->> '{REMOVED_AT}')"
        markers = f"string_agg({marker}, '|')"
    ended = ", ".join(f"'{s}'" for s in ENDED_ASKS)
    # Offers and pairs past a model's marks are read by primary-key range: on SQLite a unary
    # ``+`` keeps the planner off the workspace's index (every accepted offer of it).
    pk = "+" if target.dialect == "sqlite" else ""
    sql = _DUE_SQL.format(markers=markers, marker=marker, redacted=REDACTED, ended=ended, pk=pk)
    return _sql(target, sql)


def _stored_overrides(cur: Any, target: Target) -> dict[str, list[int]]:
    """Workspaces' programme settings that shorten what the query waits for."""
    cur.execute(
        "SELECT key, value FROM programme_settings "
        "WHERE key IN ('retention_days', 'circle_every_weeks')"
    )
    out: dict[str, list[int]] = {}
    for key, value in cur.fetchall():
        parsed = json.loads(value) if isinstance(value, str | bytes) else value
        out.setdefault(str(key), []).append(int(parsed))
    return out


def _removed_due(markers: str | None, now: datetime, grace: timedelta) -> bool:
    """``purge_removed``: a workspace removed at least the grace period ago."""
    for text in (markers or "").split("|"):
        if not text:
            continue
        try:
            removed = datetime.fromisoformat(text)
        except ValueError:
            return True  # what the service would do with it is not for the probe to guess
        if removed.tzinfo is None or removed + grace <= now:
            return True
    return False


def due_now(
    at: datetime | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: str = config_env.ENV_FILE,
) -> frozenset[str]:
    """The probe's conditions that hold now (or at ``at``): empty when the tick has nothing to
    do. Raises :class:`Unknown` when it cannot tell (then the full tick must run)."""
    env = read_env(environ, env_file)
    if not _has_token(env):
        raise Unknown("no Slack token: the full command says what to set")
    target = target_of(_setting(env, "database_url"))
    retention = _int_setting(env, "retention_days", 1, 3650)
    grace = timedelta(days=_int_setting(env, "uninstall_grace_days", 0, 365))
    every = _int_setting(env, "circle_every_weeks", 1, 52)
    now = at if at is not None else datetime.now(UTC)
    if now.tzinfo is None:
        raise Unknown("a time without a time zone")
    try:
        conn = _connect(target)
    except Unknown:
        raise
    except Exception as exc:
        raise Unknown(f"cannot connect: {type(exc).__name__}") from exc
    try:
        cur = conn.cursor()
        cur.execute("SELECT version_num FROM alembic_version")
        versions = [row[0] for row in cur.fetchall()]
        if versions != [PROBE_SCHEMA]:
            raise Unknown(f"schema at {versions}, the probe knows {PROBE_SCHEMA}")
        overrides = _stored_overrides(cur, target)
        cut = Cutoffs(
            now=now,
            retention_days=min([retention, *overrides.get("retention_days", [])]),
            grace=grace,
            every_weeks=min([every, *overrides.get("circle_every_weeks", [])]),
        )
        cur.execute(_query(target), cut.params(target))
        names = [d[0] for d in cur.description]
        row = dict(zip(names, cur.fetchone(), strict=True))
    except Unknown:
        raise
    except Exception as exc:
        raise Unknown(f"the query failed: {type(exc).__name__}: {exc}") from exc
    finally:
        try:
            if target.dialect == "postgresql":
                conn.rollback()
            else:
                conn.execute("ROLLBACK")
        finally:
            conn.close()
    due = {name for name, value in row.items() if name not in _JUDGED and value}
    if _removed_due(row["removed_markers"], now, grace):
        due.add("removed_workspaces")
    if row["any_workspace"] and due_rules.maybe_monday_morning_somewhere(now):
        due.add("digest")
    return frozenset(due)


#: Columns judged in Python rather than read as booleans.
_JUDGED = frozenset({"removed_markers", "any_workspace"})


def quiet_summary(at_text: str | None = None) -> str | None:
    """For `peerbot jobs run-due`: the summary line to print when nothing is due now (or at
    ``at_text``, ISO 8601 with an offset), or None when the full tick must run (something is
    due, or the probe cannot tell)."""
    try:
        at = datetime.fromisoformat(at_text) if at_text else None
        if at is not None and at.tzinfo is None:
            return None  # the full command explains the missing offset
        return QUIET_SUMMARY if not due_now(at) else None
    except Exception:  # any doubt: the full tick
        return None
