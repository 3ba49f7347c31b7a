"""Ends told truly, through real Bolt request handling and the Slack emulator, on both
databases: a request still waiting after "Tell me when someone can" (in App Home, and when its
asker leaves), a closed pairing's old buttons, counts, and leaving a circle."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from peerbot.domain.ports import Embedder
from peerbot.services.pairs import Result, pairs_that_met
from peerbot.slack import ids
from peerbot.slack.listeners import circles as circle_listeners
from peerbot.slack.listeners import follow as follow_listeners
from peerbot.slack.listeners import pairs as pair_listeners
from peerbot.store.db import unit_of_work
from peerbot.store.models import (
    Ask,
    AskStatus,
    Cadence,
    Checkin,
    Circle,
    CircleMember,
    CircleStatus,
    Commitment,
    CommitmentStatus,
    MeetingCheck,
    Pair,
    PairStatus,
    Person,
)
from tests.fixtures.app import Harness, make_harness
from tests.journey.test_accountability import add_commitment, last_with, paired, receipt
from tests.journey.test_ask_accept import text_of
from tests.journey.test_circles import join
from tests.journey.test_follow_through import CHALLENGE, FEEDBACK_EXPERT, meet_message
from tests.journey.test_privacy import _deactivate
from tests.journey.test_undo_and_home import buttons, click_home, home, home_text


def _waiting_ask(h: Harness) -> str:
    """An asker whose request nobody could take, waiting after "Tell me when someone can"."""
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    h.click(asker, last_with(h.dms(asker), "We are sorry"), "ask_wait_for_helper")
    return asker


def test_a_waiting_request_of_someone_who_left_slack_is_offered_to_nobody(
    harness: Harness,
) -> None:
    """Someone deactivated in Slack has what is in progress ended: that includes a request
    still waiting after it went unmet, which a helper opting in later must not be offered."""
    h = harness
    asker = _waiting_ask(h)
    _deactivate(h, asker)
    with unit_of_work(h.container.sessions) as s:
        ask = s.scalars(select(Ask)).one()
        assert ask.status == AskStatus.CANCELLED and ask.waiting_until is None
    helper = h.add_helper("fiona", FEEDBACK_EXPERT)
    h.advance(timedelta(minutes=1))
    assert h.dms(helper) == []


def test_withdrawn_while_offered_during_its_wait_the_waiting_dm_says_so(
    harness: Harness,
) -> None:
    """A waiting request offered to a newly available helper, then withdrawn from its waiting
    DM: that DM (not only the receipt) says it was withdrawn and that the peer was told, and
    loses its Withdraw button; the helper's offer says it was withdrawn."""
    h = harness
    asker = _waiting_ask(h)
    unmet = last_with(h.dms(asker), "We will keep your request")
    helper = h.add_helper("fiona", FEEDBACK_EXPERT)
    h.advance(timedelta(minutes=1))
    assert "offer_accept" in buttons(h.dms(helper)[0])
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Ask.status)).one() == AskStatus.OFFERED
    h.click(asker, unmet, "ask_withdraw")
    waiting_dm = next(m for m in h.dms(asker) if m["ts"] == unmet["ts"])
    assert "You withdrew this request" in text_of(waiting_dm)
    assert "has been told" in text_of(waiting_dm)
    assert "We will keep your request" not in text_of(waiting_dm)
    assert buttons(waiting_dm) == set()
    assert "withdrawn" in text_of(h.dms(helper)[0])


def test_app_home_lists_a_waiting_request_to_its_asker_only_with_withdraw(
    harness: Harness,
) -> None:
    """A request waiting after "Tell me when someone can" is in its asker's App Home, with
    Withdraw (not Edit, which would be refused), and nobody else's; Withdraw there works."""
    h = harness
    asker = _waiting_ask(h)
    other = h.add_helper("gus", "Planned quarterly budgets and negotiated vendor contracts.")
    view = home(h, asker)
    mine = home_text(view)
    assert CHALLENGE in mine and "nobody was free" in mine
    assert ids.ASK_WITHDRAW in buttons(view) and ids.ASK_EDIT not in buttons(view)
    theirs = home(h, other)
    assert CHALLENGE not in home_text(theirs) and ids.ASK_WITHDRAW not in buttons(theirs)

    click_home(h, asker, ids.ASK_WITHDRAW)
    with unit_of_work(h.container.sessions) as s:
        ask = s.scalars(select(Ask)).one()
        assert ask.status == AskStatus.CANCELLED and ask.waiting_until is None
    assert "You withdrew this request" in text_of(last_with(h.dms(asker), "withdrew"))
    refreshed = h.emulator.home_view(asker) or {}
    assert CHALLENGE not in home_text(refreshed) and ids.ASK_WITHDRAW not in buttons(refreshed)


