"""The core journey through signed HTTP requests, the emulator and a real database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from peerbot.store.db import unit_of_work
from peerbot.store.models import Ask, AskStatus, Offer, OfferStatus, Pair
from tests.fixtures.app import Harness


def text_of(message: dict[str, Any]) -> str:
    """All text a person sees in a message: its text and every block's text."""
    parts = [message.get("text", "")]
    for block in message.get("blocks") or []:
        t = block.get("text")
        if isinstance(t, dict):
            parts.append(t.get("text", ""))
        for el in block.get("elements") or []:
            if isinstance(el, dict) and isinstance(el.get("text"), str):
                parts.append(el["text"])
    return "\n".join(parts)


def seed_helpers(h: Harness) -> dict[str, str]:
    return {
        "feedback": h.add_helper(
            "fiona",
            "Gave hard feedback to senior engineers many times; coached people through "
            "performance problems and difficult conversations about behaviour.",
        ),
        "hiring": h.add_helper(
            "harry",
            "Built three teams from scratch: hiring pipelines, interviewing, closing candidates.",
        ),
        "reorg": h.add_helper(
            "rita",
            "Led my department through two re-orgs and merged teams after an acquisition.",
        ),
    }


def test_ask_with_text_prefills_the_modal(harness: Harness) -> None:
    asker = harness.add_user("alex")
    view_id = harness.open_intake(asker, "My report keeps missing deadlines")
    view = harness.emulator.view(view_id)
    assert view is not None
    el = next(b for b in view["blocks"] if b.get("block_id") == "challenge")["element"]
    assert el["initial_value"] == "My report keeps missing deadlines"


def test_accept_introduces_the_pair(harness: Harness) -> None:
    helpers = seed_helpers(harness)
    asker = harness.add_user("alex")
    r = harness.ask(
        asker,
        "I need to tell a senior engineer that their behaviour in code reviews is hurting the "
        "team, and I have never given feedback this hard.",
        desired="They change how they review, and stay motivated.",
        obstacles="They are the most senior person on the team and I am new.",
    )
    assert r.status == 200
    # The asker is told what happens next.
    received = harness.dms(asker)
    assert len(received) == 1
    assert "asking the best-matched peer first" in text_of(received[0])
    # The best helper (feedback expertise) is asked first, and only they are asked.
    offer_msgs = harness.dms(helpers["feedback"])
    assert len(offer_msgs) == 1
    assert harness.dms(helpers["hiring"]) == [] and harness.dms(helpers["reorg"]) == []
    offer_text = text_of(offer_msgs[0])
    assert "code reviews" in offer_text
    assert f"<@{asker}>" in offer_text  # not anonymous

    harness.click(helpers["feedback"], offer_msgs[0], "offer_accept")

    group = harness.group_messages(asker, helpers["feedback"])
    assert len(group) == 1
    intro = text_of(group[0])
    assert f"<@{asker}>" in intro and f"<@{helpers['feedback']}>" in intro
    assert "clarifying questions" in intro  # the coaching primer
    # The offer message and the asker's DM are updated.
    assert "You accepted" in text_of(harness.dms(helpers["feedback"])[0])
    assert "accepted and you are both in a new group DM" in text_of(harness.dms(asker)[0])
    with unit_of_work(harness.container.sessions) as s:
        ask = s.scalars(select(Ask)).one()
        assert ask.status == AskStatus.PAIRED
        pair = s.scalars(select(Pair)).one()
        assert pair.channel_id == harness.emulator.group_dm([asker, helpers["feedback"]])
        assert s.scalars(select(Offer)).one().status == OfferStatus.ACCEPTED
