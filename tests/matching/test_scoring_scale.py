"""Few candidates: a trivial difference in one signal must not outweigh a real one in another."""

from __future__ import annotations

import numpy as np

from peerbot.matching.scoring import RankerWeights, combine, standardise


def test_trivial_recency_difference_does_not_beat_a_clear_topical_match() -> None:
    ids = ["topical", "recent"]
    signals = {
        # 0.56 against 0.24 cosine: a clear difference in stated expertise.
        "semantic_expertise": np.array([0.56, 0.24]),
        # Helped 5 and 6 days ago: essentially the same activity.
        "recency": np.array([np.log(np.exp(-6 / 30)), np.log(np.exp(-5 / 30))]),
    }
    scored = combine(ids, signals, RankerWeights())
    assert [ids[i] for i in scored.order(None)] == ["topical", "recent"]


def test_min_scale_only_caps_small_spreads() -> None:
    wide = np.array([0.0, 1.0, 2.0, 3.0])
    assert np.allclose(standardise(wide, 0.5), standardise(wide, 0.0))  # sd 1.1 > 0.5
    narrow = np.array([0.0, 0.01])
    z = standardise(narrow, 0.5)
    assert z is not None
    assert np.abs(z).max() < 0.02
