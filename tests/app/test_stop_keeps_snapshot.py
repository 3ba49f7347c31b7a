"""A worker stopped while its index snapshot is being written lets the write finish."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from peerbot.app import build_container
from peerbot.clock import FrozenClock
from peerbot.config import Settings
from peerbot.embeddings.hashing import HashingEmbedder
from peerbot.sandbox import SlackEmulator
from peerbot.services.index_snapshot import Captured

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_close_waits_for_a_snapshot_being_written(
    engine: Engine, db_url: str, slack_emulator: SlackEmulator, tmp_path: Path
) -> None:
    settings = Settings(
        slack_bot_token=slack_emulator.bot_token,
        slack_signing_secret="secret",
        slack_api_url=slack_emulator.api_url,
        database_url=db_url,
        index_snapshot_dir=str(tmp_path / "index"),
    )
    container = build_container(
        settings, clock=FrozenClock(START), embedder=HashingEmbedder(), engine=engine
    )
    store = container.snapshots
    assert store is not None
    taken = threading.Event()
    done: list[str] = []

    def slow_take() -> Captured:  # a large index's capture and write: seconds
        taken.set()
        time.sleep(0.5)
        done.append("written")
        raise RuntimeError("nothing to write in this test")  # logged by the writer

    store.save_later("T1", slow_take)
    assert taken.wait(5)
    container.close()
    assert done == ["written"]  # close() returned only after the write had finished
