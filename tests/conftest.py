"""Test-wide configuration. Fixtures live in tests/fixtures/ and are loaded as plugins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The model must never be fetched from a hub, in tests or anywhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest_plugins = [
    "tests.fixtures.shared",
    "tests.fixtures.db",
    "tests.fixtures.slack",
    "tests.fixtures.app",
]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root() -> Path:
    """The checkout's top level."""
    return ROOT
