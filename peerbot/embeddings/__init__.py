"""Embedding adapters: the real sentence-transformers model and a deterministic stand-in."""

from peerbot.embeddings.hashing import HashingEmbedder
from peerbot.embeddings.sentence import (
    DEFAULT_MODEL_NAME,
    SentenceTransformerEmbedder,
    load_embedder,
    resolve_model_path,
)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "HashingEmbedder",
    "SentenceTransformerEmbedder",
    "load_embedder",
    "resolve_model_path",
]
