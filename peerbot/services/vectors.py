"""Storing vectors beside the name of the model that made them."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


def store_vector(
    session: Session,
    *,
    team_id: str,
    kind: EmbeddingOwner,
    owner_id: int,
    text: str,
    model_name: str,
    vector: Vector,
    now: datetime,
) -> None:
    """Store ``vector`` (made from ``text``) for the owner, replacing any stored by the same
    model: :func:`upsert_vector` with the vector at hand, in one ``INSERT .. ON CONFLICT DO
    UPDATE`` on PostgreSQL and SQLite (no read first)."""
    values = {
        "team_id": team_id,
        "owner_kind": kind,
        "owner_id": owner_id,
        "model_name": model_name,
        "dim": int(vector.shape[0]),
        "vector": vector_to_bytes(vector),
        "text_sha256": text_hash(text),
        "created_at": now,
    }
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        row = session.scalar(
            select(Embedding).where(
                Embedding.owner_kind == kind,
                Embedding.owner_id == owner_id,
                Embedding.model_name == model_name,
            )
        )
        if row is None:
            session.add(Embedding(**values))
        else:
            for column in ("dim", "vector", "text_sha256", "created_at"):
                setattr(row, column, values[column])
        session.flush()
        return
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(Embedding).values(**values)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["owner_kind", "owner_id", "model_name"],
            set_={
                "dim": stmt.excluded.dim,
                "vector": stmt.excluded.vector,
                "text_sha256": stmt.excluded.text_sha256,
                "created_at": stmt.excluded.created_at,
            },
        )
    )
