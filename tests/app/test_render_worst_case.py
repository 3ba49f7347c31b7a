"""Every notice renders to a message Slack accepts, at its worst case: the longest text each field
allows, made of ``&``, ``<`` and ``>`` (which escaping makes longer), emoji and combining marks,
and the most commitments a message lists. Checked with slack_sdk's models and with the emulator's
Block Kit rules (the same ones that answer ``invalid_blocks``)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from slack_sdk.models.blocks import Block

from peerbot.domain import circle_notices as cn
from peerbot.domain import notices as n
from peerbot.domain.journey_notices import (
    AskEdited,
    AskEnded,
    AskWithdrawn,
    HelperPaused,
    OfferEdited,
    PairMessageEnded,
    PairPausedTo,
)
from peerbot.domain.limits import MAX_CHALLENGE, MAX_FIELD
from peerbot.domain.programme_notices import HelperStatusChanged
from peerbot.sandbox.blockkit import validate_message_blocks
from peerbot.services.programme_admin import HELPER_ACTIONS
from peerbot.slack.render import render
from peerbot.store.notice_facts import MAX_LISTED

#: Escaping turns each of these into 4 or 5 characters; emoji and a combining accent follow.
NASTY = "&<>&<>👩🏽‍💻é\u0301 "
WHEN = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)


def nasty(length: int) -> str:
    """``length`` characters of the worst text a person can type."""
    return (NASTY * (length // len(NASTY) + 1))[:length]


ASK = n.AskView(
    ask_id=1,
    asker="U0ASKER",
    asker_tz="Pacific/Auckland",
    anonymous=False,
    challenge=nasty(MAX_CHALLENGE),
    desired_result=nasty(MAX_FIELD),
    obstacles=nasty(MAX_FIELD),
    urgency="high",
)
COMMITMENTS = tuple(
    n.CommitmentView(commitment_id=2**31 - 1 - i, text=nasty(500), due=date(2026, 12, 24))
    for i in range(MAX_LISTED)
)
PAIR = n.PairView(
    pair_id=7,
    ask=ASK,
    asker="U0ASKER",
    helper="U0HELPER",
    closed_by="U0ASKER",
    open_commitments=COMMITMENTS,
    why=nasty(2000),
)


CIRCLE = cn.CircleView(
    circle_id=2**31 - 1,
    theme=nasty(200),
    members=tuple(
        cn.CircleMemberView(i, f"U{i:09d}", "Pacific/Chatham", nasty(600), nasty(120))
        for i in range(10)
    ),
    facilitator="U000000003",
    starts_at=WHEN,
    ends_at=WHEN,
    next_prompt_at=WHEN,
    private=True,
    closed=False,
)


class WorstFacts:
    """Every fact at its longest."""

    def ask(self, ask_id: int) -> n.AskView:
        return ASK

    def offer(self, offer_id: int) -> n.OfferView:
        return n.OfferView(
            offer_id=offer_id,
            ask=ASK,
            helper="U0HELPER",
            helper_tz="America/Los_Angeles",
            explanation=nasty(2000),
            expires_at=WHEN,
        )

    def pair(self, pair_id: int) -> n.PairView:
        return PAIR

    def checkin(self, checkin_id: int) -> n.CheckinView:
        return n.CheckinView(checkin_id=checkin_id, pair=PAIR, answer="stuck")

    def commitment(self, commitment_id: int) -> tuple[n.CommitmentView, n.PairView]:
        return COMMITMENTS[0], PAIR

    def thanks(self, pair_id: int) -> str:
        return nasty(MAX_FIELD)

    def circle(self, circle_id: int) -> cn.CircleView:
        return CIRCLE

    def circle_prompt(self, prompt_id: int) -> cn.CirclePromptView:
        return cn.CirclePromptView(
            prompt_id=prompt_id,
            circle=CIRCLE,
            week=26,
            presenter="U0PRESENTER",
            sent_at=WHEN,
            last_week=tuple(cn.CircleActionView(i, f"U{i:09d}", nasty(500), 25) for i in range(10)),
        )

    def circle_action(self, action_id: int) -> tuple[cn.CircleActionView, cn.CircleView]:
        return cn.CircleActionView(action_id, "U0MEMBER", nasty(500), 3), CIRCLE

    def circle_person(self, person_id: int) -> str:
        return "U0MEMBER"

    def export(self, person_id: int) -> str:
        # Long lines of the nastiest characters, far more than one message holds.
        return "\n".join(nasty(MAX_CHALLENGE) for _ in range(100))


def worst_notices() -> list[n.Notice]:
    """One notice of every kind (the test below fails when a kind is missing here)."""
    return [
        n.AskReceived(ask_id=1, answer_by=WHEN, max_offers=3),
        n.AskMatched(ask_id=1, pair_id=7),
        n.AskUnmet(ask_id=1, tried=3),
        n.AskNotSent(ask_id=1),
        *(n.IntroFailed(pair_id=7, to=side) for side in n.Side),
        n.OfferRequest(offer_id=5),
        *(n.OfferClosed(offer_id=5, state=s) for s in n.OfferState),
        n.PairEnded(pair_id=5, started=date(2026, 12, 31)),
        n.DataExport(person_id=5),
        n.HelperInvite(person_id=5, capacity=20),
        *(n.HelperInviteAnswered(person_id=5, yes=y) for y in (True, False)),
        n.Intro(pair_id=7),
        n.CheckinDue(checkin_id=9, bump=True),
        n.CheckinAnswered(checkin_id=9),
        n.HelperCheck(checkin_id=9),
        n.HelperCheckAnswered(checkin_id=9),
        n.StuckNudge(checkin_id=9),
        n.PairPaused(pair_id=7),
        n.CommitmentAdded(commitment_id=1),
        n.PairClosed(pair_id=7),
        *(n.FeedbackRequest(pair_id=7, to=side) for side in n.Side),
        n.Thanks(pair_id=7),
        *(cn.CircleNotPlaced(person_id=5, round_id=1, reason=r) for r in cn.UnplacedReason),
        cn.CircleOpening(circle_id=1),
        cn.CirclePromptDue(prompt_id=1),
        cn.CircleActionAdded(action_id=1),
        *(cn.CirclePulse(circle_id=1, person_id=5, stage=s) for s in cn.FeedbackKind),
        *(cn.CirclePulseAnswered(circle_id=1, person_id=5, stage=s) for s in cn.FeedbackKind),
        cn.CircleSmaller(circle_id=1, members=9),
        cn.CircleClosed(circle_id=1, person_id=5, too_small=True),
        *(HelperStatusChanged(person_id=5, change=c) for c in HELPER_ACTIONS),
        AskWithdrawn(ask_id=1),
        AskEnded(ask_id=1),
        AskEdited(ask_id=1, answer_by=WHEN, max_offers=3),
        OfferEdited(offer_id=5),
        *(PairPausedTo(pair_id=7, to=side) for side in n.Side),
        PairMessageEnded(pair_id=7),
        HelperPaused(person_id=5, until=date(2026, 12, 31)),
        # Follow-through (issue 13)
        *(n.MeetCheck(meeting_id=3, pair_id=7, to=side) for side in n.Side),
        *(
            n.MeetAnswered(meeting_id=3, pair_id=7, to=side, answer=a)
            for side in n.Side
            for a in n.MeetAnswer
        ),
        n.AnotherPeerOffer(pair_id=7),
        n.Rematching(ask_id=1, pair_id=7, answer_by=WHEN),
        n.HelperReleased(pair_id=7),
        n.HelperAutoPaused(person_id=5, missed=3, until=date(2026, 12, 31)),
        n.HelperResumed(person_id=5),
        n.CommitmentReminder(commitment_id=1),
        n.AskWaiting(ask_id=1, until=WHEN),
        n.AskWaitEnded(ask_id=1),
    ]


def test_every_notice_kind_is_covered() -> None:
    assert {type(x).kind for x in worst_notices()} == set(n.notice_types())


@pytest.mark.parametrize("notice", worst_notices(), ids=lambda x: f"{type(x).kind}")
def test_the_worst_case_renders_to_a_message_slack_accepts(notice: n.Notice) -> None:
    message = render(notice, WorstFacts())
    blocks = message["blocks"]
    assert 0 < len(blocks) <= 50
    assert 0 < len(message["text"]) <= 4000
    assert validate_message_blocks(blocks) == []
    for raw in blocks:
        parsed = Block.parse(raw)
        assert parsed is not None
        parsed.validate_json()  # slack_sdk's own limits (raises on a breach)
        if raw["type"] == "section":
            assert len(raw["text"]["text"]) <= 3000
    # User text is escaped: no raw "<" from the person reaches Slack (only our own mentions).
    mrkdwn = " ".join(
        str(b.get("text", {}).get("text", "")) for b in blocks if b["type"] == "section"
    )
    assert "<>" not in mrkdwn and "<&" not in mrkdwn


def test_a_long_question_is_cut_by_its_escaped_length_and_says_so() -> None:
    """2,500 characters with 121 ``&`` rendered to a 3,004-character section before; with
    312 it must be cut, by its escaped length, and say so."""
    challenge = (("a" * 7 + "&") * 313)[:MAX_CHALLENGE]
    facts = WorstFacts()
    ask = n.AskView(**{**ASK.__dict__, "challenge": challenge, "desired_result": ""})
    facts.ask = lambda _id: ask  # type: ignore[method-assign]
    message = render(n.AskReceived(ask_id=1, answer_by=WHEN, max_offers=3), facts)
    section = next(b for b in message["blocks"] if "Your request" in b["text"]["text"])
    text = section["text"]["text"]
    assert len(text) <= 3000
    assert text.endswith("…")  # cut, and marked as cut
    assert "&amp;" in text and "&amp" not in text.replace("&amp;", "")  # no half entity


def test_a_short_question_is_quoted_whole() -> None:
    facts = WorstFacts()
    ask = n.AskView(**{**ASK.__dict__, "challenge": "Tom & Ann <fight>", "desired_result": ""})
    facts.ask = lambda _id: ask  # type: ignore[method-assign]
    message = render(n.AskUnmet(ask_id=1, tried=0), facts)
    assert "> Tom &amp; Ann &lt;fight&gt;" in str(message["blocks"])


def test_a_notice_about_something_gone_says_so() -> None:
    class Gone(WorstFacts):
        def pair(self, pair_id: int) -> n.PairView:
            raise n.NoticeGone(f"pairs {pair_id}")

    with pytest.raises(n.NoticeGone):
        render(n.Intro(pair_id=7), Gone())


@pytest.mark.parametrize("max_offers", [1, 2, 3])
def test_the_urgent_receipt_counts_peers_truly(max_offers: int) -> None:
    """A workspace may allow one helper per request: never "up to 1 peers", nor "two at once"."""
    facts = WorstFacts()
    ask = n.AskView(**{**ASK.__dict__, "challenge": "Hard talk", "desired_result": ""})
    facts.ask = lambda _id: ask  # type: ignore[method-assign]
    text = render(n.AskReceived(ask_id=1, answer_by=WHEN, max_offers=max_offers), facts)["text"]
    assert "1 peers" not in text
    if max_offers == 1:
        assert "up to two" not in text and "at once" not in text
        assert "only that one peer" in text
    else:
        assert f"up to {max_offers} peers in all" in text
