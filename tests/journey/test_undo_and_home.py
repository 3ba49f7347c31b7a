"""Nothing irreversible by accident, and every screen true (issue 13), through the emulator:
withdraw a request from the receipt and from App Home, undo "Stop check-ins" and a snooze,
a helper's pause and Resume now, the pause told to each side in their own words, App Home's
history, welcome and unreachable notice, `/peerhelp help` and unknown sub-commands."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from peerbot.services.journey import Change, JourneyService
from peerbot.slack import ids
from peerbot.slack.listeners import asks as ask_listeners
from peerbot.slack.listeners import commands
from peerbot.slack.listeners import journey as journey_listeners
from peerbot.store.db import unit_of_work
from peerbot.store.models import (
    Ask,
    AskStatus,
    Checkin,
    CheckinKind,
    HelperProfile,
    Offer,
    OfferStatus,
    Pair,
    PairStatus,
    Person,
)
from tests.fixtures.app import Harness
from tests.journey.test_accountability import CHALLENGE, last_with, paired
from tests.journey.test_ask_accept import text_of


def buttons(message: dict[str, Any]) -> set[str]:
    """The action ids of every button and menu in a message or view."""
    out = set()
    for block in message.get("blocks") or []:
        for el in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if el.get("action_id"):
                out.add(el["action_id"])
    return out


def home(h: Harness, user: str) -> dict[str, Any]:
    """Open the Home tab and return what Slack shows."""
    r = h.driver.app_home_opened(user)
    assert r.status == 200
    h.settle()
    view = h.emulator.home_view(user)
    assert view is not None
    return view


def home_text(view: dict[str, Any]) -> str:
    return text_of(view)


def click_home(h: Harness, user: str, action_id: str, nth: int = 0) -> None:
    """Press a button in the person's App Home (the ``nth`` with that action id)."""
    view = h.emulator.home_view(user)
    assert view is not None
    found = [
        el
        for block in view["blocks"]
        for el in [*(block.get("elements") or []), block.get("accessory") or {}]
        if el.get("action_id") == action_id
    ]
    assert len(found) > nth, f"no {action_id} in App Home"
    r = h.driver.block_action(
        user, action_id, value=found[nth].get("value"), view_id=str(view["id"])
    )
    assert r.status == 200
    h.settle()


def ephemeral_texts(h: Harness, user: str) -> list[str]:
    return [str(e.get("text", "")) for e in h.emulator.ephemerals_to(user)]


def asked(h: Harness) -> tuple[str, str]:
    """An asker whose request is offered to one helper, not answered yet."""
    helper = h.add_helper("fiona", "Gave hard feedback to senior engineers about behaviour.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    assert "offer_accept" in buttons(h.dms(helper)[0])
    return asker, helper


def statuses(h: Harness) -> tuple[AskStatus, list[OfferStatus]]:
    with unit_of_work(h.container.sessions) as s:
        ask = s.scalars(select(Ask)).one()
        return ask.status, [o.status for o in s.scalars(select(Offer))]


# --------------------------------------------------------------------------- withdraw


def test_withdraw_from_the_receipt_while_an_offer_is_pending(harness: Harness) -> None:
    h = harness
    asker, helper = asked(h)
    receipt = next(m for m in h.dms(asker) if ids.ASK_WITHDRAW in buttons(m))
    # Slack asks for confirmation before sending the click.
    button = next(
        el
        for b in receipt["blocks"]
        for el in b.get("elements") or []
        if el.get("action_id") == ids.ASK_WITHDRAW
    )
    assert button["confirm"]["confirm"]["text"] == "Withdraw"
    offer_message = h.dms(helper)[0]

    h.click(asker, receipt, ids.ASK_WITHDRAW)

    assert statuses(h) == (AskStatus.CANCELLED, [OfferStatus.WITHDRAWN])
    # The helper's offer message now says so, without buttons.
    updated = h.dms(helper)[0]
    assert updated["ts"] == offer_message["ts"]
    assert "withdrawn" in text_of(updated)
    assert buttons(updated) == set()
    # The asker's receipt says it was withdrawn and offers nothing more to press.
    mine = next(m for m in h.dms(asker) if m["ts"] == receipt["ts"])
    assert "You withdrew this request" in text_of(mine)
    assert buttons(mine) == set()
    assert journey_listeners.WITHDRAWN_TEXT in ephemeral_texts(h, asker)
    # The old receipt's button pressed again (a stale client): already done, nothing changes.
    with unit_of_work(h.container.sessions) as s:
        ask_id = s.scalars(select(Ask.id)).one()
    again = JourneyService(h.container.sessions, h.clock).withdraw(h.team, ask_id, asker)
    assert again == Change.ALREADY
    h.settle()
    assert len(h.dms(helper)) == 1


def test_an_accept_after_a_withdrawal_is_refused_politely(harness: Harness) -> None:
    """The helper presses Accept before the update of their message arrived: they are thanked
    and told the asker withdrew it; no pair, no group DM."""
    h = harness
    asker, helper = asked(h)
    offer_before = h.dms(helper)[0]
    receipt = next(m for m in h.dms(asker) if ids.ASK_WITHDRAW in buttons(m))
    r = h.driver.block_action(
        asker,
        ids.ASK_WITHDRAW,
        value=receipt["blocks"][-1]["elements"][0]["value"],
        channel_id=receipt["channel"],
        message_ts=receipt["ts"],
    )
    assert r.status == 200
    h.wait_for_listeners()  # withdrawn, but the helper's message is not updated yet
    assert ids.OFFER_ACCEPT in buttons(h.dms(helper)[0])
    h.click(helper, offer_before, ids.OFFER_ACCEPT)
    assert ask_listeners.WITHDRAWN_REPLY in ephemeral_texts(h, helper)
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Pair)).all() == []
    assert h.emulator.group_dm((asker, helper)) is None
    assert "withdrawn" in text_of(h.dms(helper)[0])


