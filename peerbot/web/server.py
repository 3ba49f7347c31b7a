"""A small WSGI application around Bolt, served by waitress (or any WSGI server, e.g. gunicorn)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text
from sqlalchemy.engine import Engine

from peerbot.services.metrics import DeploymentCounts, MetricsService, StatusCounts

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"


def prometheus_text(counts: DeploymentCounts) -> str:
    """The counts as Prometheus text exposition: one gauge per table, one sample per status."""
    gauges: tuple[tuple[str, StatusCounts, str], ...] = (
        (
            "peerbot_outbox_messages",
            counts.outbox,
            "Outbox messages by status (dead = dead letters).",
        ),
        ("peerbot_asks", counts.asks, "Asks by status (unmet = supply gap)."),
        ("peerbot_offers", counts.offers, "Offers by status."),
        ("peerbot_pairs", counts.pairs, "Pairs by status."),
    )
    lines: list[str] = []
    for name, by_status, help_text in gauges:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(f'{name}{{status="{status}"}} {n}' for status, n in by_status.items())
    name = "peerbot_workspaces_sending_paused"
    lines.append(
        f"# HELP {name} Workspaces where Slack refuses the app's token, by Slack's error "
        "(nothing is sent there until it is fixed)."
    )
    lines.append(f"# TYPE {name} gauge")
    lines.extend(f'{name}{{reason="{r}"}} {n}' for r, n in counts.paused_workspaces.items())
    return "\n".join(lines) + "\n"


class PeerbotWSGI:
    """Routes Slack's requests to Bolt and answers health checks."""

    def __init__(
        self, bolt_app: App, engine: Engine, metrics: MetricsService | None = None
    ) -> None:
        self._slack = SlackRequestHandler(bolt_app, path=EVENTS_PATH)
        self._engine = engine
        self._metrics = metrics or MetricsService(engine)

    def health(self) -> tuple[int, dict[str, str]]:
        """(HTTP status, body): 200 when the database answers, 503 when it does not."""
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # the probe must answer, whatever failed
            log.warning("health check: database unavailable: %s", exc)
            return 503, {"status": "unavailable", "database": "unreachable"}
        return 200, {"status": "ok", "database": "ok"}

    def metrics(self) -> str:
        """Prometheus text: outbox messages by status and asks, offers, pairs by status."""
        return prometheus_text(self._metrics.counts())

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """WSGI entry point."""
        path = environ.get("PATH_INFO", "")
        if path == METRICS_PATH and environ.get("REQUEST_METHOD") == "GET":
            text = self.metrics().encode()
            start_response(
                "200 OK",
                [
                    ("Content-Type", "text/plain; version=0.0.4"),
                    ("Content-Length", str(len(text))),
                ],
            )
            return [text]
        if path == HEALTH_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            status, body = self.health()
            payload = json.dumps(body).encode()
            reason = "OK" if status == 200 else "Service Unavailable"
            start_response(
                f"{status} {reason}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        return self._slack(environ, start_response)


class HttpServer:
    """A waitress server in a background thread: used by tests, the sandbox and `peerbot serve`."""

    def __init__(
        self,
        app: Callable[..., Any],
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 8,
    ) -> None:
        from waitress.server import create_server

        self._server: Any = create_server(app, host=host, port=port, threads=threads)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with port=0)."""
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:3000``."""
        return f"http://{self._server.effective_host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop`."""
        self._server.run()

    def start(self) -> HttpServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="peerbot-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: close every socket from inside the server's own loop, then its workers.

        Closing from another thread races the loop (``Bad file descriptor``); the trigger runs the
        close in the loop thread, after which the loop finds nothing left and returns.
        """
        from waitress import wasyncore

        server = self._server
        if self._thread is not None and self._thread.is_alive():
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
            self._thread.join(timeout=5)
        else:
            wasyncore.close_all(server._map)
        server.task_dispatcher.shutdown()
