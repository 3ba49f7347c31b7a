"""Messages say only what is true for their reader, and show only buttons the reader can use."""

from __future__ import annotations

import json
from typing import Any

from peerbot.domain import notices as n
from peerbot.services.helpers import HomeData, ProfileView
from peerbot.slack import follow_ids, ids
from peerbot.slack.profile_blocks import build_home
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


def _profile(**kw: Any) -> ProfileView:
    base: dict[str, Any] = {
        "opted_in": True,
        "expertise": "Coached first-time managers.",
        "topics": [],
        "years_managing": 5,
        "function": "",
        "capacity": 2,
        "paused_until": None,
        "never_match": [],
        "active_pairs": 0,
    }
    return ProfileView(**{**base, **kw})


def test_the_welcome_names_the_helper_button_the_person_actually_has() -> None:
    """A helper (e.g. invited, said yes) opening App Home for the first time is told to press
    the button that is there (Edit profile), not "Become a helper"; someone awaiting approval
    is told they wait, not invited to sign up again."""

    def home_text(profile: ProfileView | None) -> str:
        view = build_home(HomeData(profile, [], []), welcome=True)
        return json.dumps(view)

    assert "press *Become a helper* below" in home_text(None)
    helper = home_text(_profile())
    assert "Become a helper" not in helper and "press *Edit profile* below" in helper
    waiting = home_text(_profile(opted_in=False, awaiting_approval=True))
    assert "Become a helper" not in waiting and "waiting for the people who run" in waiting