# --------------------------------------------------------------------------- a closed pairing


def _closed_pair_with_old_checkin(h: Harness) -> tuple[str, str, dict[str, Any], int]:
    """A pairing with a commitment and a sent check-in, then closed by the helper while the
    asker's Slack still shows the check-in's buttons (its update cannot reach Slack yet)."""
    asker, helper = paired(h)
    add_commitment(h, asker, receipt(h, asker), "Book a call with my skip level")
    for _ in range(8):
        h.advance(timedelta(days=1))
    checkin = last_with(h.dms(asker), "Time for a quick check-in")
    assert {"commitment_done", "checkin_answer_done", "pair_snooze"} <= buttons(checkin)
    with unit_of_work(h.container.sessions) as s:
        pair_id = s.scalars(select(Pair)).one().id
    h.emulator.inject_error("chat.update", times=None)  # old messages keep their buttons
    _close_as_helper(h, asker, helper)
    return asker, helper, checkin, pair_id


def test_a_closed_pairings_old_buttons_record_nothing_and_say_it_ended(
    harness: Harness,
) -> None:
    h = harness
    asker, _, checkin, pair_id = _closed_pair_with_old_checkin(h)
    closed = pair_listeners.REPLIES[Result.CLOSED]

    # A commitment's Done: not marked done, and no "Nice work!" for it.
    h.click(asker, checkin, "commitment_done")
    assert h.emulator.ephemerals_to(asker)[-1]["text"] == closed
    # The cadence menu: check-ins are not said to be "now weekly" on a pairing without any.
    r = h.driver.block_action(
        asker,
        "pair_snooze",
        value=f"{pair_id}:biweekly",
        channel_id=checkin["channel"],
        message_ts=checkin["ts"],
    )
    assert r.status == 200
    h.settle()
    assert h.emulator.ephemerals_to(asker)[-1]["text"] == closed
    # An answer: refused too.
    h.click(asker, checkin, "checkin_answer_done")
    assert h.emulator.ephemerals_to(asker)[-1]["text"] == closed
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Commitment)).one().status == CommitmentStatus.OPEN
        assert s.scalars(select(Pair)).one().cadence == Cadence.WEEKLY
        assert all(c.answered_at is None for c in s.scalars(select(Checkin)))

    # Once Slack takes updates again, the old check-in shows no buttons and says why.
    h.emulator.clear_faults()
    h.advance(timedelta(minutes=10))
    now = next(m for m in h.dms(asker) if m["ts"] == checkin["ts"])
    assert buttons(now) == set()
    assert "has ended" in text_of(now) and "Book a call with my skip level" not in text_of(now)


def test_a_paused_pairing_closed_leaves_the_asker_no_resume_button(harness: Harness) -> None:
    """Check-ins paused after no answers, then the pairing closed: the asker's pause message
    (Resume check-ins, Add a commitment) says it has ended; the helper's keeps its Close, which
    still opens the feedback form."""
    h = harness
    asker, helper = paired(h)
    for _ in range(26):  # two check-ins and the bump unanswered: paused
        h.advance(timedelta(days=1))
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Pair)).one().status == PairStatus.PAUSED
    paused = last_with(h.dms(asker), "paused them")
    assert "pair_resume_checkins" in buttons(paused)
    helper_paused = last_with(h.dms(helper), "paused them")
    h.click(helper, helper_paused, "pair_close")
    modal = h.emulator.top_modal(helper)
    assert modal is not None
    h.driver.view_submission(
        helper, modal["id"], {("close_reflection", "close_reflection_input"): "Went quiet."}
    )
    h.settle()
    now = next(m for m in h.dms(asker) if m["ts"] == paused["ts"])
    assert buttons(now) == set() and "has ended" in text_of(now)
    assert buttons(next(m for m in h.dms(helper) if m["ts"] == helper_paused["ts"])) == {
        "pair_close"
    }


