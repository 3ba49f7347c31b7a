"""`peerbot sandbox` plays the whole journey offline and prints a readable transcript."""

from __future__ import annotations

import io

from peerbot.demo import run_demo
from peerbot.demo_data import demo_helpers
from peerbot.domain.ports import Embedder


def test_demo_workspace_has_30_varied_helpers() -> None:
    helpers = demo_helpers()
    assert len(helpers) >= 30
    assert len({h.expertise for h in helpers}) == len(helpers)
    assert len({h.tz for h in helpers}) >= 5


def test_sandbox_transcript(real_embedder: Embedder) -> None:
    out = io.StringIO()
    assert run_demo(out, embedder=real_embedder) == 0
    text = out.getvalue()
    steps = [
        "▶ Sam types: /peerhelp",
        "peerbot opens a dialog for Sam: “Ask a peer”",
        "[ Accept ]  [ Pass ]",
        "presses “Pass”",
        "You passed on this one",
        "presses “Accept”",
        "peerbot → group DM with",
        "clarifying questions",
        # The offer says "introduced" only once the group DM exists.
        "You accepted",
        # The simulated week (issue 13).
        ":pushpin: @Sam commits",
        "manage to meet",
        "presses “Yes, we met”",
        "You met: great!",
        "Time for a quick check-in",
        "answers the check-in: “Stuck”",
        "told us they are stuck",
        "closed this pairing",
        "says thank you for your help",
        "Done: Sam and a peer",
    ]
    positions = [text.find(s) for s in steps]
    assert all(p >= 0 for p in positions), [
        s for s, p in zip(steps, positions, strict=True) if p < 0
    ]
    assert positions == sorted(positions)  # in the order they happened
    assert "<@U" not in text  # mentions are shown as names
    # Two different helpers were offered the ask: the one who passed and the one who accepted.
    offered = [
        line
        for line in text.splitlines()
        if line.startswith("peerbot → DM with") and "Sam" not in line
    ]
    assert len(set(offered)) == 2
