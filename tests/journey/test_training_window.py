"""Training the learned ranker is bounded (issue 11): at 10,000 helpers the whole history took
over ten minutes of the tick. A training replays only the latest labelled asks against a
bounded set of helpers: every helper those asks name, then a deterministic sample."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from peerbot.matching import HelperRecord
from peerbot.matching.learned import HelpEvent
from peerbot.services.learning import training_window

START = datetime(2026, 1, 1, tzinfo=UTC)


def _events(n: int) -> list[HelpEvent]:
    vec = np.ones(4, np.float32) / 2
    # Shuffled in time: the window must pick by time, not by position.
    order = np.random.default_rng(3).permutation(n)
    return [
        HelpEvent(
            ask_id=str(i),
            text=f"ask {i}",
            vector=vec,
            at=START + timedelta(hours=int(i)),
            helpers=(f"H{i % 50}",),
            declined=(f"H{(i + 1) % 50 + 50}",),
        )
        for i in order
    ]


def _helpers(n: int) -> list[HelperRecord]:
    return [HelperRecord(f"H{i}", None, f"helper {i}") for i in range(n)]


def test_the_window_keeps_the_latest_asks_in_time_order() -> None:
    events, helpers = training_window(_events(1000), _helpers(20), max_asks=30, history=100)
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert {int(e.ask_id) for e in events} == set(range(900, 1000))
    assert len(helpers) == 20  # under the cap: all of them


def test_the_helpers_are_capped_and_keep_everyone_the_featurised_asks_name() -> None:
    helpers = _helpers(5000)
    events, kept = training_window(_events(1000), helpers, max_asks=40, max_helpers=300, seed="T1")
    ids = [r.helper_id for r in kept]
    assert len(ids) == 300 and len(set(ids)) == 300
    named = {h for e in events[-40:] for h in (*e.helpers, *e.declined)}
    assert named <= set(ids)
    # The sample of the others is deterministic per workspace and differs between them.
    again = training_window(_events(1000), helpers, max_asks=40, max_helpers=300, seed="T1")[1]
    other = training_window(_events(1000), helpers, max_asks=40, max_helpers=300, seed="T2")[1]
    assert [r.helper_id for r in again] == ids
    assert [r.helper_id for r in other] != ids
