"""Layers point one way (DESIGN.md section 2), and the Slack emulator stays out of production.

The rules are checked on every module's imports, read from its syntax tree: top-level, inside
functions (lazy imports) and under ``if TYPE_CHECKING:`` alike, because a type-only import still
ties a layer to the one it names.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "peerbot"


@dataclass(frozen=True)
class Rule:
    """Modules under ``layer`` must not import anything under ``forbidden``.

    ``only`` (when given) turns the rule around: the layer may import nothing of ours but these.
    """

    layer: str
    forbidden: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None
    why: str = ""


RULES = (
    Rule("peerbot.domain", only=("peerbot.domain",), why="domain imports nothing of ours"),
    Rule(
        "peerbot.services",
        forbidden=(
            "peerbot.slack",
            "peerbot.web",
            "peerbot.app",
            "peerbot.cli",
            "peerbot.sandbox",
            "peerbot.scheduling",
        ),
        why="services are called by the surfaces, never the reverse",
    ),
    Rule(
        "peerbot.slack",
        forbidden=("peerbot.store", "peerbot.web", "peerbot.app", "peerbot.cli"),
        why="the Slack surface asks services; no SQL in slack/",
    ),
    Rule(
        "peerbot.web",
        forbidden=("peerbot.store", "peerbot.app", "peerbot.cli", "peerbot.slack"),
        why="the web layer asks services (e.g. services.metrics)",
    ),
    Rule(
        "peerbot.store",
        forbidden=("peerbot.services", "peerbot.slack", "peerbot.web", "peerbot.app"),
        why="the store is an adapter: it knows no use-case and no surface",
    ),
    Rule(
        "peerbot.scheduling",
        forbidden=("peerbot.app", "peerbot.cli", "peerbot.web", "peerbot.slack"),
        why="the tick needs no composition root: it is given a Tick of services",
    ),
    Rule(
        "peerbot.sandbox",
        only=("peerbot.sandbox",),
        why="the emulator is Slack's stand-in: slack_sdk only",
    ),
)

#: Who may import the emulator: itself, the `peerbot sandbox` command and its demo.
SANDBOX_IMPORTERS = ("peerbot.sandbox", "peerbot.cli", "peerbot.demo")

#: (importer, imported) pairs that break a rule today and are being fixed in another lane.
#: Format: ("peerbot.slack.x", "peerbot.store.y"),  # TODO(issue 9): being moved by <area>
KNOWN_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()


def module_name(path: Path) -> str:
    """``peerbot/slack/blocks.py`` → ``peerbot.slack.blocks`` (packages without ``__init__``)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every ``peerbot`` module ``source`` imports, wherever the import statement stands.

    ``from a.b import c`` counts as ``a.b``, and also as ``a.b.c`` when that is a module.
    """
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(
                f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}")
            )
    return {m for m in found if m == "peerbot" or m.startswith("peerbot.")}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(graph: dict[str, set[str]]) -> set[tuple[str, str, str]]:
    """(importer, imported, why) for every import that breaks a rule in ``graph``."""
    bad: set[tuple[str, str, str]] = set()
    for importer, imported in graph.items():
        for target in imported:
            if _under(target, "peerbot.sandbox") and not any(
                _under(importer, p) for p in SANDBOX_IMPORTERS
            ):
                bad.add((importer, target, "only cli/demo/benchmarks/tests use the emulator"))
            if target == "peerbot" or target.startswith("peerbot.__"):
                continue  # the package itself (__version__)
            for rule in RULES:
                if not _under(importer, rule.layer):
                    continue
                if rule.only is not None and not any(_under(target, p) for p in rule.only):
                    bad.add((importer, target, rule.why))
                if any(_under(target, p) for p in rule.forbidden):
                    bad.add((importer, target, rule.why))
    return bad


def import_graph() -> dict[str, set[str]]:
    """Every module of peerbot and the peerbot modules it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        graph[name] = imports_of(
            path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py"
        )
    return graph