def test_withdraw_from_app_home(harness: Harness) -> None:
    h = harness
    asker, helper = asked(h)
    view = home(h, asker)
    assert "Your open requests" in home_text(view)
    assert ids.ASK_WITHDRAW in buttons(view)
    # Only the asker may withdraw: the helper's hand-made click changes nothing.
    with unit_of_work(h.container.sessions) as s:
        ask_id = s.scalars(select(Ask.id)).one()
    r = h.driver.block_action(helper, ids.ASK_WITHDRAW, value=str(ask_id), view_id=str(view["id"]))
    assert r.status == 200
    h.settle()
    assert statuses(h) == (AskStatus.OFFERED, [OfferStatus.PENDING])
    assert journey_listeners.WITHDRAW_REPLIES[
        journey_listeners.Change.NOT_YOURS
    ] in ephemeral_texts(h, helper)
    click_home(h, asker, ids.ASK_WITHDRAW)
    assert statuses(h) == (AskStatus.CANCELLED, [OfferStatus.WITHDRAWN])
    assert "withdrawn" in text_of(h.dms(helper)[0])
    # App Home was refreshed: the request is gone from it.
    assert ids.ASK_WITHDRAW not in buttons(h.emulator.home_view(asker) or {})


# --------------------------------------------------------------------------- check-ins


def _pair(h: Harness) -> Pair:
    with unit_of_work(h.container.sessions) as s:
        pair = s.scalars(select(Pair)).one()
        s.expunge(pair)
        return pair


def _checkin_count(h: Harness, asker: str) -> int:
    return sum("quick check-in" in text_of(m) for m in h.dms(asker))


def test_stop_check_ins_can_be_undone_where_it_was_done(harness: Harness) -> None:
    h = harness
    asker, _helper = paired(h)
    h.advance(timedelta(days=8))
    checkin = last_with(h.dms(asker), "Time for a quick check-in")
    r = h.driver.block_action(
        asker,
        ids.PAIR_SNOOZE,
        value=f"{_pair(h).id}:stop",
        channel_id=checkin["channel"],
        message_ts=checkin["ts"],
    )
    assert r.status == 200
    h.settle()
    assert _pair(h).next_checkin_at is None
    # The private reply offers the undo.
    reply = h.emulator.ephemerals_to(asker)[-1]
    assert "Check-ins are stopped" in reply["text"]
    assert ids.PAIR_RESUME_CHECKINS in buttons(reply)
    # App Home says so too, with the same undo.
    view = home(h, asker)
    assert "check-ins stopped" in home_text(view)
    n = _checkin_count(h, asker)
    h.advance(timedelta(days=8))
    assert _checkin_count(h, asker) == n  # stopped means stopped
    click_home(h, asker, ids.PAIR_RESUME_CHECKINS)
    assert journey_listeners.RESUMED_TEXT in ephemeral_texts(h, asker)
    assert _pair(h).next_checkin_at is not None
    h.advance(timedelta(days=8))
    assert _checkin_count(h, asker) == n + 1  # check-ins are back
    assert "check-ins stopped" not in home_text(home(h, asker))


