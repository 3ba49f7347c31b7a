"""The `peerbot` command: run, serve, migrate and operations. Each subcommand has --help."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from peerbot import __version__
from peerbot.config import ConfigError, Settings, load_settings
from peerbot.logs import configure_logging

log = logging.getLogger("peerbot")

Handler = Callable[[argparse.Namespace, Settings], int]


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from peerbot.store.migrate import current_revision, upgrade
    from peerbot.store.db import create_engine_for

    upgrade(settings.database_url, args.revision)
    engine = create_engine_for(settings.database_url)
    try:
        print(f"database migrated to {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def _start(settings: Settings, *, http_mode: bool) -> Any:
    from peerbot.app import build_container, create_bolt_app

    settings.require(
        "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET" if http_mode else "SLACK_APP_TOKEN"
    )
    container = build_container(settings)
    return container, create_bolt_app(container, http_mode=http_mode)


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    _container, app = _start(settings, http_mode=False)
    log.info("peerbot %s starting in Socket Mode", __version__)
    SocketModeHandler(app, settings.secret("SLACK_APP_TOKEN")).start()
    return 0


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from peerbot.web.server import HttpServer, PeerbotWSGI

    container, app = _start(settings, http_mode=True)
    server = HttpServer(PeerbotWSGI(app, container.engine), args.host, args.port, args.threads)
    log.info("peerbot %s serving Slack at %s/slack/events", __version__, server.url)

    def _stop(signum: int, frame: object) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every peerbot command (also used to test the docs)."""
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
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser(
        "serve",
        help="serve Slack's HTTP requests (POST /slack/events, GET /healthz)",
        description="Serve peerbot over HTTP with waitress. Needs SLACK_BOT_TOKEN and "
        "SLACK_SIGNING_SECRET, and a migrated database. For several workers, run several "
        "processes behind a load balancer on PostgreSQL.",
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

    for extra in _extra_command_modules():
        extra(sub)
    return parser


def _extra_command_modules() -> list[Callable[[Any], None]]:
    """Subcommands that live beside the features they operate (eval, bench, jobs, sandbox)."""
    out: list[Callable[[Any], None]] = []
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `peerbot` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
