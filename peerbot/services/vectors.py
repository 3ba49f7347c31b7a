"""Storing vectors beside the name of the model that made them."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from peerbot.domain.ports import Embedder, Vector
from peerbot.store.models import Embedding, EmbeddingOwner
from peerbot.store.types import vector_from_bytes, vector_to_bytes


def text_hash(text: str) -> str:
    """SHA-256 of ``text`` (to skip re-embedding unchanged text)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def upsert_vector(
    session: Session,
    *,
    team_id: str,
    kind: EmbeddingOwner,
    owner_id: int,
    text: str,
    embedder: Embedder,
    now: datetime,
    vector: Vector | None = None,
) -> Vector:
    """Embed ``text`` (unless unchanged since the stored vector) and store it for the owner."""
    digest = text_hash(text)
    row = session.scalar(
        select(Embedding).where(
            Embedding.owner_kind == kind,
            Embedding.owner_id == owner_id,
            Embedding.model_name == embedder.model_name,
        )
    )
    if row is not None and row.text_sha256 == digest and vector is None:
        return vector_from_bytes(row.vector, row.dim)
    vec = vector if vector is not None else embedder.embed([text])[0]
    if row is None:
        row = Embedding(
            team_id=team_id,
            owner_kind=kind,
            owner_id=owner_id,
            model_name=embedder.model_name,
            created_at=now,
        )
        session.add(row)
    row.dim = int(vec.shape[0])
    row.vector = vector_to_bytes(vec)
    row.text_sha256 = digest
    row.created_at = now
    session.flush()
    return vec
