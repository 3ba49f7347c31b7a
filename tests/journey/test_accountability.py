"""Time travel through the accountability loop: intro, commitment, check-in, stuck, helper
nudge, done, close-out with rating and thanks (on both databases)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from peerbot.store.db import unit_of_work
from peerbot.store.models import (
    Checkin,
    Commitment,
    CommitmentStatus,
    Feedback,
    FeedbackRole,
    OutboxMessage,
    Outcome,
    Pair,
    PairStatus,
)
from tests.fixtures.app import Harness
from tests.journey.test_ask_accept import text_of

CHALLENGE = "How do I give hard feedback to a senior engineer about their code reviews?"


def paired(h: Harness, asker_tz: str = "America/Los_Angeles") -> tuple[str, str]:
    helper = h.add_helper("fiona", "Gave hard feedback to senior engineers about behaviour.")
    asker = h.add_user("alex", tz=asker_tz)
    h.ask(asker, CHALLENGE)
    h.click(helper, h.dms(helper)[0], "offer_accept")
    return asker, helper


def last_with(messages: list[dict[str, Any]], needle: str) -> dict[str, Any]:
    return next(m for m in reversed(messages) if needle in text_of(m))


def until_paused(h: Harness, days: int = 40) -> None:
    """Advance a day at a time until the (one) pairing's check-ins pause (the asker went
    quiet); fails if they never do within ``days``."""
    for _ in range(days):
        h.advance(timedelta(days=1))
        with unit_of_work(h.container.sessions) as s:
            if s.scalars(select(Pair)).one().status == PairStatus.PAUSED:
                return
    raise AssertionError(f"the pairing did not pause within {days} days")


def receipt(h: Harness, asker: str) -> dict[str, Any]:
    """The asker's receipt once paired (their own DM): it carries Add a commitment."""
    return next(m for m in h.dms(asker) if "pair_add_commitment" in str(m.get("blocks")))


def add_commitment(h: Harness, asker: str, message: dict[str, Any], text: str) -> None:
    h.click(asker, message, "pair_add_commitment")
    modal = h.emulator.top_modal(asker)
    assert modal is not None
    assert modal["callback_id"] == "commitment_add"
    r = h.driver.view_submission(
        asker, modal["id"], {("commitment_text", "commitment_text_input"): text}
    )
    assert r.status == 200
    h.settle()


