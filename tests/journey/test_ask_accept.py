"""The core journey through signed HTTP requests, the emulator and a real database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from peerbot.store.db import unit_of_work
from peerbot.store.models import Ask, AskStatus, Offer, OfferStatus, Pair, Person
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
    assert "asking the best-matched peers, in private" in text_of(received[0])
    assert "Up to 3 experienced peers see it, each in a private DM" in text_of(received[0])
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


def test_ask_from_app_home(harness: Harness) -> None:
    seed_helpers(harness)
    asker = harness.add_user("alex")
    r = harness.driver.app_home_opened(asker)
    assert r.status == 200
    harness.settle()
    home = harness.emulator.home_view(asker)
    assert home is not None
    r = harness.driver.block_action(asker, "home_ask_for_help", view_id=home["id"])
    assert r.status == 200
    harness.settle()
    modal = harness.emulator.top_modal(asker)
    assert modal is not None and modal["callback_id"] == "peerhelp_intake"
    harness.driver.view_submission(
        asker,
        modal["id"],
        {
            ("challenge", "challenge_input"): "I have to hire five people and have never run "
            "interviews or a hiring pipeline."
        },
    )
    harness.settle()
    assert len(harness.dms(harness.users["harry"])) == 1


def test_field_error_is_answered_at_the_field(harness: Harness) -> None:
    asker = harness.add_user("alex")
    view_id = harness.open_intake(asker)
    r = harness.driver.view_submission(asker, view_id, {("challenge", "challenge_input"): "help"})
    assert r.status == 200
    assert r.body["response_action"] == "errors"
    assert "more detail" in r.body["errors"]["challenge"]
    assert harness.emulator.view_is_open(view_id)
    harness.settle()
    with unit_of_work(harness.container.sessions) as s:
        assert s.scalars(select(Ask)).all() == []


def test_pass_then_next(harness: Harness) -> None:
    helpers = seed_helpers(harness)
    asker = harness.add_user("alex")
    harness.ask(asker, "How do I give hard feedback to a senior engineer about behaviour?")
    first = harness.dms(helpers["feedback"])[0]
    harness.click(helpers["feedback"], first, "offer_pass")
    modal = harness.emulator.top_modal(helpers["feedback"])
    assert modal is not None
    harness.driver.view_submission(
        helpers["feedback"], modal["id"], {("pass_reason", "pass_reason_input"): "Too busy"}
    )
    harness.settle()
    assert "You passed" in text_of(harness.dms(helpers["feedback"])[0])
    asked_next = [u for u in (helpers["hiring"], helpers["reorg"]) if harness.dms(u)]
    assert len(asked_next) == 1
    with unit_of_work(harness.container.sessions) as s:
        passed = s.scalars(select(Offer).where(Offer.status == OfferStatus.PASSED)).one()
        assert passed.pass_reason == "Too busy"


def test_timeout_then_next(harness: Harness) -> None:
    from datetime import timedelta

    helpers = seed_helpers(harness)
    asker = harness.add_user("alex")
    harness.ask(asker, "How do I give hard feedback to a senior engineer about behaviour?")
    assert len(harness.dms(helpers["feedback"])) == 1
    harness.advance(timedelta(hours=3, minutes=59))
    assert not any(harness.dms(u) for u in (helpers["hiring"], helpers["reorg"]))
    harness.advance(timedelta(minutes=2))
    assert "no answer in time" in text_of(harness.dms(helpers["feedback"])[0])
    assert sum(1 for u in (helpers["hiring"], helpers["reorg"]) if harness.dms(u)) == 1


def test_all_pass_and_the_asker_is_told(harness: Harness) -> None:
    helpers = seed_helpers(harness)
    asker = harness.add_user("alex")
    harness.ask(asker, "How do I give hard feedback to a senior engineer about behaviour?")
    for _ in range(3):
        pending = [
            u for u in helpers.values() if harness.dms(u) and "Accept" in str(harness.dms(u)[-1])
        ]
        assert len(pending) == 1
        user = pending[0]
        harness.click(user, harness.dms(user)[-1], "offer_pass")
        modal = harness.emulator.top_modal(user)
        assert modal is not None
        harness.driver.view_submission(user, modal["id"], {})
        harness.settle()
    last = text_of(harness.dms(asker)[-1])
    assert "the 3 peers we asked could not take this on" in last
    # The receipt no longer offers Edit request and Withdraw: both would be refused now.
    receipt = harness.dms(asker)[0]
    assert "no longer waiting for a peer" in text_of(receipt)
    assert "ask_withdraw" not in str(receipt["blocks"]) and "ask_edit" not in str(receipt)
    with unit_of_work(harness.container.sessions) as s:
        ask = s.scalars(select(Ask)).one()
        assert ask.status == AskStatus.UNMET
        assert ask.topic  # recorded for the supply-gap report


def test_anonymous_ask_hides_the_name_until_accept(harness: Harness) -> None:
    helpers = seed_helpers(harness)
    asker = harness.add_user("alex")
    harness.ask(
        asker,
        "How do I give hard feedback to a senior engineer about behaviour?",
        anonymous=True,
    )
    offer = harness.dms(helpers["feedback"])[0]
    assert asker not in str(offer)
    assert "name shown once you accept" in text_of(offer)
    harness.click(helpers["feedback"], offer, "offer_accept")
    intro = text_of(harness.group_messages(asker, helpers["feedback"])[0])
    assert f"<@{asker}>" in intro


def test_redelivered_submission_and_double_click_make_one_pair(harness: Harness) -> None:
    helpers = seed_helpers(harness)
    asker = harness.add_user("alex")
    view_id = harness.open_intake(asker)
    values = {
        ("challenge", "challenge_input"): "How do I give hard feedback about behaviour in reviews?"
    }
    r1 = harness.driver.view_submission(asker, view_id, values, apply_response=False)
    r2 = harness.driver.view_submission(asker, view_id, values)
    assert r1.status == r2.status == 200
    harness.settle()
    offers = harness.dms(helpers["feedback"])
    assert len(offers) == 1
    assert len(harness.dms(asker)) == 1
    # The same click delivered twice (a retry) before anything was updated.
    for _ in range(2):
        r = harness.driver.block_action(
            helpers["feedback"],
            "offer_accept",
            channel_id=offers[0]["channel"],
            message_ts=offers[0]["ts"],
        )
        assert r.status == 200
    harness.settle()
    assert len(harness.group_messages(asker, helpers["feedback"])) == 1
    with unit_of_work(harness.container.sessions) as s:
        assert len(s.scalars(select(Ask)).all()) == 1
        assert len(s.scalars(select(Pair)).all()) == 1


def test_deleted_helper_is_skipped(harness: Harness) -> None:
    helpers = seed_helpers(harness)
    harness.emulator.delete_user(helpers["feedback"])
    asker = harness.add_user("alex")
    harness.ask(asker, "How do I give hard feedback to a senior engineer about behaviour?")
    assert harness.dms(helpers["feedback"]) == []
    assert sum(1 for u in (helpers["hiring"], helpers["reorg"]) if harness.dms(u)) == 1
    with unit_of_work(harness.container.sessions) as s:
        skipped = s.scalars(select(Offer).where(Offer.status == OfferStatus.SKIPPED)).one()
        person = s.get(Person, skipped.helper_id)
        assert person is not None
        assert person.slack_user_id == helpers["feedback"]
        assert person.can_be_messaged is False


def test_helper_who_closed_dms_is_skipped(harness: Harness) -> None:
    helpers = seed_helpers(harness)
    harness.emulator.set_can_be_messaged(helpers["feedback"], False)
    asker = harness.add_user("alex")
    harness.ask(asker, "How do I give hard feedback to a senior engineer about behaviour?")
    assert harness.dms(helpers["feedback"]) == []
    assert sum(1 for u in (helpers["hiring"], helpers["reorg"]) if harness.dms(u)) == 1


def test_channel_mention_is_neutralised(harness: Harness) -> None:
    helpers = seed_helpers(harness)
    asker = harness.add_user("alex")
    harness.ask(
        asker,
        "<!channel> <@U999> how do I give hard feedback about behaviour? <https://evil|click>",
    )
    offer = harness.dms(helpers["feedback"])[0]
    shown = text_of(offer)
    assert "<!channel>" not in shown and "<@U999>" not in shown and "<https://evil" not in shown
    assert "&lt;!channel&gt;" in shown
    harness.click(helpers["feedback"], offer, "offer_accept")
    intro = text_of(harness.group_messages(asker, helpers["feedback"])[0])
    assert "<!channel>" not in intro


def test_huge_unicode_command_text_prefills_within_limits(harness: Harness) -> None:
    asker = harness.add_user("alex")
    text = "Ünïcödé 😀 manager question " * 300  # ~ 8,400 characters
    view_id = harness.open_intake(asker, text)
    view = harness.emulator.view(view_id)
    assert view is not None
    el = next(b for b in view["blocks"] if b.get("block_id") == "challenge")["element"]
    assert len(el["initial_value"]) <= el["max_length"]
    assert el["initial_value"].startswith("Ünïcödé 😀")
