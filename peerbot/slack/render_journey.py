"""Renders the notices of ``peerbot.domain.journey_notices`` (registered on ``render``)."""

from __future__ import annotations

from peerbot.domain.journey_notices import (
    AskEdited,
    AskEnded,
    AskWithdrawn,
    HelperPaused,
    OfferEdited,
    PairMessageEnded,
    PairPausedTo,
)
from peerbot.domain.notices import AskReceived, NoticeGone, OfferRequest, Side
from peerbot.domain.ports import NoticeFacts
from peerbot.slack import codec, ids
from peerbot.slack.render import (
    Message,
    _ask_blocks,
    _ask_received,
    _button,
    _close_actions,
    _context,
    _message,
    _offer_request,
    _section,
    _short,
    render,
)


@render.register
def _ask_withdrawn(notice: AskWithdrawn, facts: NoticeFacts) -> Message:
    """The asker's receipt once they withdrew the request: no buttons."""
    ask = facts.ask(notice.ask_id)
    done = (
        "we have stopped waiting for a helper and nobody will be asked"
        if notice.while_waiting
        else "nobody else will be asked, and a peer who had it waiting has been told"
    )
    text = f"You withdrew this request, so {done}. You can ask again any time with `/peerhelp`."
    return _message(text, [_section(text), *_ask_blocks(ask, heading="Your request")])


@render.register
def _ask_ended(notice: AskEnded, facts: NoticeFacts) -> Message:
    """The asker's receipt once the request stopped waiting without a peer: no buttons."""
    ask = facts.ask(notice.ask_id)
    text = (
        "This request is no longer waiting for a peer; our later message says why. You can "
        "ask again any time with `/peerhelp`."
    )
    return _message(text, [_section(text), *_ask_blocks(ask, heading="Your request")])


@render.register
def _pair_paused_to(notice: PairPausedTo, facts: NoticeFacts) -> Message:
    """To one of the two: check-ins paused. The asker may resume them or add a commitment;
    the helper gets only what a helper can do (close the pairing)."""
    pair = facts.pair(notice.pair_id)
    about = f"“{_short(pair.ask.challenge)}”"
    if notice.to == Side.ASKER:
        text = (
            f"We have not heard back from you on the check-ins for {about}, so we have paused "
            "them. No problem at all: resume them, add a commitment (which resumes them too), "
            "or close the pairing if it has done its job."
        )
        pid = codec.PAIR.encode(pair.pair_id)
        actions = {
            "type": "actions",
            "elements": [
                _button("Resume check-ins", ids.PAIR_RESUME_CHECKINS, pid, "primary"),
                _button("Add a commitment", ids.PAIR_ADD_COMMITMENT, pid),
                _button("Close this pairing", ids.PAIR_CLOSE, pid),
            ],
        }
        return _message(text, [_section(text), actions])
    text = (
        f"<@{pair.asker}> has not answered the check-ins for {about}, so we have paused them. "
        "Nothing is needed from you; if the pairing has run its course, you can close it."
    )
    return _message(text, [_section(text), _close_actions(pair.pair_id)])


@render.register
def _pair_message_ended(notice: PairMessageEnded, facts: NoticeFacts) -> Message:
    """A check-in, monthly check or reminder of a pairing that has ended: no buttons."""
    pair = facts.pair(notice.pair_id)
    text = (
        f"The pairing about “{_short(pair.ask.challenge)}” has ended, so there is nothing to "
        "answer or mark here any more. To ask for help again, type `/peerhelp`."
    )
    return _message(text, [_section(text)])


@render.register
def _helper_paused(notice: HelperPaused, facts: NoticeFacts) -> Message:
    """To a helper who set a pause: when it ends by itself, and **Resume now**."""
    until = notice.until.strftime("%A %-d %B %Y")
    text = (
        f"You are paused as a helper: no new requests until {until}, when you are available "
        "again by yourself (nothing to do). Pairs you are in carry on as they are."
    )
    return _message(
        text,
        [
            _section(text),
            {
                "type": "actions",
                "elements": [_button("Resume now", ids.HELPER_RESUME_NOW, "resume", "primary")],
            },
        ],
    )


#: The note on a pending offer after the asker edited their request.
OFFER_EDITED_NOTE = (
    ":pencil2: *Edited by the asker* since we first sent it: this is the current text."
)
#: The note on the asker's receipt after they edited it.
ASK_EDITED_NOTE = (
    ":pencil2: *You edited this request.* A peer who has it waiting now sees the new text."
)


def _with_note(message: Message, note: str, after: int = 1) -> Message:
    """``message`` with a context line ``note`` after its first ``after`` blocks."""
    blocks = list(message["blocks"])
    blocks.insert(after, _context(note))
    return _message(message["text"], blocks)


@render.register
def _offer_edited(notice: OfferEdited, facts: NoticeFacts) -> Message:
    """The helper's offer, as now written, with Accept / Pass and the note that the asker
    edited it. Gone once the offer was answered or closed (a later update says how)."""
    if not facts.offer(notice.offer_id).pending:
        raise NoticeGone(f"offer {notice.offer_id} is no longer pending")
    return _with_note(
        _offer_request(OfferRequest(offer_id=notice.offer_id), facts), OFFER_EDITED_NOTE
    )


@render.register
def _ask_edited(notice: AskEdited, facts: NoticeFacts) -> Message:
    """The asker's receipt with the request as now written, the same timing, and a note.
    Gone once the request stopped waiting (its own update says what happened)."""
    if not facts.ask(notice.ask_id).waiting:
        raise NoticeGone(f"ask {notice.ask_id} is no longer waiting")
    receipt = AskReceived(
        ask_id=notice.ask_id, answer_by=notice.answer_by, max_offers=notice.max_offers
    )
    return _with_note(_ask_received(receipt, facts), ASK_EDITED_NOTE)
