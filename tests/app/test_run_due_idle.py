"""`peerbot jobs run-due` with nothing due (the cron tick of a quiet minute) loads no model and
imports neither the embedding stack nor Bolt; its own run, after start-up, takes well under a
second."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Run in a fresh interpreter: the command, then what it imported and how long its parts took.
SCRIPT = """
import json, sys, time
started = time.perf_counter()
from peerbot.cli import main
import peerbot.app  # what the command imports when it runs: timed apart from the run
imported = time.perf_counter()
code = main(["jobs", "run-due", "--full"])  # the whole tick, not the idle probe
done = time.perf_counter()
heavy = sorted(
    m
    for m in ("torch", "sentence_transformers", "transformers", "slack_bolt", "alembic")
    if m in sys.modules
)
from peerbot.embeddings.sentence import _cache
print(json.dumps({"code": code, "heavy": heavy, "models": len(_cache),
                  "imports_s": imported - started, "run_s": done - imported}))
"""


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{tmp_path}/p.db",
        "SLACK_BOT_TOKEN": "xoxb-idle-tick",
        "SLACK_SIGNING_SECRET": "idle",
        # Nothing is due, so nothing is sent: a closed port proves no call is made.
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
    }
    return subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )


def test_run_due_with_nothing_due_loads_no_model_and_is_quick(tmp_path: Path) -> None:
    migrated = _run(tmp_path, "-m", "peerbot.cli", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    proc = _run(tmp_path, "-c", SCRIPT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("offers expired 0, check-ins 0, messages sent 0")
    out = json.loads(lines[-1])
    assert out["code"] == 0
    assert out["models"] == 0, "the embedding model was loaded"
    assert out["heavy"] == [], f"imported {out['heavy']}"
    # The tick itself (services built, every due query run, nothing found): under a second
    # on a loaded machine; Python's start-up and imports come on top (README).
    assert out["run_s"] < 1.0, out
