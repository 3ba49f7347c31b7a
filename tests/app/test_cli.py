"""Every command has --help, and the README documents every command."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from peerbot.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def _subcommands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((*prefix, name))
                out.extend(_subcommands(sub, (*prefix, name)))
    return out


def peerbot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m peerbot.cli ARGS`` in a clean environment (no .env, no tokens)."""
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "peerbot.cli", *args],
        cwd=tmp_path,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


COMMANDS = _subcommands(build_parser())


def test_there_are_commands() -> None:
    assert ("run",) in COMMANDS
    assert ("serve",) in COMMANDS
    assert ("migrate",) in COMMANDS


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_help(words: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*words, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: peerbot " + " ".join(words))
    assert len(out.splitlines()) > 3


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_readme_documents_command(words: tuple[str, ...]) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"peerbot {' '.join(words)}" in readme


def test_run_without_tokens_says_what_to_set(tmp_path: Path) -> None:
    """The README's run command on a machine with no Slack tokens names the variable to set."""
    proc = peerbot(tmp_path, "run", DATABASE_URL=f"sqlite:///{tmp_path}/p.db")
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("peerbot: SLACK_BOT_TOKEN is not set")
    assert "OAuth & Permissions" in line


def test_serve_without_signing_secret_says_what_to_set(tmp_path: Path) -> None:
    proc = peerbot(
        tmp_path, "serve", SLACK_BOT_TOKEN="xoxb-1", DATABASE_URL=f"sqlite:///{tmp_path}/p.db"
    )
    assert proc.returncode == 2
    assert "SLACK_SIGNING_SECRET is not set" in proc.stderr


def test_run_on_an_unmigrated_database_says_what_to_run(tmp_path: Path) -> None:
    proc = peerbot(
        tmp_path,
        "run",
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_APP_TOKEN="xapp-1",
        DATABASE_URL=f"sqlite:///{tmp_path}/empty.db",
    )
    assert proc.returncode == 2
    assert "not migrated" in proc.stderr
    assert "run `peerbot migrate`" in proc.stderr


def test_migrate_then_version(tmp_path: Path) -> None:
    proc = peerbot(tmp_path, "migrate", DATABASE_URL=f"sqlite:///{tmp_path}/p.db")
    assert proc.returncode == 0, proc.stderr
    assert "database migrated to" in proc.stdout


def test_migrate_prints_one_line_at_the_default_log_level(tmp_path: Path) -> None:
    """No Alembic plugin or context lines: start-up output is short at INFO."""
    proc = peerbot(
        tmp_path, "migrate", DATABASE_URL=f"sqlite:///{tmp_path}/p.db", PYTHONPATH=str(ROOT)
    )
    assert proc.returncode == 0, proc.stderr
    assert "alembic" not in proc.stderr.lower(), proc.stderr
    assert proc.stdout.strip().splitlines() == [proc.stdout.strip()]


def test_the_first_command_without_tokens_says_so_in_one_line_and_runs_the_sandbox(
    tmp_path: Path,
) -> None:
    """What ``scripts/run`` runs, on a fresh machine with no Slack tokens: one line naming the
    variables and where to get them, then the offline sandbox, exit 0."""
    assert "run --sandbox-without-tokens" in (ROOT / "scripts" / "run").read_text()
    proc = peerbot(
        tmp_path,
        "run",
        "--sandbox-without-tokens",
        DATABASE_URL=f"sqlite:///{tmp_path}/p.db",
        PYTHONPATH=str(ROOT),
        TRANSFORMERS_OFFLINE="1",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith("peerbot: no Slack tokens (SLACK_BOT_TOKEN and SLACK_APP_TOKEN")
    assert "api.slack.com/apps" in first and "sandbox" in first
    assert "Loading weights" not in proc.stderr and "alembic" not in proc.stderr.lower()
    assert "peerbot sandbox: the real app" in proc.stdout
    assert "group DM" in proc.stdout
