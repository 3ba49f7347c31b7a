"""Few candidates: a trivial difference in one signal must not outweigh a real one in another."""

from __future__ import annotations

import math

import numpy as np
import pytest

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


@pytest.mark.parametrize(
    "values",
    [
        [1.0, 2.0, 4.0, 8.0],
        [np.nan, 2.0, 4.0, np.nan, 3.0],
        [np.nan, np.nan],
        [5.0, 5.0, 5.0],
        [1.0, np.inf, 2.0],
        [],
    ],
)
def test_standardise_is_numpys_z_score_with_unknowns_at_the_lowest(values: list[float]) -> None:
    """The z-score as numpy's ``mean``/``std`` give it, ``NaN`` taking the lowest known value,
    ``None`` when nothing is known or nothing varies (whichever path computes it)."""
    v = np.asarray(values, dtype=np.float64)
    known = ~np.isnan(v)
    with np.errstate(invalid="ignore"):
        filled = np.where(known, v, v[known].min()) if known.any() else v
        sd = float(filled.std()) if known.any() else math.nan
        want = None if not (math.isfinite(sd) and sd >= 1e-12) else (filled - filled.mean()) / sd
        got = standardise(v)
    if want is None:
        assert got is None
    else:
        assert got is not None
        assert np.array_equal(got, want)
