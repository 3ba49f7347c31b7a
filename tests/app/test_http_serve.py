"""`peerbot serve` as a process: it serves, and SIGTERM (or Ctrl-C) stops it cleanly with exit 0."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from peerbot.sandbox import SlackDriver, SlackEmulator
from tests.fixtures.db import DatabaseFactory

ROOT = Path(__file__).resolve().parents[2]
SECRET = "serve-test-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    """A Slack emulator on loopback for the served process to call."""
    emu = SlackEmulator(trigger_ttl=None).start()
    try:
        yield emu
    finally:
        emu.stop()


def _env(tmp_path: Path, emulator: SlackEmulator) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "SLACK_BOT_TOKEN": emulator.bot_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": emulator.api_url,
        "DATABASE_URL": f"sqlite:///{tmp_path}/peerbot.db",
        "SCHEDULER_ENABLED": "true",
    }


def _wait_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.communicate()[1]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("serve did not become healthy")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_cleanly_on_a_signal(
    tmp_path: Path, emulator: SlackEmulator, sig: signal.Signals, db_factory: DatabaseFactory
) -> None:
    # A copy of the session's migrated SQLite template (what `peerbot migrate` makes: the
    # command itself is tested in tests/app/test_cli.py), not one more process migrating.
    env = {**_env(tmp_path, emulator), "DATABASE_URL": db_factory.fresh("sqlite")}
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "peerbot.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
        # It serves Slack: a signed command opens the intake modal.
        user = emulator.add_user("alex", email="alex@example.com")
        driver = SlackDriver(url + "/slack/events", SECRET, emulator)
        assert driver.slash_command("/peerhelp", user, "").status == 200
        idle = socket.create_connection(("127.0.0.1", port))  # an open connection at shutdown
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
        idle.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert "Bad file descriptor" not in stderr
    assert "peerbot stopped" in stderr
