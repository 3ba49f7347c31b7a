"""The embedding adapter: offline, loaded once, unit float32, model name beside vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peerbot.domain.ports import Embedder
from peerbot.embeddings import (
    DEFAULT_MODEL_NAME,
    HashingEmbedder,
    load_embedder,
    resolve_model_path,
)
from peerbot.embeddings.sentence import ModelNotFoundError


def test_real_model_vectors(real_embedder: Embedder) -> None:
    assert real_embedder.model_name == DEFAULT_MODEL_NAME
    assert real_embedder.dimension == 384
    v = real_embedder.embed(["hard feedback", "giving difficult feedback", "database indexes"])
    assert v.dtype == np.float32
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] > sims[0, 2] + 0.2  # meaning, not just words
    assert real_embedder.embed([]).shape == (0, 384)


def test_loaded_once_per_process(real_embedder: Embedder) -> None:
    assert load_embedder() is real_embedder
    assert load_embedder(None) is load_embedder()


def test_local_model_directory(tmp_path: Path, real_embedder: Embedder) -> None:
    package_dir, _ = resolve_model_path(None)
    local = tmp_path / "my-model"
    local.symlink_to(package_dir, target_is_directory=True)
    path, name = resolve_model_path(str(local))
    assert name == "local:my-model" or name.startswith("local:")
    assert path.is_dir()


def test_missing_model_directory_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"models/README\.md"):
        resolve_model_path(str(tmp_path / "nope"))


def test_hashing_embedder_is_marked_as_not_the_real_model() -> None:
    e = HashingEmbedder()
    assert e.model_name != DEFAULT_MODEL_NAME
    v = e.embed(["a b c", ""])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0)


def test_one_text_on_one_thread_gives_the_batch_vector(real_embedder: Embedder) -> None:
    """A small input runs on one torch thread (``SMALL_BATCH``): the same vectors as in a batch,
    and the process's thread setting is back afterwards."""
    import torch

    from peerbot.embeddings.sentence import SMALL_BATCH

    texts = [f"How do I give hard feedback to a senior engineer? ({i})" for i in range(20)]
    assert len(texts) > SMALL_BATCH
    outer = torch.get_num_threads()
    torch.set_num_threads(2)  # more than one, whatever the test run set (tests/conftest.py)
    try:
        before = torch.get_num_threads()
        batch = real_embedder.embed(texts)
        for i in (0, 7, 19):
            alone = real_embedder.embed([texts[i]])
            assert np.allclose(alone[0], batch[i], atol=1e-4)
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(outer)
