"""The lazy embedder: a command that does not embed does not load the model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from peerbot.embeddings import sentence
from peerbot.embeddings.sentence import LazyEmbedder


def test_name_and_dimension_without_loading_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentence, "_cache", {})

    def refuse(*_: Any) -> Any:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(sentence, "load_embedder", refuse)
    lazy = LazyEmbedder()
    assert lazy.dimension == 384
    assert lazy.model_name == sentence.resolve_model_path(None)[1]
    assert not lazy.loaded


def test_embed_loads_the_model_once_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str | None] = []

    class Fake:
        dimension = 384

        def embed(self, texts: list[str]) -> Any:
            return np.ones((len(texts), 384), dtype=np.float32)

    def load(path: str | None = None) -> Fake:
        calls.append(path)
        return Fake()

    monkeypatch.setattr(sentence, "load_embedder", load)
    lazy = LazyEmbedder()
    assert calls == []
    assert lazy.embed(["a", "b"]).shape == (2, 384)
    assert calls == [None]