def test_a_snooze_can_be_undone_from_app_home(harness: Harness) -> None:
    h = harness
    asker, _helper = paired(h)
    h.advance(timedelta(days=8))
    checkin = last_with(h.dms(asker), "Time for a quick check-in")
    h.driver.block_action(
        asker,
        ids.PAIR_SNOOZE,
        value=f"{_pair(h).id}:snooze_2",
        channel_id=checkin["channel"],
        message_ts=checkin["ts"],
    )
    h.settle()
    assert _pair(h).snoozed_until is not None
    view = home(h, asker)
    assert "check-ins snoozed until" in home_text(view)
    click_home(h, asker, ids.PAIR_RESUME_CHECKINS)
    assert _pair(h).snoozed_until is None
    n = _checkin_count(h, asker)
    h.advance(timedelta(days=8))
    assert _checkin_count(h, asker) == n + 1  # not two weeks later


def test_a_paused_pair_is_told_to_each_in_their_own_words(harness: Harness) -> None:
    """After unanswered check-ins: the asker gets Resume / Add a commitment / Close; the
    helper, who cannot add the asker's commitments, gets only Close."""
    h = harness
    asker, helper = paired(h)
    for _ in range(5):
        h.advance(timedelta(days=8))
        if _pair(h).status == PairStatus.PAUSED:
            break
    assert _pair(h).status == PairStatus.PAUSED
    mine = last_with(h.dms(asker), "paused")
    theirs = last_with(h.dms(helper), "paused")
    assert buttons(mine) == {ids.PAIR_RESUME_CHECKINS, ids.PAIR_ADD_COMMITMENT, ids.PAIR_CLOSE}
    assert buttons(theirs) == {ids.PAIR_CLOSE}
    assert "from you" in text_of(mine) and f"<@{asker}> has not answered" in text_of(theirs)
    assert "paused" in home_text(home(h, asker))
    h.click(asker, mine, ids.PAIR_RESUME_CHECKINS)
    assert _pair(h).status == PairStatus.ACTIVE
    with unit_of_work(h.container.sessions) as s:
        waiting = s.scalars(
            select(Checkin).where(Checkin.kind == CheckinKind.ASKER, Checkin.sent_at.is_(None))
        ).all()
    assert len(waiting) == 1
    # The helper cannot resume the asker's check-ins.
    h.driver.block_action(
        helper,
        ids.PAIR_RESUME_CHECKINS,
        value=str(_pair(h).id),
        channel_id=mine["channel"],
        message_ts=mine["ts"],
    )
    h.settle()
    assert journey_listeners.RESUME_REPLIES[journey_listeners.Change.NOT_YOURS] in (
        ephemeral_texts(h, helper)
    )


def test_the_feedback_dialog_after_the_other_side_closed_is_titled_as_feedback(
    harness: Harness,
) -> None:
    h = harness
    asker, helper = paired(h)
    intro = h.group_messages(asker, helper)[0]
    h.click(asker, intro, ids.PAIR_CLOSE)
    modal = h.emulator.top_modal(asker)
    assert modal is not None and modal["title"]["text"] == "Close the pairing"
    h.driver.view_submission(
        asker,
        str(modal["id"]),
        {
            ("close_outcome", "close_outcome_radio"): "resolved",
            ("close_rating", "close_rating_select"): "5",
        },
    )
    h.settle()
    request = last_with(h.dms(helper), "closed your pairing")
    h.click(helper, request, ids.FEEDBACK_OPEN)
    modal = h.emulator.top_modal(helper)
    assert modal is not None
    assert modal["title"]["text"] == "Your feedback"
    assert modal["submit"]["text"] == "Send feedback"
    assert "programme team" not in text_of(modal)


def _monthly_check(h: Harness, asker: str, helper: str) -> dict[str, Any]:
    h.container.pairs.snooze(h.team, _pair(h).id, asker, 0)  # asker check-ins off
    for _ in range(33):
        h.advance(timedelta(days=1))
    return next(m for m in h.dms(helper) if "monthly check" in text_of(m))


