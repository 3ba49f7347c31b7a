"""README's Configuration table and ``Settings`` agree: every setting has a row with its default,
and no row names a setting that is gone."""

from __future__ import annotations

import json
import re
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import yaml

from peerbot.config import Settings

ROOT = Path(__file__).resolve().parents[2]

#: Settings whose default the README describes in words, because it is computed at run time
#: (unset in ``Settings``) or refers to another file; each has its own check below or in the text.
DESCRIBED = {
    "EMBEDDING_MODEL_PATH": "the model in",
    "ADMIN_SECRET": "derived",
    "SLACK_OAUTH_AUTHORIZE_URL": "from `SLACK_API_URL`",
    "INDEX_SNAPSHOT_DIR": "$XDG_STATE_HOME",
    "XDG_STATE_HOME": "~/.local/state",
    "SLACK_SCOPES": "the manifest's bot scopes",
}


def readme_table(text: str) -> dict[str, tuple[str, str]]:
    """``{VARIABLE: (default cell, meaning cell)}`` from the table under ``## Configuration``;
    a row naming two variables (``A``, ``B`` with defaults ``x``, ``y``) gives one entry each."""
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 3, line
        names = re.findall(r"`([A-Z0-9_]+)`", cells[0])
        assert names, line
        if len(names) == 1:
            defaults = [cells[1]]
        else:
            defaults = [d.strip() for d in cells[1].split(", ")]
            if len(defaults) != len(names):  # one default cell for all, e.g. "— (off)"
                defaults = [cells[1]] * len(names)
        for name, default in zip(names, defaults, strict=True):
            assert name not in rows, f"{name} has two rows"
            rows[name] = (default, cells[2])
    return rows


def expected_literal(value: Any) -> str | None:
    """A default as the README writes it (``None`` for unset)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check(rows: dict[str, tuple[str, str]]) -> list[str]:
    """What is wrong between ``rows`` and ``Settings``, one sentence each."""
    problems: list[str] = []
    fields = {name.upper(): f for name, f in Settings.model_fields.items()}
    for name in sorted(fields.keys() - rows.keys()):
        problems.append(f"{name} is a setting without a row in README's Configuration table")
    for name in sorted(rows.keys() - fields.keys()):
        problems.append(f"{name} has a README row but is not a setting")
    for name in sorted(fields.keys() & rows.keys()):
        cell, meaning = rows[name]
        if not meaning:
            problems.append(f"{name}: no meaning in README")
        expected = expected_literal(fields[name].get_default(call_default_factory=True))
        if name in DESCRIBED:
            if DESCRIBED[name] not in cell:
                problems.append(f"{name}: README default {cell!r} lacks {DESCRIBED[name]!r}")
        elif expected is None:
            if not cell.startswith("—"):
                problems.append(f"{name}: unset by default, README says {cell!r}")
        elif cell != f"`{expected}`":
            problems.append(f"{name}: default {expected!r}, README says {cell!r}")
    return problems


@pytest.fixture(scope="module")
def rows() -> dict[str, tuple[str, str]]:
    return readme_table((ROOT / "README.md").read_text())


def test_readme_configuration_table_matches_settings(rows: dict[str, tuple[str, str]]) -> None:
    assert check(rows) == []


def test_the_check_fails_on_a_missing_row_a_stale_row_and_a_wrong_default(
    rows: dict[str, tuple[str, str]],
) -> None:
    """The comparison above can fail: a setting without a row, a row without a setting, a
    default changed in the code and not in the README."""
    missing = {k: v for k, v in rows.items() if k != "ASK_WAIT_DAYS"}
    assert check(missing) == [
        "ASK_WAIT_DAYS is a setting without a row in README's Configuration table"
    ]
    stale = {**rows, "GONE_SETTING": ("`1`", "was removed")}
    assert check(stale) == ["GONE_SETTING has a README row but is not a setting"]
    wrong = {**rows, "MAX_OFFERS_PER_ASK": ("`4`", rows["MAX_OFFERS_PER_ASK"][1])}
    assert check(wrong) == ["MAX_OFFERS_PER_ASK: default '3', README says '`4`'"]
    unset = {**rows, "METRICS_TOKEN": ("`x`", rows["METRICS_TOKEN"][1])}
    assert check(unset) == ["METRICS_TOKEN: unset by default, README says '`x`'"]


def test_default_oauth_scopes_are_the_manifests_bot_scopes() -> None:
    """README: ``SLACK_SCOPES`` defaults to the manifest's bot scopes."""
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    declared = manifest["oauth_config"]["scopes"]["bot"]
    default = Settings.model_fields["slack_scopes"].default.split(",")
    assert sorted(default) == sorted(declared)
    assert len(default) == len(set(default))
