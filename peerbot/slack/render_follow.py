"""Renders the follow-through notices (``MeetCheck`` … ``AskWaitEnded``): registered on
:func:`peerbot.slack.render.render` when that module is imported."""

from __future__ import annotations

from peerbot.domain.notices import (
    AnotherPeerOffer,
    AskWaitEnded,
    AskWaiting,
    CommitmentReminder,
    HelperAutoPaused,
    HelperReleased,
    HelperResumed,
    MeetAnswer,
    MeetAnswered,
    MeetCheck,
    Rematching,
    Side,
)
from peerbot.domain.ports import NoticeFacts
from peerbot.domain.wording import counted
from peerbot.slack import codec, follow_ids, ids
from peerbot.slack.render import (
    Message,
    _ask_blocks,
    _button,
    _commitment_line,
    _message,
    _plain,
    _section,
    _short,
    _when,
    _withdraw_button,
    render,
)


def _another_peer_button(pair_id: int) -> dict[str, object]:
    return _button("Try another peer", follow_ids.ANOTHER_PEER, codec.PAIR.encode(pair_id))


@render.register
def _meet_check(notice: MeetCheck, facts: NoticeFacts) -> Message:
    """To one of the two: did you meet? Three answers, each with a clear consequence."""
    pair = facts.pair(notice.pair_id)
    other = pair.helper if notice.to == Side.ASKER else pair.asker
    text = (
        f"Did you and <@{other}> manage to meet about “{_short(pair.ask.challenge)}”? "
        "A one-click answer helps us know the introductions work."
    )
    value = follow_ids.MEETING.encode(notice.meeting_id)
    return _message(
        text,
        [
            _section(text),
            {
                "type": "actions",
                "block_id": f"meet_{notice.meeting_id}",
                "elements": [
                    _button("Yes, we met", follow_ids.MEET_YES, value, "primary"),
                    _button("Not yet (remind me in 3 days)", follow_ids.MEET_NOT_YET, value),
                    _button("It isn't going to happen", follow_ids.MEET_NO, value),
                ],
            },
        ],
    )


@render.register
def _meet_answered(notice: MeetAnswered, facts: NoticeFacts) -> Message:
    """The "did you meet?" message once answered; the asker may then try another peer."""
    pair = facts.pair(notice.pair_id)
    asker = notice.to == Side.ASKER
    if notice.answer == MeetAnswer.YES:
        # Only the asker adds commitments, from their own DM (the group DM has only Close).
        text = (
            "You met: great! Add your next steps as commitments: we check in on them with you."
            if asker
            else f"You met: great! Thank you for making time for <@{pair.asker}>."
        )
        if asker:
            text += (
                " If this peer turns out not to be the right fit for this, you can ask for "
                "another one; we will thank them and let them go, no blame."
            )
    elif notice.answer == MeetAnswer.NOT_YET and pair.paused:
        # A paused pairing's "did you meet?" waits until its check-ins resume.
        text = (
            "Not yet: no problem. Your check-ins are paused, so we will ask again once they resume."
            if asker
            else "Not yet: no problem. Check-ins are paused while we wait to hear from "
            f"<@{pair.asker}>, so we will ask again once they resume."
        )
    elif notice.answer == MeetAnswer.NOT_YET:
        text = "Not yet: no problem. We will ask again in 3 days."
    elif asker:
        text = (
            "Thanks for telling us. If you still want help with this, you can ask for another "
            "peer; we will thank and release this one, no blame."
        )
    else:
        text = (
            f"Thanks for telling us. <@{pair.asker}> can ask for another peer if they still "
            "want help; you can close the pairing in your group DM."
        )
    blocks = [_section(text)]
    if asker and notice.answer != MeetAnswer.NOT_YET:
        elements = [_another_peer_button(pair.pair_id)]
        if notice.answer == MeetAnswer.YES:
            elements.insert(
                0,
                _button(
                    "Add a commitment",
                    ids.PAIR_ADD_COMMITMENT,
                    codec.PAIR.encode(pair.pair_id),
                    "primary",
                ),
            )
        blocks.append({"type": "actions", "elements": elements})
    return _message(text, blocks)