def test_the_helper_monthly_check_offers_four_answers_and_not_a_fit_opens_the_close_form(
    harness: Harness,
) -> None:
    h = harness
    asker, helper = paired(h)
    check = _monthly_check(h, asker, helper)
    labels = [
        el["text"]["text"]
        for b in check["blocks"]
        for el in b.get("elements") or []
        if el.get("type") == "button"
    ]
    assert labels == ["Going well", "Haven't met yet", "Asker has gone quiet", "Not a fit"]
    h.click(helper, check, f"{ids.HELPER_CHECK_ACTION}_not_fit")
    with unit_of_work(h.container.sessions) as s:
        answer = s.scalars(
            select(Checkin.answer).where(
                Checkin.kind == CheckinKind.HELPER_MONTHLY, Checkin.answered_at.is_not(None)
            )
        ).one()
    assert answer is not None and answer.value == "not_fit"
    modal = h.emulator.top_modal(helper)
    assert modal is not None and modal["title"]["text"] == "Close the pairing"
    updated = next(m for m in h.dms(helper) if m["ts"] == check["ts"])
    assert "Not a fit" in text_of(updated)
    assert buttons(updated) == {ids.PAIR_CLOSE}
    # The asker cannot answer the helper's check, nor give a helper's answer to their own.
    with unit_of_work(h.container.sessions) as s:
        cid = s.scalars(select(Checkin.id).where(Checkin.sent_at.is_not(None))).first()
    assert cid is not None
    assert h.container.pairs.answer_checkin(h.team, cid, asker, "quiet") in ("not_yours", "invalid")


def test_the_helper_says_the_asker_has_gone_quiet(harness: Harness) -> None:
    h = harness
    asker, helper = paired(h)
    check = _monthly_check(h, asker, helper)
    h.click(helper, check, f"{ids.HELPER_CHECK_ACTION}_quiet")
    updated = next(m for m in h.dms(helper) if m["ts"] == check["ts"])
    assert "gone quiet" in text_of(updated)
    assert h.emulator.top_modal(helper) is None
    assert _pair(h).status == PairStatus.ACTIVE  # nothing ends without the helper's say-so


# --------------------------------------------------------------------------- helpers


def test_a_helper_pause_says_when_it_ends_and_resume_now_ends_it(harness: Harness) -> None:
    h = harness
    helper = h.add_helper("fiona", "Gave hard feedback to senior engineers about behaviour.")
    view = home(h, helper)
    click_home(h, helper, ids.HOME_EDIT_PROFILE)
    modal = h.emulator.top_modal(helper)
    assert modal is not None
    pause = next(b for b in modal["blocks"] if b.get("block_id") == ids.PROFILE_PAUSE[0])
    assert "by itself" in pause["label"]["text"]
    until = (h.clock.now() + timedelta(days=10)).date()
    r = h.driver.view_submission(
        helper,
        str(modal["id"]),
        {
            ("profile_opt_in", "profile_opt_in_input"): ["yes"],
            ("profile_expertise", "profile_expertise_input"): "Gave hard feedback to seniors.",
            ("profile_capacity", "profile_capacity_select"): "2",
            ("profile_pause", "profile_pause_date"): until.isoformat(),
        },
    )
    assert r.status == 200
    h.settle()
    dm = last_with(h.dms(helper), "You are paused as a helper")
    assert until.strftime("%-d %B %Y") in text_of(dm)
    assert "by yourself" in text_of(dm) or "by itself" in text_of(dm)
    assert buttons(dm) == {ids.HELPER_RESUME_NOW}
    view = h.emulator.home_view(helper) or {}
    assert "then available again by itself" in home_text(view)
    assert ids.HELPER_RESUME_NOW in buttons(view)
    # Resume now, from the DM.
    h.click(helper, dm, ids.HELPER_RESUME_NOW)
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(HelperProfile.paused_until)).one() is None
    assert journey_listeners.HELPING_AGAIN_TEXT in ephemeral_texts(h, helper)
    view = h.emulator.home_view(helper) or {}
    assert ids.HELPER_RESUME_NOW not in buttons(view)
    assert "available, helping 0 of 2" in home_text(view)
    # Now they are offered asks again.
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    assert any(ids.OFFER_ACCEPT in buttons(m) for m in h.dms(helper))


def test_an_unreachable_helper_sees_it_in_their_app_home(harness: Harness) -> None:
    h = harness
    helper = h.add_helper("fiona", "Gave hard feedback to senior engineers about behaviour.")
    h.emulator.set_can_be_messaged(helper, False)
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    with unit_of_work(h.container.sessions) as s:
        assert not s.scalars(
            select(Person.can_be_messaged).where(Person.slack_user_id == helper)
        ).one()
    view = home(h, helper)
    assert "We could not reach you by DM" in home_text(view)
    assert "We could not reach you" not in home_text(home(h, asker))


