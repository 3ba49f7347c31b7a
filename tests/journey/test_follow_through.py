"""The follow-through after the introduction (issue 13), through the emulator on both databases:
"did you meet?", another peer (re-pair), the ghost rule, the due-date reminder, "Tell me when
someone can", why this peer, and urgent routing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from peerbot.services.pairs import pairs_that_met
from peerbot.slack import ids
from peerbot.store.db import unit_of_work
from peerbot.store.models import (
    Ask,
    AskStatus,
    Commitment,
    HelperProfile,
    MeetingAnswer,
    MeetingCheck,
    Offer,
    OfferStatus,
    Pair,
    PairStatus,
)
from tests.fixtures.app import Harness
from tests.journey.test_accountability import last_with, until_paused
from tests.journey.test_ask_accept import text_of

CHALLENGE = "How do I give hard feedback to a senior engineer about their code reviews?"
FEEDBACK_EXPERT = "Gave hard feedback to senior engineers about their code reviews and behaviour."
LA = ZoneInfo("America/Los_Angeles")


def buttons(message: dict[str, Any]) -> list[str]:
    """The action ids of every button in a message."""
    return [
        el["action_id"]
        for block in message.get("blocks") or []
        for el in [*(block.get("elements") or []), block.get("accessory") or {}]
        if el.get("type") == "button"
    ]


def paired(h: Harness) -> tuple[str, str]:
    helper = h.add_helper("fiona", FEEDBACK_EXPERT)
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    h.click(helper, h.dms(helper)[0], "offer_accept")
    return asker, helper


def meet_message(h: Harness, user: str) -> dict[str, Any]:
    return last_with(h.dms(user), "manage to meet")


def test_did_you_meet_goes_to_both_three_working_days_later_and_answers_count(
    harness: Harness,
) -> None:
    h = harness
    asker, helper = paired(h)  # Monday 09:00 in Los Angeles
    h.advance(timedelta(days=2, hours=23))  # Wednesday evening: not yet
    assert not any("manage to meet" in t for t in h.texts(asker))
    h.advance(timedelta(hours=1, minutes=30))  # Thursday 09:30, their time
    for me, other in ((asker, helper), (helper, asker)):
        msg = meet_message(h, me)
        assert f"<@{other}>" in text_of(msg)
        assert buttons(msg) == ["meet_yes", "meet_not_yet", "meet_no"]
    with unit_of_work(h.container.sessions) as s:
        sent = s.scalars(select(MeetingCheck).where(MeetingCheck.sent_at.is_not(None))).all()
        assert len(sent) == 2
        assert {c.sent_at.astimezone(LA).strftime("%a %H:%M") for c in sent} == {"Thu 09:30"}

    # The helper's "Yes" is recorded and counts; the helper gets no "another peer" button.
    h.click(helper, meet_message(h, helper), "meet_yes")
    helper_view = next(m for m in h.dms(helper) if "You met" in text_of(m))
    assert "pair_another_peer" not in buttons(helper_view)
    # The asker: not yet → asked again three days on.
    h.click(asker, meet_message(h, asker), "meet_not_yet")
    assert any("ask again in 3 days" in t for t in h.texts(asker))
    with unit_of_work(h.container.sessions) as s:
        assert pairs_that_met(s, h.team) == 1
        answers = s.scalars(select(MeetingCheck.answer).where(MeetingCheck.answer.is_not(None)))
        assert sorted(str(a) for a in answers) == ["not_yet", "yes"]
    before = sum("manage to meet" in t for t in h.texts(asker))
    h.advance(timedelta(days=4))  # Monday 09:30 (3 days on is Sunday: the next weekday)
    assert sum("manage to meet" in t for t in h.texts(asker)) == before + 1
    again = meet_message(h, asker)
    h.click(asker, again, "meet_no")
    final = next(m for m in reversed(h.dms(asker)) if "Thanks for telling us" in text_of(m))
    assert "pair_another_peer" in buttons(final)
    assert not {"meet_yes", "meet_not_yet", "meet_no"} & set(buttons(final))
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(MeetingCheck).where(MeetingCheck.answer == MeetingAnswer.NO)).all()
        assert len(s.scalars(select(MeetingCheck)).all()) == 3


def test_another_peer_after_a_low_rating_excludes_and_releases_the_first_helper(
    harness: Harness,
) -> None:
    h = harness
    first = h.add_helper("fiona", FEEDBACK_EXPERT)
    second = h.add_helper("gus", "Coached senior engineers through hard feedback on code reviews.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    offered, other = h.first_offered(first, second)
    h.click(offered, h.dms(offered)[0], "offer_accept")
    intro = h.group_messages(asker, offered)[0]
    # The asker closes with a rating of 2: they are offered another peer.
    h.click(asker, intro, "pair_close")
    modal = h.emulator.top_modal(asker)
    assert modal is not None
    h.driver.view_submission(
        asker,
        modal["id"],
        {
            ("close_outcome", "close_outcome_radio"): "not",
            ("close_rating", "close_rating_select"): "2",
        },
    )
    h.settle()
    offer_again = last_with(h.dms(asker), "did not work out")
    assert f"<@{offered}>" in text_of(offer_again)
    assert buttons(offer_again) == ["pair_another_peer"]
    # Only the asker may use it.
    h.click(offered, offer_again, "pair_another_peer")
    assert h.dms(other) == []
    h.click(asker, offer_again, "pair_another_peer")
    # The other helper is asked; the first is thanked and released, without blame.
    assert "looking for a peer" in text_of(h.dms(other)[0])
    released = last_with(h.dms(offered), "released you")
    assert "not about you" in text_of(released)
    assert "We are asking another peer" in text_of(h.dms(asker)[-1])
    with unit_of_work(h.container.sessions) as s:
        ask = s.scalars(select(Ask)).one()
        assert ask.status == AskStatus.OFFERED
        assert offered in (ask.excluded_user_ids or [])
    # A second click changes nothing.
    h.click(asker, offer_again, "pair_another_peer")
    h.click(other, h.dms(other)[0], "offer_accept")
    assert h.group_messages(asker, other)
    with unit_of_work(h.container.sessions) as s:
        pairs = s.scalars(select(Pair).order_by(Pair.id)).all()
        assert [p.status for p in pairs] == [PairStatus.CLOSED, PairStatus.ACTIVE]
        assert s.scalars(select(Ask)).one().status == AskStatus.PAIRED


def test_another_peer_after_yes_we_met_from_the_active_pair(harness: Harness) -> None:
    h = harness
    first = h.add_helper("fiona", FEEDBACK_EXPERT)
    second = h.add_helper("gus", "Coached senior engineers through hard feedback on code reviews.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    offered, other = h.first_offered(first, second)
    h.click(offered, h.dms(offered)[0], "offer_accept")
    h.advance(timedelta(days=3, minutes=30))
    h.click(asker, meet_message(h, asker), "meet_yes")
    met = next(m for m in reversed(h.dms(asker)) if "You met" in text_of(m))
    h.click(asker, met, "pair_another_peer")
    assert h.dms(other), "the other helper is asked"
    with unit_of_work(h.container.sessions) as s:
        pair = s.scalars(select(Pair)).one()
        assert pair.status == PairStatus.CLOSED and pair.closed_by == asker
    # The released helper's check-ins stop: nothing more goes to the closed pair.
    h.advance(timedelta(days=8))
    assert not any("quick check-in" in t for t in h.texts(asker))


def test_three_unanswered_offers_in_a_row_pause_the_helper_who_can_resume(
    harness: Harness,
) -> None:
    h = harness
    helper = h.add_helper("fiona", FEEDBACK_EXPERT)
    for i in range(3):
        asker = h.add_user(f"asker{i}")
        h.ask(asker, f"{CHALLENGE} (case {i})")
        assert len(h.dms(helper)) == i + 1
        h.advance(timedelta(days=1))  # 4 working hours pass unanswered
    paused = last_with(h.dms(helper), "went unanswered")
    assert "paused new requests to you until" in text_of(paused)
    assert buttons(paused) == ["helper_resume_now"]
    with unit_of_work(h.container.sessions) as s:
        profile = s.scalars(select(HelperProfile)).one()
        assert profile.paused_until is not None and profile.missed_offers == 0
    assert len(h.dms(helper)) == 4  # three offers (now closed) and the pause
    # Paused: a new ask is not offered to them.
    h.ask(h.add_user("dana"), CHALLENGE)
    assert len(h.dms(helper)) == 4
    h.click(helper, paused, "helper_resume_now")
    resumed = next(m for m in h.dms(helper) if m["ts"] == paused["ts"])
    assert "taking requests again" in text_of(resumed) and buttons(resumed) == []
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(HelperProfile)).one().paused_until is None
    h.ask(h.add_user("erin"), CHALLENGE)
    assert len(h.dms(helper)) == 5
    assert "looking for a peer" in text_of(h.dms(helper)[-1])


def test_an_answer_breaks_the_run_of_unanswered_offers(harness: Harness) -> None:
    h = harness
    helper = h.add_helper("fiona", FEEDBACK_EXPERT)
    for i in range(4):
        h.ask(h.add_user(f"asker{i}"), f"{CHALLENGE} (case {i})")
        if i == 1:
            h.click(helper, h.dms(helper)[-1], "offer_pass")
            modal = h.emulator.top_modal(helper)
            if modal is not None:
                h.driver.view_submission(helper, modal["id"], {})
                h.settle()
        else:
            h.advance(timedelta(days=1))
    assert not any("went unanswered" in t for t in h.texts(helper))


def test_a_commitment_due_date_is_reminded_that_morning(harness: Harness) -> None:
    h = harness
    asker, helper = paired(h)  # Monday 23 Nov, 09:00 in Los Angeles
    # "Add a commitment" is on the asker's matched receipt (the intro's buttons are both's).
    receipt = next(m for m in h.dms(asker) if "pair_add_commitment" in str(m.get("blocks")))
    h.click(asker, receipt, "pair_add_commitment")
    modal = h.emulator.top_modal(asker)
    assert modal is not None
    h.driver.view_submission(
        asker,
        modal["id"],
        {
            ("commitment_text", "commitment_text_input"): "Talk to Sam about the reviews",
            ("commitment_due", "commitment_due_date"): "2026-11-25",
        },
    )
    h.settle()
    h.advance(timedelta(days=2))  # Wednesday 09:00: not yet
    assert not any("due today" in t for t in h.texts(asker))
    h.advance(timedelta(minutes=30))
    reminder = last_with(h.dms(asker), "due today")
    assert "Talk to Sam about the reviews" in text_of(reminder)
    assert f"<@{helper}>" in text_of(reminder)
    assert "commitment_done" in buttons(reminder)
    with unit_of_work(h.container.sessions) as s:
        c = s.scalars(select(Commitment)).one()
        assert c.reminded_at is not None
        assert c.reminded_at.astimezone(LA).strftime("%a %d %H:%M") == "Wed 25 09:30"
    h.advance(timedelta(days=1))
    assert sum("due today" in t for t in h.texts(asker)) == 1


def test_tell_me_when_someone_can_offers_to_a_new_helper_consent_first(
    harness: Harness,
) -> None:
    h = harness
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    unmet = last_with(h.dms(asker), "We are sorry")
    assert buttons(unmet) == ["ask_wait_for_helper"]
    h.click(asker, unmet, "ask_wait_for_helper")
    waiting = next(m for m in h.dms(asker) if m["ts"] == unmet["ts"])
    assert "We will keep your request" in text_of(waiting)
    assert buttons(waiting) == ["ask_withdraw"]
    # Nobody new: nothing happens. Then a matching helper opts in and is asked (Accept/Pass).
    h.advance(timedelta(minutes=1))
    helper = h.add_helper("fiona", FEEDBACK_EXPERT)
    h.advance(timedelta(minutes=1))
    offer = h.dms(helper)[0]
    assert "offer_accept" in buttons(offer) and "offer_pass" in buttons(offer)
    h.click(helper, offer, "offer_accept")
    assert h.group_messages(asker, helper)
    with unit_of_work(h.container.sessions) as s:
        ask = s.scalars(select(Ask)).one()
        assert ask.status == AskStatus.PAIRED and ask.waiting_until is None


def test_a_waiting_ask_can_be_withdrawn_and_says_so(harness: Harness) -> None:
    """After "Tell me when someone can" the request still waits for a helper: Withdraw
    works, the waiting message says so, and a helper opting in later is not asked."""
    h = harness
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    unmet = last_with(h.dms(asker), "We are sorry")
    h.click(asker, unmet, "ask_wait_for_helper")
    waiting = next(m for m in h.dms(asker) if m["ts"] == unmet["ts"])
    h.click(asker, waiting, "ask_withdraw")
    assert h.emulator.ephemerals_to(asker)[-1]["text"].startswith("Withdrawn")
    withdrawn = next(m for m in h.dms(asker) if m["ts"] == unmet["ts"])
    assert "You withdrew this request" in text_of(withdrawn)
    assert "We will keep your request" not in text_of(withdrawn)
    assert "has been told" not in text_of(withdrawn)  # no peer had it
    assert buttons(withdrawn) == []
    with unit_of_work(h.container.sessions) as s:
        ask = s.scalars(select(Ask)).one()
        assert ask.status == AskStatus.CANCELLED and ask.waiting_until is None
    helper = h.add_helper("fiona", FEEDBACK_EXPERT)
    h.advance(timedelta(minutes=1))
    assert h.dms(helper) == []


def test_a_waiting_ask_ends_after_the_wait_and_the_asker_is_told(harness: Harness) -> None:
    h = harness
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    h.click(asker, last_with(h.dms(asker), "We are sorry"), "ask_wait_for_helper")
    h.advance(timedelta(days=29))
    assert not any("stopped looking" in t for t in h.texts(asker))
    h.advance(timedelta(days=2))
    assert any("stopped looking" in t for t in h.texts(asker))
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Ask)).one().waiting_until is None
    # A helper opting in later is not offered the ended ask.
    helper = h.add_helper("fiona", FEEDBACK_EXPERT)
    h.advance(timedelta(minutes=1))
    assert h.dms(helper) == []


def test_a_passed_offer_of_a_waiting_ask_goes_back_to_waiting_quietly(harness: Harness) -> None:
    h = harness
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    h.click(asker, last_with(h.dms(asker), "We are sorry"), "ask_wait_for_helper")
    helper = h.add_helper("fiona", FEEDBACK_EXPERT)
    h.advance(timedelta(minutes=1))
    before = len(h.dms(asker))
    h.advance(timedelta(days=1))  # the offer lapses
    assert len(h.dms(asker)) == before  # no second "nobody could help"
    with unit_of_work(h.container.sessions) as s:
        ask = s.scalars(select(Ask)).one()
        assert ask.status == AskStatus.UNMET and ask.waiting_until is not None
        assert s.scalars(select(Offer)).one().status == OfferStatus.EXPIRED
    assert len(h.dms(helper)) == 1


def test_the_intro_says_why_this_peer_in_shared_experience_only(harness: Harness) -> None:
    h = harness
    helper = h.add_helper("fiona", FEEDBACK_EXPERT, years_managing=12)
    h.add_helper("gus", "Planned quarterly budgets and negotiated vendor contracts.")
    h.add_helper("hal", "Hired a sales team from scratch in a new region.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    assert h.dms(helper), "the feedback expert is asked first"
    h.click(helper, h.dms(helper)[0], "offer_accept")
    intro = text_of(h.group_messages(asker, helper)[0])
    assert f"Why <@{helper}>:" in intro
    why = intro.split(f"Why <@{helper}>:*", 1)[1]
    assert "expertise" in why or "helped" in why
    for private in ("room for", "answers offers", "accepted", "lately", "rated", "working hours"):
        assert private not in why


def test_urgent_asks_two_helpers_at_once_with_the_shorter_window(harness: Harness) -> None:
    h = harness
    first = h.add_helper("fiona", FEEDBACK_EXPERT)
    second = h.add_helper("gus", "Coached senior engineers through hard feedback on code reviews.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE, urgency="high")
    assert h.dms(first) and h.dms(second), "both asked at once"
    receipt = text_of(h.dms(asker)[0])
    assert "up to two of the best-matched peers at once" in receipt
    with unit_of_work(h.container.sessions) as s:
        offers = s.scalars(select(Offer)).all()
        assert len(offers) == 2
        for o in offers:
            assert o.expires_at is not None and o.sent_at is not None
            assert o.expires_at - o.sent_at == timedelta(hours=2)  # Monday 09:00 → 11:00
    assert "11:00" in receipt
    h.click(second, h.dms(second)[0], "offer_accept")
    assert "Another peer took this one" in text_of(h.dms(first)[0])
    assert buttons(h.dms(first)[0]) == []
    assert h.group_messages(asker, second)
    assert not h.group_messages(asker, first)
    # A normal ask still goes one at a time with the longer window.
    h.ask(h.add_user("bea"), CHALLENGE)
    with unit_of_work(h.container.sessions) as s:
        pending = s.scalars(select(Offer).where(Offer.status == OfferStatus.PENDING)).all()
        assert len(pending) == 1
        assert pending[0].expires_at - pending[0].sent_at == timedelta(hours=4)  # type: ignore[operator]


def test_due_dates_on_a_weekend_are_reminded_on_the_friday() -> None:
    from datetime import UTC, datetime

    from peerbot.domain.followup import commitment_reminder_at

    monday = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles
    at = commitment_reminder_at(date(2026, 11, 29), monday, "America/Los_Angeles")  # Sunday
    assert at is not None and at.astimezone(LA).strftime("%a %H:%M") == "Fri 09:30"
    assert commitment_reminder_at(date(2026, 11, 23), monday, "America/Los_Angeles") is None


def test_a_helper_back_from_the_ghost_pause_is_offered_a_waiting_ask(harness: Harness) -> None:
    h = harness
    helper = h.add_helper("fiona", FEEDBACK_EXPERT)
    for i in range(3):
        h.ask(h.add_user(f"asker{i}"), f"{CHALLENGE} (case {i})")
        h.advance(timedelta(days=1))
    paused = last_with(h.dms(helper), "went unanswered")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)  # the only helper is paused: nobody can help now
    h.click(asker, last_with(h.dms(asker), "We are sorry"), "ask_wait_for_helper")
    h.advance(timedelta(minutes=1))
    assert len(h.dms(helper)) == 4
    h.click(helper, paused, "helper_resume_now")
    h.advance(timedelta(minutes=1))
    offer = h.dms(helper)[-1]
    assert "offer_accept" in buttons(offer)
    assert CHALLENGE in text_of(offer)
    # The pause message no longer offers a button that would do nothing.
    assert buttons(next(m for m in h.dms(helper) if m["ts"] == paused["ts"])) == []


def test_another_peer_with_nobody_left_tells_the_asker_honestly(harness: Harness) -> None:
    h = harness
    asker, helper = paired(h)
    h.advance(timedelta(days=3, minutes=30))
    h.click(asker, meet_message(h, asker), "meet_no")
    final = next(m for m in reversed(h.dms(asker)) if "Thanks for telling us" in text_of(m))
    unmet_before = sum("We are sorry" in t for t in h.texts(asker))
    h.click(asker, final, "pair_another_peer")
    # Nobody else matches: the asker is told (a second "nobody could help", with its button).
    assert sum("We are sorry" in t for t in h.texts(asker)) == unmet_before + 1
    assert "ask_wait_for_helper" in buttons(h.dms(asker)[-1])
    assert "released you" in text_of(h.dms(helper)[-1])
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Ask)).one().status == AskStatus.UNMET
        assert s.scalars(select(Pair)).one().status == PairStatus.CLOSED


def test_why_for_asker_keeps_shared_experience_and_drops_private_settings() -> None:
    from peerbot.domain.followup import why_for_asker

    explanation = (
        "Has helped on 2 similar asks, e.g. 'My report cries in every 1:1'; has room for 1 more "
        "ask; usually answers offers within 3 h; accepted 4 of 5 offers; rated 4.5/5 by 2 "
        "people; shares 6 working hours with you; expertise mentions 'feedback', 'senior'"
    )
    why = why_for_asker(explanation)
    assert why == "Has helped on 2 similar asks; expertise mentions 'feedback', 'senior'"
    assert why_for_asker("Available and opted in to help") == ""
    assert why_for_asker("Closest past help: 'someone else's question'") == (
        "Has helped with something close to this"
    )


def test_a_paused_pairings_did_you_meet_waits_for_it_to_resume(harness: Harness) -> None:
    """Check-ins paused (the asker went quiet), both answer "Not yet" to "did you meet?": each
    is told truly that the question waits for the check-ins to resume, the tick holds it (it
    used to delete it: never asked again), and it is asked once the asker resumes them."""
    h = harness
    asker, helper = paired(h)
    until_paused(h)
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Pair)).one().status == PairStatus.PAUSED
    paused = last_with(h.dms(asker), "paused them")

    h.click(helper, meet_message(h, helper), "meet_not_yet")
    h.click(asker, meet_message(h, asker), "meet_not_yet")
    for me, words in ((helper, f"wait to hear from <@{asker}>"), (asker, "Your check-ins")):
        answer = text_of(last_with(h.dms(me), "Not yet: no problem"))
        assert words in answer and "ask again once they resume" in answer
        assert "3 days" not in answer
    asked = {me: sum("manage to meet" in t for t in h.texts(me)) for me in (asker, helper)}
    for _ in range(10):  # well past the 3 days: held, neither sent nor dropped
        h.advance(timedelta(days=1))
    assert {me: sum("manage to meet" in t for t in h.texts(me)) for me in asked} == asked
    with unit_of_work(h.container.sessions) as s:
        held = s.scalars(select(MeetingCheck).where(MeetingCheck.sent_at.is_(None))).all()
        assert sorted(str(c.side) for c in held) == ["asker", "helper"]

    h.click(asker, paused, ids.PAIR_RESUME_CHECKINS)
    h.advance(timedelta(days=1))  # a Saturday: it waits for their working hours
    assert {me: sum("manage to meet" in t for t in h.texts(me)) for me in asked} == asked
    h.advance(timedelta(days=2))  # Monday morning
    for me in (asker, helper):
        assert sum("manage to meet" in t for t in h.texts(me)) == asked[me] + 1
        assert buttons(meet_message(h, me)) == ["meet_yes", "meet_not_yet", "meet_no"]
    h.click(helper, meet_message(h, helper), "meet_yes")
    with unit_of_work(h.container.sessions) as s:
        assert pairs_that_met(s, h.team) == 1
