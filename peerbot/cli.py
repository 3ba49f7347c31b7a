"""The `peerbot` command: run, serve, migrate and operations. Each subcommand has --help."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peerbot import __version__
from peerbot.config_error import ConfigError
from peerbot.domain.wording import counted

if TYPE_CHECKING:
    from slack_bolt import App

    from peerbot.app import Container
    from peerbot.config import Settings
    from peerbot.scheduling.scheduler import TickScheduler
    from peerbot.services.matching import StartUp

log = logging.getLogger("peerbot")

Handler = Callable[[argparse.Namespace, "Settings"], int]


def _require_token(settings: Settings) -> None:
    """A bot token, unless OAuth is on (then each workspace's own comes from its install)."""
    if not settings.oauth_enabled:
        settings.require("SLACK_BOT_TOKEN")


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from peerbot.store.db import create_engine_for
    from peerbot.store.migrate import current_revision, upgrade

    upgrade(settings.database_url, args.revision)
    engine = create_engine_for(settings.database_url)
    try:
        print(f"database migrated to {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def _start(
    settings: Settings,
    *,
    http_mode: bool,
    before_model: Callable[[Container], None] | None = None,
) -> tuple[Container, App, TickScheduler | None]:
    """Build the container and the Bolt app; start the outbox worker and, unless
    ``SCHEDULER_ENABLED=false`` (cron runs `peerbot jobs run-due`), the one-a-minute tick.

    ``before_model`` is called with the container before the embedding model is loaded (the
    model is then loaded here, before anything is served): `peerbot serve` starts building the
    matching index there, which needs the model's name and dimension but not the model.

    Returns ``(container, bolt_app, scheduler or None)``; :func:`_stop` takes the container and
    the scheduler."""
    from peerbot.app import build_container, create_bolt_app
    from peerbot.scheduling.scheduler import build_scheduler

    if settings.oauth_enabled:  # installs per workspace (HTTP only: Slack's Marketplace rule)
        if not http_mode:
            raise ConfigError(
                "SLACK_CLIENT_ID is set: OAuth installs need HTTP mode, run `peerbot serve` "
                "(or unset SLACK_CLIENT_ID to use SLACK_BOT_TOKEN with Socket Mode)."
            )
        settings.require("SLACK_SIGNING_SECRET")
    else:
        settings.require(
            "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET" if http_mode else "SLACK_APP_TOKEN"
        )
    if before_model is None:
        container = build_container(settings)
    else:
        from peerbot.embeddings.sentence import LazyEmbedder

        container = build_container(settings, embedder=LazyEmbedder(settings.embedding_model_path))
        before_model(container)
        started = time.monotonic()
        container.asks.warm_model()  # loads the model; every ask needs it
        log.info("embedding model loaded in %.1f s", time.monotonic() - started)
    import gc

    # What start-up loaded (the model, every module: half a million objects) lives as long as
    # the process: freeze it, so that neither the collector's full passes (a second or more
    # each, every thread paused) nor the one at exit (seconds) walk it again.
    gc.collect()
    gc.freeze()
    release_freed_memory()  # what loading the model freed
    container.worker.start()
    scheduler: TickScheduler | None = None
    if settings.scheduler_enabled:
        scheduler = build_scheduler(
            container.tick, interval_seconds=settings.scheduler_interval_seconds
        ).start()
    else:
        log.info("scheduler off (SCHEDULER_ENABLED=false): run `peerbot jobs run-due` from cron")
    return container, create_bolt_app(container, http_mode=http_mode), scheduler


def _stop(container: Container, scheduler: TickScheduler | None = None) -> None:
    """Stop the tick and the outbox worker (letting a running pass finish), then disconnect."""
    if scheduler is not None:
        scheduler.stop()
    container.close()


def missing_tokens(settings: Settings, names: Sequence[str]) -> list[str]:
    """The settings among ``names`` that are not set (empty counts as not set)."""
    missing = []
    for name in names:
        try:
            settings.require(name)
        except ConfigError:
            missing.append(name)
    return missing


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from peerbot.programme_app import admin_parts, admin_web
    from peerbot.web.server import HttpServer

    if args.sandbox_without_tokens:
        missing = missing_tokens(settings, ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"))
        if missing:
            print(
                f"peerbot: no Slack tokens ({' and '.join(missing)} not set; create the app at "
                "api.slack.com/apps as README.md 'Create the Slack app' says and put them in "
                ".env): running the offline sandbox instead.",
                file=sys.stderr,
                flush=True,
            )
            return _cmd_sandbox(args, settings)
    warm = _IndexWarmUp()
    try:
        container, app, scheduler = _start(settings, http_mode=False, before_model=warm.begin)
    finally:
        warm.model_loaded()
    log.info("peerbot %s starting in Socket Mode", __version__)
    dashboard: HttpServer | None = None
    try:
        if settings.admin_web_port:
            web = admin_web(admin_parts(container, http_mode=False))
            dashboard = HttpServer(web, settings.admin_web_host, settings.admin_web_port).start()
            log.info("programme dashboard at %s/admin/", dashboard.url)
        SocketModeHandler(app, settings.secret("SLACK_APP_TOKEN")).start()
    except KeyboardInterrupt:
        pass
    finally:
        if dashboard is not None:
            dashboard.stop()
        warm.join()
        _stop(container, scheduler)
    return 0


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve HTTP until SIGTERM or SIGINT; then stop the server, the tick and the worker, exit 0.

    waitress runs in a background thread and the main thread only waits for the signal: closing
    waitress's sockets from a signal handler in its own loop thread ended in ``Bad file
    descriptor``; :meth:`HttpServer.stop` closes them from inside the loop instead.
    """
    from peerbot.web.server import HttpLimits, HttpServer, PeerbotWSGI

    warm = _IndexWarmUp()
    try:
        container, app, scheduler = _start(settings, http_mode=True, before_model=warm.begin)
    finally:
        warm.model_loaded()
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    limits = HttpLimits.from_settings(settings)
    wsgi = PeerbotWSGI(
        app,
        container.engine,
        signing_secret=settings.secret("SLACK_SIGNING_SECRET"),
        metrics_token=token,
        max_body_bytes=limits.max_body_bytes,
    )
    from peerbot.programme_app import admin_parts, admin_web
    from peerbot.web.admin import mount

    site = mount(wsgi, admin_web(admin_parts(container, http_mode=True)))
    stopping = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        log.info("peerbot stopping (%s)", signal.Signals(signum).name)
        stopping.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    server: HttpServer | None = None
    try:
        server = HttpServer(site, args.host, args.port, args.threads, limits).start()
        log.info("peerbot %s serving Slack at %s/slack/events", __version__, server.url)
        while not stopping.wait(0.5):
            if not server.running:
                log.error("the HTTP server stopped on its own; shutting down")
                return 1
    finally:
        if server is not None:
            server.stop()
        warm.join()
        _stop(container, scheduler)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("peerbot stopped")
    return 0


def _team(container: Any, requested: str | None) -> str:
    if requested:
        return requested
    if container.installations is not None:
        raise ConfigError("with OAuth (SLACK_CLIENT_ID) name the workspace: --team T...")
    answer = container.gateway.call("", "auth.test", {})
    return str(answer["team_id"])


def _cmd_helpers_import(args: argparse.Namespace, settings: Settings) -> int:
    from peerbot.app import build_container
    from peerbot.services.imports import HelperImporter

    _require_token(settings)
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"peerbot: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    container = build_container(settings)
    try:
        team = _team(container, args.team)
        importer = HelperImporter(
            container.sessions, container.clock, container.gateway, container.helpers
        )

        def progress(done: int, total: int) -> None:
            if done == total or done % 25 == 0:
                print(f"  {done}/{total} rows", file=sys.stderr)

        report = importer.run(team, text, progress)
    finally:
        container.close()
    print(
        f"imported {report.created_or_updated}, unchanged {report.unchanged}, "
        f"not imported {len(report.problems)} (of {counted(report.total, 'row')}); "
        f"invited {report.invited}, already helping {report.helping}, "
        f"declined {report.declined}, opted out {report.opted_out}"
    )
    for p in report.problems:
        print(f"  line {p.line} ({p.who}): {p.reason}")
    return 1 if report.problems else 0


#: How long a stopping `peerbot serve` waits for the start-up index build to finish.
WARM_JOIN_S = 60.0
#: How long `peerbot serve` waits for the first phase of the index warm-up (what the first
#: ask needs) before it loads the embedding model anyway.
FIRST_PHASE_WAIT_S = 120.0


class _IndexWarmUp:
    """The matching index's start-up (`run` and `serve`): :meth:`begin`, given to
    :func:`_start` as ``before_model``, starts it in the background, where it goes on while
    requests are served (an ask arriving before it is ready is saved, acknowledged and matched
    once it is). What the first ask needs (a snapshot loaded, or a provisional index, and the
    helpers' facts) is read before the model loads, and a full build waits for the model
    (:meth:`model_loaded`): all at once, each took several times longer (see ``StartUp``)."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._start_up: StartUp | None = None
        self._container: Container | None = None

    def begin(self, container: Container) -> None:
        """Start the warm-up; wait (at most :data:`FIRST_PHASE_WAIT_S`) for its first phase."""
        self._container = container
        self._start_up = container.asks.start_up()
        if self._start_up is not None:
            self._start_up.hold_builds()
        self._thread = threading.Thread(target=_warm, args=(container,), name="warm", daemon=True)
        self._thread.start()
        if self._start_up is not None:
            self._start_up.first_phase.wait(FIRST_PHASE_WAIT_S)

    def model_loaded(self) -> None:
        """The model is loaded (or its load failed): a full build may start."""
        if self._start_up is not None:
            self._start_up.model_loaded.set()

    def join(self) -> None:
        """Wait (at most :data:`WARM_JOIN_S`) for the warm-up: exiting while the model embeds
        in a thread aborts the process. A child process building the full index is
        terminated first (nothing to wait for: the next start builds again)."""
        if self._container is not None:
            self._container.asks.close()
        if self._thread is not None:
            self._thread.join(timeout=WARM_JOIN_S)


def _warm(container: Container) -> None:
    """Build the matching index (logged, never raised: asks build it on demand otherwise)."""
    started = time.monotonic()
    try:
        teams = container.asks.warm_index()
    except Exception:
        log.exception("could not build the matching index at start-up")
        return
    log.info("matching index of %d workspace(s) built in %.1f s", teams, time.monotonic() - started)
    release_freed_memory()


def release_freed_memory() -> None:
    """Hand the heap memory freed by the start-up build (the rows and records it was built
    from: about 100 MB at 10,000 helpers) back to the system: glibc keeps it otherwise, and the
    worker's RSS stays that much higher for its lifetime (the records are freed by reference
    counting: no collection here, which would pause every thread). Nothing on other C
    libraries."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return
    if trim is not None:
        trim(0)


@contextmanager
def _start_up_without_gc() -> Iterator[None]:
    """Importing and wiring allocate objects that live as long as the process (modules,
    classes, mappers): the cyclic collector's passes over them meanwhile are wasted (about a
    tenth of an idle `jobs run-due`'s CPU). Off for the block; then on again, with what
    exists by then frozen (later collections do not scan it)."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _cmd_jobs_run_due(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import datetime

    from peerbot.clock import FrozenClock

    _require_token(settings)
    clock = None
    if args.at:
        at = datetime.fromisoformat(args.at)
        if at.tzinfo is None:
            print(
                "peerbot: --at needs a time zone, e.g. 2026-11-23T09:00:00+00:00", file=sys.stderr
            )
            return 2
        clock = FrozenClock(at)
    with _start_up_without_gc():
        from peerbot.app import build_container
        from peerbot.embeddings.sentence import LazyEmbedder
        from peerbot.scheduling.jobs import run_due

        # The tick seldom embeds (an ask saved without its vector): load the model only then.
        embedder = LazyEmbedder(settings.embedding_model_path)
        container = build_container(settings, clock=clock, embedder=embedder)
    try:
        report = run_due(container.tick)
    finally:
        container.close()
    print(report.summary())
    return 0


def _cmd_privacy(args: argparse.Namespace, settings: Settings) -> int:
    from peerbot.app import build_container

    _require_token(settings)
    container = build_container(settings)
    try:
        privacy = container.privacy
        if args.privacy_command == "export":
            data = privacy.export_json(args.team, args.user)
            if args.out:
                args.out.write_text(data + "\n", encoding="utf-8")
                print(f"wrote {args.out}")
            else:
                print(data)
        elif args.privacy_command == "forget":
            report = privacy.forget(args.team, args.user)
            container.sender.drain()
            print(report.summary())
        else:
            counts = privacy.purge_workspace(args.team)
            total = sum(counts.values())
            print(f"workspace {args.team} purged: {counted(total, 'row')} deleted")
    finally:
        container.close()
    return 0


def _cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from peerbot.demo import run_demo

    return run_demo(sys.stdout)


#: Commands defined in this module (the others live beside their features).
_BUILT_IN = frozenset({"run", "serve", "migrate", "helpers", "jobs", "privacy", "sandbox"})


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser for every peerbot command (also used to test the docs); when
    ``argv`` names a command of this module, the feature commands are not imported (the cron
    tick, `peerbot jobs run-due`, starts faster)."""
    built_in_only = argv is not None and len(argv) > 0 and argv[0] in _BUILT_IN
    parser = argparse.ArgumentParser(
        prog="peerbot",
        description="peerbot: just-in-time peer help among managers, inside Slack.",
        epilog="Configuration comes from the environment and .env; see README.md.",
    )
    parser.add_argument("--version", action="version", version=f"peerbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "run",
        help="run peerbot in Socket Mode (one workspace, no public URL needed)",
        description="Connect to Slack over Socket Mode and handle requests until stopped. "
        "Needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN, and a migrated database.",
    )
    p.add_argument(
        "--sandbox-without-tokens",
        action="store_true",
        help="when the Slack tokens are not set, say so in one line and run the offline "
        "sandbox instead of stopping (what scripts/run does)",
    )
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser(
        "serve",
        help="serve Slack's HTTP requests (POST /slack/events, GET /healthz)",
        description="Serve peerbot over HTTP with waitress. Needs SLACK_BOT_TOKEN and "
        "SLACK_SIGNING_SECRET, and a migrated database. With SLACK_CLIENT_ID and "
        "SLACK_CLIENT_SECRET instead of SLACK_BOT_TOKEN it serves many workspaces: Add to Slack "
        "at GET /slack/install, Slack's redirect at GET /slack/oauth_redirect, each workspace "
        "with its own token. For several workers, run several processes behind a load "
        "balancer on PostgreSQL.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=3000, help="port to bind (default 3000)")
    p.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    p.set_defaults(handler=_cmd_serve)

    p = sub.add_parser(
        "migrate",
        help="create or upgrade the database schema",
        description="Apply the Alembic migrations to DATABASE_URL (default: ./peerbot.db).",
    )
    p.add_argument("--revision", default="head", help="target revision (default head)")
    p.set_defaults(handler=_cmd_migrate)

    p = sub.add_parser(
        "helpers",
        help="manage helper profiles (bulk import)",
        description="Operations on helper profiles for the people who run the programme.",
    )
    hsub = p.add_subparsers(dest="helpers_command", metavar="COMMAND", required=True)
    hp = hsub.add_parser(
        "import",
        help="import or update helpers from a CSV file",
        description="Invite or update helpers from CSV: each new person gets a DM asking "
        "whether they will help (nobody is offered an ask before yes); a re-import never "
        "overwrites what a helper chose. Columns: email or slack_user_id, "
        "expertise, topics (separated by ; or ,), years_managing, function, manager_email, "
        "capacity. Users are resolved with users.lookupByEmail. Running it twice changes "
        "nothing. Rows that cannot be imported are listed with the reason (exit status 1).",
    )
    hp.add_argument("file", type=Path, help="the CSV file (UTF-8, header row first)")
    hp.add_argument(
        "--team",
        help="workspace id (default: the bot token's workspace; required with OAuth)",
    )
    hp.set_defaults(handler=_cmd_helpers_import)

    p = sub.add_parser(
        "jobs",
        help="run scheduled work (for cron deployments and tests)",
        description="Scheduled work. `peerbot run` and `peerbot serve` already tick once a "
        "minute; use this from cron when they run with the scheduler off.",
    )
    jsub = p.add_subparsers(dest="jobs_command", metavar="COMMAND", required=True)
    jp = jsub.add_parser(
        "run-due",
        help="run one tick: expire offers, send due messages",
        description="Do everything that is due now (or at --at): match asks saved but not yet "
        "matched, expire unanswered offers and move their asks on, queue due check-ins, look "
        "again at people who could not be messaged, apply retention, then deliver due outbox "
        "messages. First a light check (one query, before the app is loaded) asks whether "
        "anything is due; when nothing is, it prints the all-zero summary and stops (well "
        "under a second). When anything is due, or it cannot tell, the full tick runs.",
    )
    jp.add_argument("--at", help="act as if it were this ISO-8601 instant (with offset)")
    jp.add_argument(
        "--full",
        action="store_true",
        help="skip the light check: always load the app and run the whole tick",
    )
    jp.set_defaults(handler=_cmd_jobs_run_due)

    p = sub.add_parser(
        "privacy",
        help="a person's data: export or delete it; purge a removed workspace",
        description="Privacy operations for the people who run the programme. Each is also "
        "available to the person themselves in Slack (/peerhelp privacy, App Home).",
    )
    psub = p.add_subparsers(dest="privacy_command", metavar="COMMAND", required=True)
    pp = psub.add_parser(
        "export",
        help="print (or write) every row about one person as JSON",
        description="Export, as JSON, every row peerbot holds about one person: profile, "
        "asks, offers they received, pairs (with what they could see of them), commitments, "
        "check-ins, feedback, embeddings (metadata) and messages sent to them. Nothing about "
        "anyone else.",
    )
    pp.add_argument("--team", required=True, help="workspace id (T...)")
    pp.add_argument("--user", required=True, help="Slack user id (U...)")
    pp.add_argument("--out", type=Path, help="write the JSON to this file instead of stdout")
    pp.set_defaults(handler=_cmd_privacy)
    pp = psub.add_parser(
        "forget",
        help="delete one person's data (idempotent)",
        description="Withdraw the person's open asks (pending offer messages are updated), "
        "close their pairs (the other person is told, without the reason), redact the text "
        "of their asks, profile, commitments, feedback, thanks and reflections, delete their "
        "embeddings and the messages naming them, and replace their Slack id. What stays "
        "(statuses, dates, ratings) is counted without their id. Running it again changes "
        "nothing.",
    )
    pp.add_argument("--team", required=True, help="workspace id (T...)")
    pp.add_argument("--user", required=True, help="Slack user id (U...)")
    pp.set_defaults(handler=_cmd_privacy)
    pp = psub.add_parser(
        "purge-workspace",
        help="delete every row of a workspace now",
        description="Delete everything peerbot holds about a workspace (done by the tick "
        "UNINSTALL_GRACE_DAYS after the app is uninstalled or its tokens revoked).",
    )
    pp.add_argument("--team", required=True, help="workspace id (T...)")
    pp.set_defaults(handler=_cmd_privacy)

    p = sub.add_parser(
        "sandbox",
        help="offline demo: the real app against a Slack emulator, printed as a transcript",
        description="Start a Slack emulator on loopback with a generated demo workspace "
        "(30+ helpers), run the real app against it in a temporary SQLite database, play ask, "
        "offer, pass, offer, accept and introduction, then a simulated week (a commitment, "
        '"did you meet?", a check-in answered "stuck" and the helper\'s nudge, the close-out '
        "with a rating and a thank-you), and print the conversation. Needs no "
        "Slack tokens and no network.",
    )
    p.set_defaults(handler=_cmd_sandbox)

    if built_in_only:  # a built-in command was named: the others' imports are not needed
        return parser
    for extra in _extra_command_modules():
        extra(sub)
    return parser


def _extra_command_modules() -> list[Callable[[Any], object]]:
    """Subcommands that live beside the features they operate (eval, bench)."""
    from peerbot import report_cli
    from peerbot.circles import cli as circles
    from peerbot.eval import bench, routing

    return [routing.add_cli, bench.add_cli, circles.add_cli, report_cli.add_cli]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `peerbot` console script."""
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is _cmd_jobs_run_due and not args.full:
        # The idle cron minute: answered before the app (or pydantic) is imported.
        from peerbot.scheduling.idle_probe import quiet_summary

        quiet = quiet_summary(args.at)
        if quiet is not None:
            print(quiet)
            return 0
    from peerbot.config import load_settings
    from peerbot.logs import configure_logging

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"peerbot: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except ConfigError as exc:
        print(f"peerbot: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from peerbot.store.migrate import SchemaNotReadyError

        if isinstance(exc, SchemaNotReadyError):
            print(f"peerbot: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
