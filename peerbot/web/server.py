"""A small WSGI application around Bolt, served by waitress (or any WSGI server, e.g. gunicorn).

Slack's requests are checked here before Bolt sees them: a body over the limit is refused with
413 unread, a request without a valid signature with 401, and a signed body that does not parse
with 400. Bolt reads and parses a body before it verifies the signature, so without this layer a
stranger could make it parse 200 MB, or a malformed body could end in a 500 and a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text
from sqlalchemy.engine import Engine

from peerbot.services.metrics import DeploymentCounts, MetricsService, StatusCounts
from peerbot.web.payloads import malformed

#: peerbot.store.db.NO_WRITE_LOCK (the web layer does not import the store): SQLite health probes
#: begin with a deferred BEGIN and never wait for the write lock.
_NO_WRITE_LOCK = "peerbot_no_write_lock"

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"

#: Largest request body accepted by default (Slack's payloads are a few kilobytes).
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class HttpLimits:
    """What the server allows a client: body size, open connections, idle seconds."""

    max_body_bytes: int = MAX_BODY_BYTES
    connection_limit: int = 500
    idle_timeout: int = 10

    @classmethod
    def from_settings(cls, settings: Any) -> HttpLimits:
        """``HTTP_MAX_BODY_BYTES``, ``HTTP_CONNECTION_LIMIT`` and ``HTTP_IDLE_TIMEOUT``."""
        return cls(
            settings.http_max_body_bytes,
            settings.http_connection_limit,
            settings.http_idle_timeout,
        )


class Refused(Exception):
    """A request answered before Bolt sees it: HTTP status and the one line to log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _plain(status: int, start_response: StartResponse, extra: list[tuple[str, str]] | None = None):
    phrase = HTTPStatus(status).phrase
    body = phrase.encode()
    start_response(
        f"{status} {phrase}",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *(extra or []),
        ],
    )
    return [body]


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
    """Routes Slack's requests to Bolt and answers health checks (and, with a token, metrics).

    ``signing_secret`` is checked here, before Bolt reads the body; ``metrics_token`` unset means
    ``/metrics`` answers 404 on this port, set means it asks for ``Authorization: Bearer``.
    """

    def __init__(
        self,
        bolt_app: App,
        engine: Engine,
        metrics: MetricsService | None = None,
        *,
        signing_secret: str,
        metrics_token: str | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._bolt = bolt_app
        self._slack = SlackRequestHandler(bolt_app, path=EVENTS_PATH)
        self._verifier = SignatureVerifier(signing_secret)
        self._secret = signing_secret.encode()
        self._engine = engine
        self._metrics = metrics or MetricsService(engine)
        self._metrics_token = metrics_token or None
        self._max_body = max_body_bytes

    def health(self) -> tuple[int, dict[str, str]]:
        """(HTTP status, body): 200 when the database answers, 503 when it does not.

        The probe never takes SQLite's write lock, so a long write does not fail health checks.
        """
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**{_NO_WRITE_LOCK: True})
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # the probe must answer, whatever failed
            log.warning("health check: database unavailable: %s", exc)
            return 503, {"status": "unavailable", "database": "unreachable"}
        return 200, {"status": "ok", "database": "ok"}

    def metrics(self) -> str:
        """Prometheus text: outbox messages by status and asks, offers, pairs by status."""
        return prometheus_text(self._metrics.counts())

    def metrics_allowed(self, authorization: str) -> bool:
        """True when a metrics token is configured and ``authorization`` carries it."""
        if self._metrics_token is None:
            return False
        expected = f"Bearer {self._metrics_token}".encode()
        return hmac.compare_digest(authorization.encode("latin-1", "replace"), expected)

    def _signed_bytes(self, body: bytes, timestamp: str, signature: str) -> bool:
        """Slack's signature check over raw bytes (SignatureVerifier wants UTF-8 text)."""
        try:
            if abs(time.time() - int(timestamp)) > 5 * 60:
                return False
        except ValueError:
            return False
        base = b"v0:" + timestamp.encode("latin-1") + b":" + body
        expected = "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), signature.encode("latin-1", "replace"))

    def read_slack_request(self, environ: WSGIEnvironment) -> BoltRequest:
        """Read, verify and parse one request from Slack; :class:`Refused` when it is not one.

        The body is read only up to the limit (413 past it), the signature is checked on the raw
        body before anything parses it (401), and a signed body that does not parse is a 400.
        """
        raw_length = environ.get("CONTENT_LENGTH") or ""
        stream = environ.get("wsgi.input")
        if raw_length:
            try:
                length = int(raw_length)
            except ValueError:
                raise Refused(400, "Content-Length is not a number") from None
            if length < 0:
                raise Refused(400, "Content-Length is negative")
            if length > self._max_body:
                raise Refused(413, f"body of {length} bytes is over {self._max_body}")
            body = _read(stream, length)
        else:  # no length given (a server that passes chunked bodies through): read to the limit
            body = _read(stream, self._max_body + 1)
            if len(body) > self._max_body:
                raise Refused(413, f"body is over {self._max_body} bytes")
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE")
        if not timestamp or not signature:
            raise Refused(401, "no Slack signature")
        try:
            decoded = body.decode("utf-8")
        except UnicodeDecodeError:  # Slack signs UTF-8; only a valid signature makes this a 400
            status = 400 if self._signed_bytes(body, timestamp, signature) else 401
            raise Refused(status, "body is not UTF-8") from None
        try:
            valid = self._verifier.is_valid(decoded, timestamp, signature)
        except (TypeError, ValueError):  # a timestamp that is not a number, a non-ASCII signature
            valid = False
        if not valid:
            raise Refused(401, "bad or expired Slack signature")
        http = WsgiHttpRequest(environ)
        try:
            request = BoltRequest(body=decoded, query=http.query_string, headers=http.get_headers())
        except Exception as exc:  # whatever Bolt's parser trips on, the body is malformed
            raise Refused(400, f"signed body does not parse ({type(exc).__name__})") from None
        if not isinstance(request.body, dict):
            raise Refused(400, "signed body is not an object")
        problem = malformed(request.body)
        if problem:
            raise Refused(400, f"signed body is malformed: {problem}")
        return request

    def slack(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """POST /slack/events: checked here, then dispatched to Bolt."""
        try:
            request = self.read_slack_request(environ)
        except Refused as refused:
            log.warning(
                "refused a request from %s with %d: %s",
                environ.get("REMOTE_ADDR", "?"),
                refused.status,
                refused.reason,
            )
            return _plain(refused.status, start_response)
        answer = self._bolt.dispatch(request)
        response = WsgiHttpResponse(answer.status, answer.headers, answer.body)
        start_response(response.status, response.get_headers())
        return response.get_body()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """WSGI entry point."""
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if path == EVENTS_PATH and method == "POST":
            return self.slack(environ, start_response)
        if path == METRICS_PATH and method == "GET":
            if self._metrics_token is None:
                return _plain(404, start_response)
            if not self.metrics_allowed(environ.get("HTTP_AUTHORIZATION", "")):
                log.warning("refused /metrics from %s: no token", environ.get("REMOTE_ADDR", "?"))
                return _plain(401, start_response, [("WWW-Authenticate", "Bearer")])
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


def _read(stream: Any, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``stream`` (fewer at its end)."""
    if stream is None or limit <= 0:
        return b""
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = stream.read(min(left, 64 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class HttpServer:
    """A waitress server in a background thread: used by tests, the sandbox and `peerbot serve`.

    ``limits`` bound what a client can hold: waitress refuses a body over the limit with 413
    while reading it (Content-Length or chunked), cuts a connection idle for ``idle_timeout``
    seconds (checked every second or two), and accepts at most ``connection_limit`` connections
    at once (polled with ``poll()``, so the limit may exceed 1024 descriptors).
    """

    def __init__(
        self,
        app: Callable[..., Any],
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 8,
        limits: HttpLimits | None = None,
    ) -> None:
        from waitress.server import create_server

        limits = limits or HttpLimits()
        self._server: Any = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            # waitress refuses bodies of max_request_body_size bytes or more: allow exactly the max
            max_request_body_size=limits.max_body_bytes + 1,
            connection_limit=limits.connection_limit,
            channel_timeout=limits.idle_timeout,
            cleanup_interval=max(1, min(2, limits.idle_timeout)),
            asyncore_use_poll=True,
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with port=0)."""
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:3000``."""
        return f"http://{self._server.effective_host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the background thread serves (after :meth:`start`, before :meth:`stop`)."""
        return self._thread is not None and self._thread.is_alive()

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
            try:
                server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
            except OSError:  # the trigger is already closed: the loop is ending by itself
                log.debug("waitress trigger already closed while stopping")
            self._thread.join(timeout=5)
        if self._thread is None or not self._thread.is_alive():
            wasyncore.close_all(server._map)
        server.task_dispatcher.shutdown()