def test_layers_point_one_way() -> None:
    found = violations(import_graph())
    unexpected = sorted(v for v in found if (v[0], v[1]) not in KNOWN_EXCEPTIONS)
    assert not unexpected, "imports against the layering:\n" + "\n".join(
        f"  {a} imports {b}: {why}" for a, b, why in unexpected
    )
    stale = KNOWN_EXCEPTIONS - {(a, b) for a, b, _ in found}
    assert not stale, f"fixed: remove from KNOWN_EXCEPTIONS: {sorted(stale)}"


def test_the_graph_sees_every_layer() -> None:
    """The walk found the modules the rules are about (a rule on nothing checks nothing)."""
    graph = import_graph()
    for rule in RULES:
        assert any(_under(m, rule.layer) for m in graph), rule.layer
    assert "peerbot.slack.profile_blocks" in graph["peerbot.app"] | {
        m for deps in graph.values() for m in deps
    }
    assert "peerbot.services.helpers" in graph["peerbot.slack.profile_blocks"]


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "peerbot.scheduling.jobs",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from peerbot.app import C\n",
            ("peerbot.scheduling.jobs", "peerbot.app"),
        ),
        (
            "peerbot.web.server",
            "def f():\n    from peerbot.store.models import Ask\n",
            ("peerbot.web.server", "peerbot.store.models"),
        ),
        (
            "peerbot.domain.asks",
            "from peerbot.services import asks\n",
            ("peerbot.domain.asks", "peerbot.services.asks"),
        ),
        (
            "peerbot.slack.listeners.asks",
            "from ...store import models\n",
            ("peerbot.slack.listeners.asks", "peerbot.store"),
        ),
        (
            "peerbot.services.asks",
            "import peerbot.sandbox.server\n",
            ("peerbot.services.asks", "peerbot.sandbox.server"),
        ),
        (
            "peerbot.app",
            "from peerbot import sandbox\n",
            ("peerbot.app", "peerbot.sandbox"),
        ),
    ],
)
def test_the_check_catches_an_upward_import(
    module: str, source: str, expected: tuple[str, str]
) -> None:
    """Each kind of import the rules forbid is reported (top-level, lazy, type-only, relative)."""
    found = {(a, b) for a, b, _ in violations({module: imports_of(source, module)})}
    assert expected in found


def test_allowed_imports_are_not_reported() -> None:
    graph = {
        "peerbot.slack.blocks": {"peerbot.services.helpers", "peerbot.domain.limits"},
        "peerbot.demo": {"peerbot.sandbox"},
        "peerbot.cli": {"peerbot.app", "peerbot.demo"},
        "peerbot.domain.asks": {"peerbot.domain.limits"},
        "peerbot.web.server": {"peerbot.services.metrics"},
    }
    assert violations(graph) == set()


#: The production path: the composition root, the CLI (with every subcommand's parser), the web
#: and Slack surfaces, the services and the tick.
PRODUCTION_IMPORTS = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    import peerbot.app, peerbot.web.server, peerbot.cli, peerbot.concurrency
    import peerbot.scheduling.jobs, peerbot.scheduling.scheduler, peerbot.scheduling.worker
    import peerbot.slack, peerbot.services, peerbot.domain, peerbot.store
    for pkg in (peerbot.slack, peerbot.services, peerbot.domain, peerbot.store):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            importlib.import_module(info.name)
    peerbot.cli.build_parser()
    loaded = sorted(m for m in sys.modules if m.startswith("peerbot.sandbox"))
    assert not loaded, loaded
    assert "peerbot.demo" not in sys.modules
    print("clean")
    """
)


def test_production_never_imports_the_emulator() -> None:
    """Importing the app, the CLI, the web server, the Slack surface and the services loads
    nothing of ``peerbot.sandbox`` (a fresh interpreter, so no test has imported it before)."""
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_IMPORTS],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_the_emulator_check_can_fail() -> None:
    """The same subprocess check reports it when something does load the emulator."""
    script = PRODUCTION_IMPORTS.replace("peerbot.cli.build_parser()", "import peerbot.demo")
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "peerbot.sandbox" in result.stderr
