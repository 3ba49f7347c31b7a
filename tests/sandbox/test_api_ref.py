"""The emulator's hard-coded method table agrees with Slack's API reference in ../shared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from peerbot.sandbox import METHODS
from tests.fixtures.shared import shared_path

pytestmark = pytest.mark.shared


def _reference() -> dict[str, dict[str, Any]]:
    root: Path = shared_path("slack", "api-ref", "methods")
    out: dict[str, dict[str, Any]] = {}
    for path in root.rglob("*.json"):
        rel = path.relative_to(root)
        if any(part.startswith("_") for part in rel.parts):
            continue  # _errors, _patches, _undocumented are not method definitions
        doc = json.loads(path.read_text(encoding="utf-8"))
        out[str(doc.get("name", path.stem))] = doc
    return out


def _required(doc: dict[str, Any]) -> set[str]:
    args = doc.get("args") or {}
    pairs: list[tuple[str, dict[str, Any]]] = (
        [(str(k), v) for k, v in args.items()]
        if isinstance(args, dict)
        else [(str(a.get("name")), a) for a in args]
    )
    return {name for name, spec in pairs if spec.get("required") and name != "token"}


@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, Any]]:
    """Method name → api-ref document."""
    return _reference()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_exists_and_is_current(method: str, reference: dict[str, dict[str, Any]]) -> None:
    assert method in reference, f"{method} is not in the API reference"
    assert reference[method].get("deprecated") is False


@pytest.mark.parametrize("method", sorted(METHODS))
def test_required_arguments_match(method: str, reference: dict[str, dict[str, Any]]) -> None:
    assert set(METHODS[method].required) == _required(reference[method])


@pytest.mark.parametrize("method", sorted(METHODS))
def test_missing_argument_errors_are_documented(
    method: str, reference: dict[str, dict[str, Any]]
) -> None:
    documented = set(reference[method].get("errors") or {}) | {"invalid_arguments"}
    for arg, error in METHODS[method].required.items():
        assert error in documented, f"{method}: {error} (missing {arg}) is not a documented error"
