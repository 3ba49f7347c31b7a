"""HTTP mode under hostile traffic: body limits, signatures checked before parsing, idle
connections, the connection limit, health without SQLite's write lock, no SQL parameters in
errors."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from peerbot.sandbox.driver import sign
from peerbot.store.db import create_engine_for
from peerbot.web.server import MAX_BODY_BYTES, HttpLimits, HttpServer, PeerbotWSGI
from tests.fixtures.app import SIGNING_SECRET, Harness


def _addr(harness: Harness) -> tuple[str, int]:
    parts = urlsplit(harness.driver.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _raw(addr: tuple[str, int], request: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, answer what the server wrote until it closed (or the status line)."""
    with socket.create_connection(addr, timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the server may answer and close before reading
            sock.sendall(request)
        data = b""
        while b"\r\n" not in data:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data


def _post(
    addr: tuple[str, int], body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    req = urllib.request.Request(
        f"http://{addr[0]}:{addr[1]}/slack/events", data=body, headers=headers or {}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()


def _signed(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    ts = str(int(time.time()))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(SIGNING_SECRET, ts, body),
    }


def _status(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == [], [r.getMessage() for r in bad]


# --------------------------------------------------------------------------- body size


@pytest.mark.one_database  # the request is refused or answered before any database work
def test_a_body_over_the_limit_is_refused_before_it_is_sent(harness: Harness) -> None:
    """A 50 MB Content-Length gets 413 after the headers alone: nothing waits for the body."""
    head = (
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 52428800\r\n\r\n" + b"payload=" + b"a" * 1000
    )
    started = time.monotonic()
    answer = _raw(_addr(harness), head)
    assert _status(answer) == 413
    assert time.monotonic() - started < 2


@pytest.mark.one_database  # the request is refused or answered before any database work
def test_a_chunked_body_over_the_limit_is_refused(harness: Harness) -> None:
    chunk = b"a" * 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20))  # 1.25 MB
    request = (
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    assert _status(_raw(_addr(harness), request)) == 413


@pytest.mark.one_database  # the request is refused or answered before any database work
def test_a_signed_body_at_the_limit_is_read(harness: Harness) -> None:
    """Exactly the limit is allowed: the answer is about the content (400), not the size."""
    body = b"x=" + b"a" * (MAX_BODY_BYTES - 2)
    status, _ = _post(_addr(harness), body, _signed(body))
    assert status not in (413, 500)


class _Unreadable(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


def test_the_wsgi_layer_refuses_a_large_body_unread() -> None:
    """Behind another WSGI server (gunicorn), the app itself refuses by Content-Length."""
    wsgi = PeerbotWSGI(None, None, metrics=object(), signing_secret="s")  # type: ignore[arg-type]
    statuses: list[str] = []
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "CONTENT_LENGTH": str(MAX_BODY_BYTES + 1),
        "wsgi.input": _Unreadable(),
    }
    wsgi(environ, lambda status, headers: statuses.append(status))  # type: ignore[arg-type]
    assert statuses == ["413 Request Entity Too Large"]
    # Without a length, at most the limit + 1 bytes are read.
    stream = io.BytesIO(b"a" * (5 * MAX_BODY_BYTES))
    environ = {**environ, "CONTENT_LENGTH": "", "wsgi.input": stream}
    wsgi(environ, lambda status, headers: statuses.append(status))  # type: ignore[arg-type]
    assert statuses[-1] == "413 Request Entity Too Large"
    assert stream.tell() == MAX_BODY_BYTES + 1


# --------------------------------------------------------------------------- signatures first

MALFORMED: list[tuple[bytes, str]] = [
    (b"payload=not-json", "application/x-www-form-urlencoded"),
    (b"payload=%7B%22type%22%3A", "application/x-www-form-urlencoded"),
    (b"payload=[1,2]", "application/x-www-form-urlencoded"),
    (b"{not json", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'"just a string"', "application/json"),
    (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
    (b'{"enterprise": 5, "type": "event_callback"}', "application/json"),
    (b'{"team": [1], "user": 7, "type": "block_actions"}', "application/json"),
    # A NUL character (Slack never sends one; PostgreSQL cannot store one): found by the fuzzer.
    (
        b'{"type": "event_callback", "team_id": "T0PEERBOT", "event": {"type": "message"}, '
        b'"event_id": "Ev\\u0000x", "event_time": 1}',
        "application/json",
    ),
]


@pytest.mark.one_database  # the request is refused or answered before any database work
@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
def test_unsigned_malformed_bodies_get_401_and_one_line(
    harness: Harness, body: bytes, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    status, _ = _post(_addr(harness), body, {"Content-Type": content_type})
    assert status == 401
    refused = [r for r in caplog.records if "refused a request" in r.getMessage()]
    assert len(refused) == 1
    _no_tracebacks(caplog)


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
def test_signed_malformed_bodies_get_400_and_one_line(
    harness: Harness, body: bytes, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    headers = _signed(body, content_type)
    if body.startswith(b"\xff"):  # a signature over bytes that are not UTF-8
        import hashlib
        import hmac

        ts = headers["X-Slack-Request-Timestamp"]
        mac = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
        headers["X-Slack-Signature"] = "v0=" + mac.hexdigest()
    status, _ = _post(_addr(harness), body, headers)
    assert status == 400
    _no_tracebacks(caplog)


@pytest.mark.one_database  # the request is refused or answered before any database work
@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Request-Timestamp": "not-a-number", "X-Slack-Signature": "v0=abc"},
        {"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=abc"},
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=\u00e9"},
        {"X-Slack-Signature": "v0=abc"},
    ],
)
def test_odd_signature_headers_get_401(
    harness: Harness, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    body = urlencode({"command": "/peerhelp", "text": "hi"}).encode()
    raw = (
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: "
        b"application/x-www-form-urlencoded\r\nContent-Length: %d\r\n"
        % len(body)
        + b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers.items())
        + b"\r\n"
        + body
    )
    assert _status(_raw(_addr(harness), raw)) == 401
    _no_tracebacks(caplog)


# --------------------------------------------------------------------------- connections


def _health_seconds(addr: tuple[str, int], timeout: float = 5.0) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://{addr[0]}:{addr[1]}/healthz", timeout=timeout) as r:
        assert r.status == 200
    return time.monotonic() - started


@pytest.mark.one_database  # about the server's connections (the write lock: below, on both)
def test_health_answers_with_200_idle_connections_open(harness: Harness) -> None:
    addr = _addr(harness)
    idle: list[socket.socket] = []
    try:
        for _ in range(200):
            s = socket.create_connection(addr, timeout=5)
            s.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")  # half a request
            idle.append(s)
        time.sleep(0.3)
        assert _health_seconds(addr) < 1.0
    finally:
        for s in idle:
            s.close()


def _echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


@pytest.fixture
def tight_server() -> Iterator[HttpServer]:
    """A server with a 1-second idle timeout and room for 10 connections."""
    server = HttpServer(_echo_app, limits=HttpLimits(connection_limit=10, idle_timeout=1)).start()
    try:
        yield server
    finally:
        server.stop()


def test_idle_connections_are_cut(tight_server: HttpServer) -> None:
    with socket.create_connection(("127.0.0.1", tight_server.port), timeout=10) as s:
        s.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n")  # never finished
        started = time.monotonic()
        assert s.recv(100) == b""  # closed by the server
        assert time.monotonic() - started < 5


def test_the_connection_limit_is_honoured(tight_server: HttpServer) -> None:
    addr = ("127.0.0.1", tight_server.port)
    idle = [socket.create_connection(addr, timeout=5) for _ in range(12)]
    try:
        time.sleep(0.3)
        with pytest.raises(TimeoutError):  # queued until an idle one is cut
            urllib.request.urlopen(f"http://{addr[0]}:{addr[1]}/x", timeout=0.5)
    finally:
        for s in idle:
            s.close()
    # With the idle ones gone, it answers again.
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://{addr[0]}:{addr[1]}/x", timeout=1) as r:
                assert r.read() == b"ok"
                break
        except OSError:
            if time.monotonic() > deadline:
                raise


def test_idle_timeout_setting_is_at_most_15_seconds() -> None:
    from peerbot.config import ConfigError, load_settings

    settings = load_settings()
    assert settings.http_idle_timeout <= 15
    assert settings.http_max_body_bytes == MAX_BODY_BYTES
    with pytest.raises(ConfigError, match="HTTP_IDLE_TIMEOUT"):
        load_settings(http_idle_timeout=60)


# --------------------------------------------------------------------------- database


def test_health_takes_no_write_lock(harness: Harness, db_url: str, db_backend: str) -> None:
    """With another connection holding SQLite's write lock, /healthz still answers at once
    (BEGIN IMMEDIATE would wait the 5-second busy timeout and then answer 503)."""
    if db_backend != "sqlite":
        pytest.skip("the write lock is SQLite's")
    path = make_url(db_url).database
    assert path
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE alembic_version SET version_num = version_num")
        assert _health_seconds(_addr(harness), timeout=10) < 1.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_sql_parameters_never_appear_in_errors(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "my anonymous ask about my manager"
    engine: Engine = create_engine_for(db_url)
    try:
        caplog.set_level(logging.DEBUG, logger="sqlalchemy")
        with pytest.raises(DBAPIError) as exc, engine.begin() as conn:
            conn.execute(text("INSERT INTO no_such_table (challenge) VALUES (:c)"), {"c": secret})
        assert secret not in str(exc.value)
        assert "hidden" in str(exc.value).lower() or "parameters" not in str(exc.value)
        assert secret not in caplog.text
        assert json.dumps(secret) not in caplog.text
    finally:
        engine.dispose()
