"""Messages say only what is true for their reader, and show only buttons the reader can use."""

from __future__ import annotations

import json
from datetime import date
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


def _figures(**kw: Any) -> Any:
    """Programme figures, all zero but ``kw``."""
    from peerbot.services.programme import Figures

    base: dict[str, Any] = {
        "team_id": "T1", "since": None, "until": "2026-12-02", "asks": 0, "intros": 0,
        "match_rate": None, "median_hours_to_intro": None, "offers_answered": 0,
        "offers_accepted": 0, "acceptance_rate": None, "checkins_sent": 0,
        "checkins_answered": 0, "checkin_completion": None, "ratings": 0, "mean_rating": None,
        "outcomes": {}, "unmet": 0, "unmet_by_topic": {}, "funnel": {}, "pass_reasons": {},
        "checkin_answers": {}, "commitments": {}, "pairs": {}, "helpers": 0,
        "helpers_paused": 0, "helpers_near_capacity": 0, "helper_load": {},
        "asks_by_week": {}, "topics": [], "supply_gaps": [],
    }  # fmt: skip
    return Figures(**{**base, **kw})


def test_counts_agree_with_their_nouns() -> None:
    """No "1 helpers", "1 ratings" or "The last 1 requests": one small rule, used everywhere."""
    from peerbot.domain.wording import counted
    from peerbot.report_cli import format_text
    from peerbot.services.programme import FEWER, TopicRow
    from peerbot.slack.admin_blocks import admin_home_blocks
    from peerbot.slack.digest import digest_text

    assert [counted(n, "helper") for n in (0, 1, 2)] == ["0 helpers", "1 helper", "2 helpers"]
    assert counted(FEWER, "helper") == "fewer than 5 helpers"
    assert counted(1, "person", "people") == "1 person" and counted(3, "person", "people") == (
        "3 people"
    )

    gap = TopicRow("t", "Hiring", asks=1, unmet=1, helpers=1, unmet_raw=1, helpers_raw=1)
    text = digest_text(_figures(), _figures(supply_gaps=[gap]))
    assert "Hiring: 1 unmet ask, 1 helper" in text
    home = json.dumps(admin_home_blocks(_admin_home(gap)))
    assert "1 unmet ask, 1 helper" in home and "1 helpers" not in home

    report = format_text(_figures(ratings=1, offers_answered=1, offers_accepted=1).to_json())
    assert "(1 rating)" in report and "(1 of 1 offer answered)" in report

    paused = render(
        n.HelperAutoPaused(person_id=1, until=date(2026, 12, 24), missed=1), WorstFacts()
    )
    assert _text(paused).startswith("The last request we sent you went unanswered")
    paused = render(
        n.HelperAutoPaused(person_id=1, until=date(2026, 12, 24), missed=3), WorstFacts()
    )
    assert _text(paused).startswith("The last 3 requests we sent you went unanswered")


def _admin_home(gap: Any) -> Any:
    from peerbot.services.programme_admin import AdminHome

    return AdminHome(
        month=_figures(), gaps=[gap], helpers=[], settings={}, specs={}, dashboard=False
    )