@render.register
def _another_peer_offer(notice: AnotherPeerOffer, facts: NoticeFacts) -> Message:
    """To the asker after a low rating: would another peer help?"""
    pair = facts.pair(notice.pair_id)
    text = (
        f"Sorry it did not work out as hoped. If you still want help with "
        f"“{_short(pair.ask.challenge)}”, "
        f"we can ask another peer (not <@{pair.helper}>)."
    )
    return _message(
        text,
        [_section(text), {"type": "actions", "elements": [_another_peer_button(pair.pair_id)]}],
    )


@render.register
def _rematching(notice: Rematching, facts: NoticeFacts) -> Message:
    """To the asker: we are asking another peer now, and by when."""
    ask = facts.ask(notice.ask_id)
    text = (
        "We are asking another peer for you now (not the one you were paired with), in "
        f"private. You will hear by {_when(notice.answer_by, ask.asker_tz)}, either way."
    )
    return _message(text, [_section(text), *_ask_blocks(ask, heading="Your request")])


@render.register
def _helper_released(notice: HelperReleased, facts: NoticeFacts) -> Message:
    """To the earlier helper: thanks, released, without blame."""
    pair = facts.pair(notice.pair_id)
    text = (
        f"Thank you for making time for <@{pair.asker}>. They would like a different "
        "perspective on this one, so we have released you from the pairing: this happens, it "
        "is about fit and not about you, and there is nothing more for you to do."
    )
    return _plain(text)


def _the_last(n: int) -> str:
    """ "The last request" / "The last 3 requests"."""
    return "The last request" if n == 1 else f"The last {counted(n, 'request')}"


@render.register
def _helper_auto_paused(notice: HelperAutoPaused, facts: NoticeFacts) -> Message:
    """To a helper: paused after unanswered offers, why, until when, and Resume now."""
    until = notice.until.strftime("%a %-d %b")
    text = (
        f"{_the_last(notice.missed)} we sent you went unanswered, so we have paused "
        f"new requests to you until {until}, to save you the pings. Nothing is wrong. When you "
        "have room again, press Resume now (or change it in peerbot's Home tab)."
    )
    return _message(
        text,
        [
            _section(text),
            {
                "type": "actions",
                "elements": [
                    _button("Resume now", follow_ids.HELPER_RESUME, "resume", "primary"),
                ],
            },
        ],
    )


@render.register
def _helper_resumed(notice: HelperResumed, facts: NoticeFacts) -> Message:
    """The pause message once the helper resumed."""
    return _plain(":white_check_mark: You are taking requests again. Thank you!")


@render.register
def _commitment_reminder(notice: CommitmentReminder, facts: NoticeFacts) -> Message:
    """To the asker on the morning a commitment is due."""
    commitment, pair = facts.commitment(notice.commitment_id)
    text = (
        f"A friendly reminder: this commitment from your pairing with <@{pair.helper}> is due "
        "today."
    )
    body = text + "\n" + _commitment_line(commitment)
    return _message(
        text,
        [
            _section(body),
            {
                "type": "actions",
                "elements": [
                    _button(
                        "Done",
                        ids.COMMITMENT_DONE,
                        codec.COMMITMENT.encode(commitment.commitment_id),
                        "primary",
                    )
                ],
            },
        ],
    )


@render.register
def _ask_waiting(notice: AskWaiting, facts: NoticeFacts) -> Message:
    """The "nobody could help" message once the asker chose to wait."""
    ask = facts.ask(notice.ask_id)
    text = (
        "We will keep your request and, as soon as a helper whose experience matches becomes "
        "available, ask them privately first (they can accept or pass). If nobody is found by "
        f"{_when(notice.until, ask.asker_tz)}, we will tell you."
    )
    withdraw = _withdraw_button(
        ask.ask_id, "We stop waiting for a helper and nobody will be asked."
    )
    return _message(
        text,
        [
            _section(text),
            *_ask_blocks(ask, heading="Your request"),
            {"type": "actions", "elements": [withdraw]},
        ],
    )


@render.register
def _ask_wait_ended(notice: AskWaitEnded, facts: NoticeFacts) -> Message:
    """To the asker: the waiting time is over and nobody was found."""
    ask = facts.ask(notice.ask_id)
    text = (
        f"We are sorry: no matching helper became available for “{_short(ask.challenge, 80)}” "
        "in the time we waited, so we have stopped looking. You can ask again with "
        "`/peerhelp` at any time."
    )
    return _plain(text)