def _close_as_helper(h: Harness, asker: str, helper: str) -> None:
    """The helper closes the pairing from the group DM (the close-out form, submitted)."""
    h.click(helper, h.group_messages(asker, helper)[0], "pair_close")
    modal = h.emulator.top_modal(helper)
    assert modal is not None
    h.driver.view_submission(
        helper, modal["id"], {("close_reflection", "close_reflection_input"): "Good pairing."}
    )
    h.settle()
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Pair)).one().status == PairStatus.CLOSED


def _same(h: Harness, user: str, message: dict[str, Any]) -> dict[str, Any]:
    """``message`` as ``user``'s DM shows it now."""
    return next(m for m in h.dms(user) if m["ts"] == message["ts"])


def test_a_closed_pairing_takes_add_a_commitment_off_the_receipt_and_yes_we_met(
    harness: Harness,
) -> None:
    """The asker's receipt ("you are matched") and their "Yes, we met" reply both offer Add a
    commitment, which a closed pairing refuses: at close each says the pairing has ended,
    without buttons; so does the helper's "did you meet?" not yet answered."""
    h = harness
    asker, helper = paired(h)
    matched = receipt(h, asker)
    h.advance(timedelta(days=3, minutes=30))  # "did you meet?" to both
    h.click(asker, meet_message(h, asker), "meet_yes")
    met = last_with(h.dms(asker), "You met")
    assert "pair_add_commitment" in buttons(met)
    helper_meet = meet_message(h, helper)
    assert "meet_yes" in buttons(helper_meet)

    _close_as_helper(h, asker, helper)
    for user, message in ((asker, matched), (asker, met), (helper, helper_meet)):
        now = _same(h, user, message)
        assert buttons(now) == set(), text_of(now)
        assert "has ended" in text_of(now)


def test_did_you_meet_on_a_closed_pairing_records_nothing_and_says_it_ended(
    harness: Harness,
) -> None:
    """A "did you meet?" still on screen after the pairing closed (Slack refused its update):
    an answer records nothing (no meeting counted, no question asked again, no offer of
    another peer) and says the pairing has ended; once Slack takes updates, the message has
    no buttons."""
    h = harness
    asker, helper = paired(h)
    h.advance(timedelta(days=3, minutes=30))
    asker_meet, helper_meet = meet_message(h, asker), meet_message(h, helper)
    h.emulator.inject_error("chat.update", times=None)  # old messages keep their buttons
    _close_as_helper(h, asker, helper)
    before = len(h.dms(asker))

    ended = follow_listeners.MEET_REPLIES[Result.CLOSED]
    h.click(helper, helper_meet, "meet_yes")
    assert [e["text"] for e in h.emulator.ephemerals_to(helper)][-1:] == [ended]
    h.click(asker, asker_meet, "meet_not_yet")
    assert [e["text"] for e in h.emulator.ephemerals_to(asker)][-1:] == [ended]
    h.click(asker, asker_meet, "meet_no")
    assert [e["text"] for e in h.emulator.ephemerals_to(asker)][-1:] == [ended]
    with unit_of_work(h.container.sessions) as s:
        checks = s.scalars(select(MeetingCheck)).all()
        assert len(checks) == 2
        assert all(c.answered_at is None and c.answer is None for c in checks)
        assert pairs_that_met(s, h.team) == 0
    assert len(h.dms(asker)) == before  # no "another peer" offer

    h.emulator.clear_faults()
    h.advance(timedelta(minutes=10))
    for user, message in ((asker, asker_meet), (helper, helper_meet)):
        now = _same(h, user, message)
        assert buttons(now) == set() and "has ended" in text_of(now)