def test_app_home_lists_history_for_asker_and_helper(harness: Harness) -> None:
    h = harness
    asker, helper = paired(h)
    mine, theirs = home(h, asker), home(h, helper)
    assert f"with <@{helper}>" in home_text(mine) and "_active_" in home_text(mine)
    assert f"helping <@{asker}>" in home_text(theirs)
    # A helper sees an offer waiting for their answer.
    other = h.add_user("sam")
    h.ask(other, "My team lead and I disagree about how to run the weekly planning meeting.")
    if any(ids.OFFER_ACCEPT in buttons(m) for m in h.dms(helper)[1:]):
        assert "Waiting for your answer" in home_text(home(h, helper))
    # Closed pairs are listed as recently closed.
    intro = h.group_messages(asker, helper)[0]
    h.click(asker, intro, ids.PAIR_CLOSE)
    modal = h.emulator.top_modal(asker)
    assert modal is not None
    h.driver.view_submission(
        asker,
        str(modal["id"]),
        {
            ("close_outcome", "close_outcome_radio"): "resolved",
            ("close_rating", "close_rating_select"): "4",
        },
    )
    h.settle()
    assert "Recently closed" in home_text(home(h, asker))
    assert "Recently closed" in home_text(home(h, helper))


# --------------------------------------------------------------------------- first contact


def test_the_first_app_home_opening_welcomes_and_later_ones_do_not(harness: Harness) -> None:
    h = harness
    newcomer = h.add_user("nina")
    first = home(h, newcomer)
    text = home_text(first)
    assert "*Welcome!*" in text
    for what in ("Ask for help", "Who sees what", "Up to 3 experienced peers", "Become a helper"):
        assert what in text
    assert "Welcome!" not in home_text(home(h, newcomer))


@pytest.mark.one_database  # about the command's words and the modal, not the database
def test_peerhelp_help_and_unknown_sub_commands_answer_with_usage(harness: Harness) -> None:
    h = harness
    user = h.add_user("nina")
    r = h.driver.slash_command("/peerhelp", user, "help")
    assert r.body["text"] == commands.HELP_TEXT
    for word in ("halp", "<!channel>", "widthdraw"):
        r = h.driver.slash_command("/peerhelp", user, word)
        assert r.status == 200
        assert "is not a `/peerhelp` command" in r.body["text"]
        assert commands.HELP_TEXT in r.body["text"]
        assert "<!channel>" not in r.body["text"]  # escaped
    h.settle()
    assert h.emulator.top_modal(user) is None
    # A few words still open the intake, pre-filled.
    view_id = h.open_intake(user, "my new lead and I disagree")
    modal = h.emulator.view(view_id)
    assert modal is not None
    intro = modal["blocks"][0]["text"]["text"]
    assert "Up to 3 experienced peers see it, one at a time" in intro
    assert "Only the peer we ask" not in intro


def test_the_last_offer_passed_never_says_someone_else_was_asked(harness: Harness) -> None:
    h = harness
    helper = h.add_helper("fiona", "Gave hard feedback to senior engineers about behaviour.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    h.click(helper, h.dms(helper)[0], ids.OFFER_PASS)
    modal = h.emulator.top_modal(helper)
    assert modal is not None
    assert "next peer" not in text_of(modal)
    h.driver.view_submission(helper, str(modal["id"]), {})
    h.settle()
    closed = text_of(h.dms(helper)[0])
    assert "You passed" in closed
    assert "someone else" not in closed and "another peer" not in closed
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Ask.status)).one() == AskStatus.UNMET


def test_who_sees_a_request_follows_the_workspaces_own_offer_settings(harness: Harness) -> None:
    """An admin set 5 helpers per request, 2 at once (programme settings): the intake and the
    first App Home say so, not the environment's 3, one at a time."""
    from peerbot.services.programme_settings import change, defaults_from

    h = harness
    with unit_of_work(h.container.sessions) as s:
        _, errors = change(
            s,
            h.team,
            "UADMIN",
            {"max_offers_per_ask": "5", "parallel_offers": "2"},
            defaults_from(h.container.settings),
            h.clock.now(),
        )
        assert errors == {}
    user = h.add_user("nina")
    modal = h.emulator.view(h.open_intake(user, "my new lead and I disagree"))
    assert modal is not None
    intro = modal["blocks"][0]["text"]["text"]
    assert "Up to 5 experienced peers see it, 2 at a time, each in a private DM" in intro
    assert "Up to 5 experienced peers see it, 2 at a time" in home_text(home(h, user))


@pytest.mark.one_database  # about the words
def test_the_intake_names_the_pace_of_an_urgent_request(harness: Harness) -> None:
    """One at a time by default, but an urgent request (chosen in the same dialog) goes to two
    at once: the dialog says both."""
    h = harness
    user = h.add_user("nina")
    modal = h.emulator.view(h.open_intake(user, "my new lead and I disagree"))
    assert modal is not None
    intro = modal["blocks"][0]["text"]["text"]
    assert (
        "Up to 3 experienced peers see it, one at a time (2 at a time if you need help in the "
        "next day or two), each in a private DM" in intro
    )
