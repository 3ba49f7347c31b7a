"""Messages say only what is true for their reader, and show only buttons the reader can use."""

from __future__ import annotations

from typing import Any

from peerbot.domain import notices as n
from peerbot.slack import follow_ids, ids
from peerbot.slack.render import render
from tests.app.test_render_worst_case import WorstFacts


def _text(message: dict[str, Any]) -> str:
    return " ".join(
        str(b.get("text", {}).get("text", "")) for b in message["blocks"] if b.get("text")
    )


def _actions(message: dict[str, Any]) -> list[str]:
    return [
        str(el.get("action_id"))
        for b in message["blocks"]
        for el in [*(b.get("elements") or []), b.get("accessory") or {}]
        if el.get("action_id")
    ]


def test_we_met_points_to_commitments_only_where_they_can_be_added() -> None:
    """After "Yes, we met": commitments are added by the asker, with the button in the same
    message; never "in your group DM" (the group DM has only Close), never to the helper, who
    cannot add any."""
    asker, helper = (
        render(n.MeetAnswered(1, 7, side, n.MeetAnswer.YES), WorstFacts())
        for side in (n.Side.ASKER, n.Side.HELPER)
    )
    assert "commitment" in _text(asker) and "group DM" not in _text(asker)
    assert _actions(asker) == [ids.PAIR_ADD_COMMITMENT, follow_ids.ANOTHER_PEER]
    assert "commitment" not in _text(helper)
    assert _actions(helper) == []


def test_the_intro_read_by_both_has_only_buttons_both_can_use() -> None:
    intro = render(n.Intro(pair_id=7), WorstFacts())
    assert _actions(intro) == [ids.PAIR_CLOSE]