def test_another_peer_while_slack_fails_leaves_the_receipt_matched_not_ended(
    harness: Harness,
) -> None:
    """ "Try another peer" pressed while Slack refuses chat.update: the asker's receipt is due
    to say the first pairing has ended, but that update keeps failing (its retries backing
    off) while the next helper accepts. Once Slack takes updates again the receipt shows the
    new match with its buttons, and the older "has ended" is never applied after it (it is
    superseded, not sent late)."""
    h = harness
    first = h.add_helper("fiona", "Gave hard feedback to senior engineers about code reviews.")
    second = h.add_helper("gus", "Coached senior engineers through hard feedback on code reviews.")
    asker = h.add_user("alex")
    h.ask(asker, "How do I give hard feedback to a senior engineer about their code reviews?")
    offered, other = h.first_offered(first, second)
    h.click(offered, h.dms(offered)[0], "offer_accept")
    matched = receipt(h, asker)
    h.advance(timedelta(days=3, minutes=30))
    h.click(asker, meet_message(h, asker), "meet_yes")
    done = last_with(h.dms(asker), "You met")

    h.emulator.inject_error("chat.update", "internal_error", status=500, times=None)
    h.click(asker, done, "pair_another_peer")
    for _ in range(4):  # the "has ended" update retries, each wait twice the last
        h.advance(timedelta(minutes=1))
    h.click(other, h.dms(other)[0], "offer_accept")  # its "matched" update fails once
    with unit_of_work(h.container.sessions) as s:
        assert [p.status for p in s.scalars(select(Pair).order_by(Pair.id))] == [
            PairStatus.CLOSED,
            PairStatus.ACTIVE,
        ]
    assert "has ended" not in text_of(_same(h, asker, matched))  # nothing got through yet
    h.emulator.clear_faults()
    h.advance(timedelta(seconds=5))  # the newer update is due again, the older not yet
    assert f"<@{other}> accepted" in text_of(_same(h, asker, matched))
    h.advance(timedelta(minutes=15))  # every retry due

    now = _same(h, asker, matched)
    assert f"<@{other}> accepted" in text_of(now)
    assert "has ended" not in text_of(now)
    assert {"pair_add_commitment", "pair_close"} <= buttons(now)
    applied = [
        text_of(c.args)
        for c in h.emulator.calls_to("chat.update")
        if c.ok and c.args.get("ts") == matched["ts"]
    ]
    assert applied and f"<@{other}> accepted" in applied[-1]
    assert not any("has ended" in t for t in applied), applied


# --------------------------------------------------------------------------- counts


def test_app_home_says_one_day_not_one_days(
    engine: Engine, db_url: str, real_embedder: Embedder
) -> None:
    """A workspace keeping requests one day after they end: App Home's privacy text says so in
    words that agree ("1 day", not "1 days")."""
    for h in make_harness(engine, db_url, real_embedder, retention_days=1):
        text = home_text(home(h, h.add_user("alex")))
        assert "Kept until 1 day after the request ended" in text
        assert "1 days" not in text


# --------------------------------------------------------------------------- circles


def test_leaving_a_circle_says_what_happened_also_when_it_closes(harness: Harness) -> None:
    """Leave this circle answers truly: "smaller" while the circle goes on; "closed" when this
    leaving closed it; on a closed circle it records nothing and says it has closed; pressed
    again by someone who left, it says they left already."""
    h = harness
    users = [h.add_user(f"s{i}", tz="Europe/London") for i in range(4)]
    for uid in users:
        join(h, uid, "Running effective one-to-ones with my reports", "Engineering")
    assert h.container.circles.form_round(h.team).sizes == [4]  # type: ignore[union-attr]
    h.settle()
    opening = h.group_messages(*users)[0]

    def reply(user: str) -> str:
        h.click(user, opening, "circle_leave")
        return str(h.emulator.ephemerals_to(user)[-1]["text"])

    assert reply(users[0]) == circle_listeners.LEFT_CIRCLE  # 3 left: it goes on
    closing = reply(users[1])  # 2 left: it closes
    assert "smaller" not in closing and "closed" in closing
    on_closed = reply(users[2])
    assert "already closed" in on_closed and "You have left" not in on_closed
    assert "already left" in reply(users[0])
    with unit_of_work(h.container.sessions) as s:
        left = dict(
            s.execute(
                select(Person.slack_user_id, CircleMember.left_at).join(
                    CircleMember, CircleMember.person_id == Person.id
                )
            ).all()
        )
        assert s.scalars(select(Circle)).one().status == CircleStatus.CLOSED
    assert left[users[0]] is not None and left[users[1]] is not None
    assert left[users[2]] is None and left[users[3]] is None  # the circle closed around them
