"""Embedding vectors: float32 little-endian bytes that come back bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from peerbot.store.models import Embedding, EmbeddingOwner
from peerbot.store.types import vector_from_bytes, vector_to_bytes
from tests.store.builders import flush_in_savepoint

MODEL = "sentence-transformers/all-MiniLM-L6-v2"

TRICKY = np.array(
    [0.1, -0.0, 1.0 / 3.0, 1e-45, -1e-40, 3.4028235e38, -2.5, np.pi, np.nextafter(1, 2)],
    dtype=np.float32,
)


def _embedding(vector: np.ndarray, owner_id: int = 1, model: str = MODEL) -> Embedding:
    return Embedding(
        team_id="T001",
        owner_kind=EmbeddingOwner.HELPER_EXPERTISE,
        owner_id=owner_id,
        model_name=model,
        dim=int(vector.shape[0]),
        vector=vector_to_bytes(vector),
    )


def test_vectors_round_trip_exactly(db_session: Session) -> None:
    rng = np.random.default_rng(7)
    random = rng.standard_normal(384).astype(np.float32)
    random /= np.linalg.norm(random)
    db_session.add_all([_embedding(TRICKY, 1), _embedding(random, 2)])
    db_session.flush()
    db_session.expire_all()

    rows = db_session.execute(select(Embedding.owner_id, Embedding.dim, Embedding.vector)).all()
    loaded = {owner_id: vector_from_bytes(blob, dim) for owner_id, dim, blob in rows}
    for owner_id, original in ((1, TRICKY), (2, random)):
        got = loaded[owner_id]
        assert got.dtype == np.float32
        assert got.tobytes() == original.tobytes()  # bit for bit, -0.0 and denormals included
        assert np.array_equal(got, original)


def test_bytes_are_little_endian_float32_whatever_the_input() -> None:
    values = np.array([1.5, -2.25, 1e-3], dtype=np.float64)
    expected = np.array(values, dtype="<f4").tobytes()
    assert vector_to_bytes(values) == expected
    assert vector_to_bytes(values.astype(">f4")) == expected
    assert vector_to_bytes([1.5, -2.25, 1e-3]) == expected
    assert expected[:4] == b"\x00\x00\xc0\x3f"  # 1.5 as float32, little-endian


def test_bad_vector_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="one-dimensional"):
        vector_to_bytes(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="multiple of 4"):
        vector_from_bytes(b"\x00\x00\x00")
    with pytest.raises(ValueError, match="expected 4"):
        vector_from_bytes(vector_to_bytes(np.zeros(3, dtype=np.float32)), 4)


def test_the_database_checks_dim_against_the_bytes(db_session: Session) -> None:
    bad = _embedding(TRICKY)
    bad.dim = TRICKY.shape[0] + 1
    with pytest.raises(IntegrityError):
        flush_in_savepoint(db_session, bad)


def test_one_vector_per_owner_and_model(db_session: Session) -> None:
    flush_in_savepoint(db_session, _embedding(TRICKY))
    with pytest.raises(IntegrityError):
        flush_in_savepoint(db_session, _embedding(TRICKY))
    # A new model is a re-index beside the old vectors, not a silent overwrite.
    flush_in_savepoint(db_session, _embedding(TRICKY, model="another-model"))
    names = db_session.scalars(select(Embedding.model_name).order_by(Embedding.model_name)).all()
    assert names == ["another-model", MODEL]
