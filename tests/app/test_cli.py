"""Every command has --help, and the README documents every command."""

from __future__ import annotations

import argparse
import ast
import re
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


def _parser_of(words: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for word in words:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's own options and arguments (not ``--help``, not the subcommand choice)."""
    return [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
    ]


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
    parser = _parser_of(words)
    assert parser.description, f"peerbot {' '.join(words)} --help prints no description"
    assert parser.description.split()[0] in out
    for action in _options(parser):
        assert action.help, f"peerbot {' '.join(words)}: {action.dest} is not explained"


def _readme_command_rows() -> dict[tuple[str, ...], str]:
    """README's Commands table: the command's words (up to the first option) -> its cell."""
    section = (ROOT / "README.md").read_text().split("\n## Commands\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows: dict[tuple[str, ...], str] = {}
    for cell in re.findall(r"^\| `(peerbot .*?)` \| ", section, re.M):
        words = tuple(w for w in cell.split()[1:] if re.fullmatch(r"[a-z][a-z-]*", w))
        rows[words] = cell
    return rows


def test_readme_lists_only_commands_and_options_that_exist() -> None:
    rows = _readme_command_rows()
    assert rows, "README's Commands table not found"
    for words, cell in rows.items():
        assert words in COMMANDS, f"README lists `{cell}`: no such command"
        known = {s for a in _options(_parser_of(words)) for s in a.option_strings}
        for option in re.findall(r"--[a-z][a-z-]*", cell):
            assert option in known, f"README: `peerbot {' '.join(words)}` has no {option}"
    leaves = {w for w in COMMANDS if not any(o[: len(w)] == w and o != w for o in COMMANDS)}
    assert leaves <= rows.keys(), f"not in README's Commands table: {leaves - rows.keys()}"


BENCHMARKS = sorted(
    p
    for p in (ROOT / "benchmarks").glob("*.py")
    if "__main__" in p.read_text()  # procstats.py is a library of the others
)


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_help_explains_every_option(script: Path, tmp_path: Path) -> None:
    """Each benchmark script answers --help with a description and every option explained."""
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            keywords = {k.arg for k in node.keywords}
            if node.func.attr == "add_argument":
                assert "help" in keywords, f"{script.name}:{node.lineno}: option not explained"
            if node.func.attr == "ArgumentParser":
                assert "description" in keywords, f"{script.name}:{node.lineno}"
    proc = subprocess.run(
        [sys.executable, str(script), "--help"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    usage, _, rest = proc.stdout.partition("\n\n")
    assert usage.startswith("usage: ") and rest.strip(), proc.stdout


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


@pytest.mark.parametrize("name", ["setup", "run"])
def test_script_help_describes_it_and_does_nothing_else(name: str, tmp_path: Path) -> None:
    """``scripts/setup --help`` (and ``scripts/run``, which runs setup first) print what the
    script does instead of installing anything. Run from a copy with no .venv and a Python that
    fails, so that a script ignoring --help fails here rather than installing."""
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / name
    script.write_text((ROOT / "scripts" / name).read_text())
    script.chmod(0o755)
    proc = subprocess.run(
        [str(script), "--help"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHON": "/bin/false"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Set up"), proc.stdout
    assert "--help prints this" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scripts"]


def test_helpers_import_says_what_it_does_once() -> None:
    """The description of `helpers import` says once that it reads a CSV file of helpers."""
    description = _parser_of(("helpers", "import")).description or ""
    assert description.count("from CSV") + description.count("from a CSV") == 1, description
    assert "Upsert" not in description
