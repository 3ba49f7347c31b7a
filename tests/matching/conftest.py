"""Fixtures for matching tests: the real embedding model, loaded once per session."""

from __future__ import annotations

import pytest

from peerbot.domain.ports import Embedder


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    """all-MiniLM-L6-v2 from the installed package (offline), shared by the whole session."""
    from peerbot.embeddings import load_embedder

    return load_embedder()