def test_whole_loop(harness: Harness) -> None:
    h = harness
    asker, helper = paired(h)
    intro = h.group_messages(asker, helper)[0]
    # The intro, read by both, has only the button both can use; the asker commits from the
    # receipt in their own DM.
    assert "pair_add_commitment" not in str(intro["blocks"])
    assert "pair_close" in str(intro["blocks"])
    add_commitment(h, asker, receipt(h, asker), "Talk to Sam about the review comments on Friday")
    group = h.group_messages(asker, helper)
    assert "commits: Talk to Sam about the review comments" in text_of(group[-1])

    # Nothing before the week is out; then a check-in at 10:00 on a weekday, asker's time.
    before = len(h.dms(asker))
    h.advance(timedelta(days=5))
    assert len(h.dms(asker)) == before
    h.advance(timedelta(days=3))
    checkin = last_with(h.dms(asker), "Time for a quick check-in")
    assert "Talk to Sam about the review comments" in text_of(checkin)
    with unit_of_work(h.container.sessions) as s:
        c = s.scalars(select(Checkin).where(Checkin.sent_at.is_not(None))).one()
        due_local = c.due_at.astimezone(ZoneInfo("America/Los_Angeles"))
        assert due_local.hour == 10 and due_local.weekday() < 5

    # Stuck: the helper is nudged with the context.
    h.click(asker, checkin, "checkin_answer_stuck")
    nudge = last_with(h.dms(helper), "stuck")
    assert "Talk to Sam" in text_of(nudge) and f"<@{asker}>" in text_of(nudge)
    assert any("You answered: Stuck" in text_of(m) for m in h.dms(asker))

    # Next week: done.
    h.advance(timedelta(days=7))
    checkin2 = last_with(h.dms(asker), "Time for a quick check-in")
    assert checkin2["ts"] != checkin["ts"]
    h.click(asker, checkin2, "checkin_answer_done")
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Commitment)).one().status == CommitmentStatus.DONE

    # Close-out by the asker: outcome, rating and thanks; the thanks reaches the helper.
    h.click(asker, h.group_messages(asker, helper)[0], "pair_close")
    modal = h.emulator.top_modal(asker)
    assert modal is not None
    assert modal["callback_id"] == "pair_close_feedback"
    h.driver.view_submission(
        asker,
        modal["id"],
        {
            ("close_outcome", "close_outcome_radio"): "resolved",
            ("close_rating", "close_rating_select"): "5",
            ("close_thanks", "close_thanks_input"): "Thank you <!here>, that call changed my week.",
        },
    )
    h.settle()
    thanks = last_with(h.dms(helper), "says thank you")
    assert "that call changed my week" in text_of(thanks)
    assert "<!here>" not in text_of(thanks)
    assert "closed this pairing" in text_of(h.group_messages(asker, helper)[-1])
    # The helper is asked for a reflection and gives it.
    request = last_with(h.dms(helper), "one-line reflection")
    h.click(helper, request, "pair_feedback_open")
    modal = h.emulator.top_modal(helper)
    assert modal is not None
    h.driver.view_submission(
        helper, modal["id"], {("close_reflection", "close_reflection_input"): "Listen first."}
    )
    h.settle()
    with unit_of_work(h.container.sessions) as s:
        pair = s.scalars(select(Pair)).one()
        assert pair.status == PairStatus.CLOSED
        feedback = {f.role: f for f in s.scalars(select(Feedback))}
        assert feedback[FeedbackRole.ASKER].rating == 5
        assert feedback[FeedbackRole.ASKER].outcome == Outcome.RESOLVED
        assert feedback[FeedbackRole.HELPER].reflection == "Listen first."
        assert s.scalars(select(Checkin).where(Checkin.sent_at.is_(None))).all() == []
    # The outbox carries ids, never what people typed: the question, the commitment and the
    # thanks were shown above, rendered from their own tables at send time. (Read before the
    # weeks below: sent rows are pruned 30 days after sending.)
    with unit_of_work(h.container.sessions) as s:
        rows = s.scalars(select(OutboxMessage)).all()
        stored = json.dumps([r.payload for r in rows]) + " ".join(r.notice for r in rows)
        kinds = {r.notice for r in rows}
    assert {
        "offer_request", "ask_received", "intro", "ask_matched", "offer_closed",
        "commitment_added", "checkin", "stuck_nudge", "checkin_answered", "pair_closed",
        "feedback_request", "thanks",
    } <= kinds  # fmt: skip
    for typed in ("senior engineer", "Talk to Sam", "changed my week", "Listen first"):
        assert typed not in stored
    # No more check-ins after the close.
    n = len(h.dms(asker))
    h.advance(timedelta(days=21))
    assert len(h.dms(asker)) == n


def test_helper_closes_first_and_commitment_done_button(harness: Harness) -> None:
    h = harness
    asker, helper = paired(h)
    add_commitment(h, asker, receipt(h, asker), "Book a call with my skip level")
    for _ in range(8):
        h.advance(timedelta(days=1))
    checkin = last_with(h.dms(asker), "Time for a quick check-in")
    # The helper cannot mark the asker's commitment done; the asker can.
    with unit_of_work(h.container.sessions) as s:
        commitment_id = s.scalars(select(Commitment)).one().id
    assert h.container.pairs.commitment_done(h.team, commitment_id, helper) == "not_yours"
    h.click(asker, checkin, "commitment_done")
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Commitment)).one().status == CommitmentStatus.DONE
    # The helper closes with a reflection; the asker is asked how it went.
    h.click(helper, h.group_messages(asker, helper)[0], "pair_close")
    modal = h.emulator.top_modal(helper)
    assert modal is not None
    blocks = {b.get("block_id") for b in modal["blocks"]}
    assert "close_reflection" in blocks and "close_rating" not in blocks
    h.driver.view_submission(
        helper, modal["id"], {("close_reflection", "close_reflection_input"): "Good pairing."}
    )
    h.settle()
    request = last_with(h.dms(asker), "How did it go?")
    h.click(asker, request, "pair_feedback_open")
    modal = h.emulator.top_modal(asker)
    assert modal is not None
    h.driver.view_submission(
        asker,
        modal["id"],
        {
            ("close_outcome", "close_outcome_radio"): "partly",
            ("close_rating", "close_rating_select"): "4",
        },
    )
    h.settle()
    with unit_of_work(h.container.sessions) as s:
        pair = s.scalars(select(Pair)).one()
        assert pair.status == PairStatus.CLOSED
        assert pair.closed_by == helper
        ratings = {f.role: f.rating for f in s.scalars(select(Feedback))}
        assert ratings == {FeedbackRole.HELPER: None, FeedbackRole.ASKER: 4}
    # No thanks was given, so none is delivered.
    assert not any("says thank you" in text_of(m) for m in h.dms(helper))
