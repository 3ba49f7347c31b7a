"""`peerbot run` (Socket Mode) warms the matching index at start-up, as `peerbot serve` does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from peerbot.sandbox import SlackEmulator

ROOT = Path(__file__).resolve().parents[2]

#: `peerbot run` with Bolt's SocketModeHandler replaced by one that connects nowhere and
#: returns from start() at once (then the command stops as on Ctrl-C).
RUN = """
import sys
import slack_bolt.adapter.socket_mode as socket_mode

class Handler:
    def __init__(self, app, app_token):
        self.app_token = app_token
    def start(self):
        print("socket mode started with", self.app_token, file=sys.stderr, flush=True)

socket_mode.SocketModeHandler = Handler
from peerbot.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _peerbot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN, *args],
        cwd=tmp_path,  # no .env
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_run_builds_the_index_in_the_background_at_start_up(
    tmp_path: Path, slack_emulator: SlackEmulator
) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/p.db",
        "SLACK_BOT_TOKEN": slack_emulator.bot_token,
        "SLACK_APP_TOKEN": "xapp-1-test",
        "SLACK_API_URL": slack_emulator.api_url,
        "SCHEDULER_ENABLED": "false",
        "ADMIN_WEB_PORT": "0",
    }
    assert _peerbot(tmp_path, "migrate", **env).returncode == 0
    proc = _peerbot(tmp_path, "run", **env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "socket mode started with xapp-1-test" in proc.stderr
    assert "peerbot: matching index of 0 workspace(s) built in" in proc.stderr, proc.stderr[-2000:]
