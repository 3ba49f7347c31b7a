"""Renders notices (``peerbot.domain.notices``) into Slack messages, at send time.

:func:`render` reads what the notice refers to through ``NoticeFacts`` (the tables, now) and
returns the Web API arguments ``text`` and ``blocks``. Every builder is pure given its facts,
escapes user text, and fits Slack's limits by the *escaped* length, so the longest question
made of ``&``, ``<`` and ``>`` still renders to a message Slack accepts.
"""

from __future__ import annotations

from datetime import datetime
from functools import singledispatch
from typing import Any

from peerbot.domain.notices import (
    AskMatched,
    AskNotSent,
    AskReceived,
    AskUnmet,
    AskView,
    CheckinAnswered,
    CheckinDue,
    CommitmentAdded,
    CommitmentView,
    DataExport,
    FeedbackRequest,
    HelperCheck,
    HelperCheckAnswered,
    HelperInvite,
    HelperInviteAnswered,
    Intro,
    IntroFailed,
    Notice,
    OfferClosed,
    OfferRequest,
    OfferState,
    PairClosed,
    PairEnded,
    PairPaused,
    Side,
    StuckNudge,
    Thanks,
)
from peerbot.domain.ports import NoticeFacts
from peerbot.domain.schedule import zone
from peerbot.domain.wording import counted
from peerbot.slack import codec, copy, follow_ids, ids
from peerbot.slack.blocks import URGENCY_OPTIONS, withdraw_button
from peerbot.slack.limits import MAX_SECTION_TEXT as SECTION_LIMIT
from peerbot.slack.text import block_quote, escape_mrkdwn, one_line, truncate_escaped

Message = dict[str, Any]
Block = dict[str, Any]

URGENCY_LABEL = dict(URGENCY_OPTIONS)

#: Longest fallback ``text`` of a message (Slack truncates beyond 4,000 characters).
TEXT_LIMIT = 4000

PRIMER = (
    "*How to make the most of this (about 30 minutes is plenty):*\n"
    "• *Asker:* say the result you want and what is in the way; at the end, name one or two "
    "next steps and add them as commitments below.\n"
    "• *Helper:* ask clarifying questions first, then share what you did in a similar "
    "situation and what happened, rather than prescribing an answer.\n"
    "• What is said here stays between you two."
)


@singledispatch
def render(notice: Notice, facts: NoticeFacts) -> Message:
    """Web API arguments (``text`` and ``blocks``) for ``notice``, read from ``facts`` now.

    Raises :class:`~peerbot.domain.notices.NoticeGone` when what it refers to is gone.
    """
    raise TypeError(f"no renderer for notice {type(notice).__name__}")


# --------------------------------------------------------------------------- pieces


def _section(text: str) -> Block:
    assert len(text) <= SECTION_LIMIT, "a section was built past Slack's limit"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _message(text: str, blocks: list[Block]) -> Message:
    return {"text": text[:TEXT_LIMIT], "blocks": blocks}


def _plain(text: str) -> Message:
    """A message of one section."""
    return _message(text, [_section(text)])


def _headed(heading: str, text: str, limit: int = SECTION_LIMIT) -> Block:
    """A section: a bold heading, then ``text`` as a block quote, within ``limit``."""
    head = f"*{heading}*\n"
    return _section(head + block_quote(text, limit - len(head)))


def _when(when: datetime | None, tz_name: str | None) -> str:
    """A human time in the reader's zone, e.g. 'Tue 24 Nov, 13:00'."""
    if when is None:
        return "soon"
    return when.astimezone(zone(tz_name)).strftime("%a %d %b, %H:%M")


def _ask_blocks(ask: AskView, *, heading: str) -> list[Block]:
    blocks = [_headed(heading, ask.challenge)]
    if ask.desired_result:
        blocks.append(_headed("The result they want", ask.desired_result))
    if ask.obstacles:
        blocks.append(_headed("What is in the way", ask.obstacles))
    return blocks


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    b: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }
    if style:
        b["style"] = style
    return b


def _withdraw_button(ask_id: int, what_happens: str) -> Block:
    """The asker's "Withdraw request" button, confirmed first with ``what_happens``."""
    return withdraw_button(ask_id, f"{what_happens} You can ask again any time with `/peerhelp`.")


def _pair_actions(pair_id: int, block_id: str | None = None) -> Block:
    """The pair's two standing buttons: add a commitment, close the pairing."""
    block: Block = {
        "type": "actions",
        "elements": [
            _button(
                "Add a commitment", ids.PAIR_ADD_COMMITMENT, codec.PAIR.encode(pair_id), "primary"
            ),
            _button("Close this pairing", ids.PAIR_CLOSE, codec.PAIR.encode(pair_id)),
        ],
    }
    if block_id:
        block["block_id"] = block_id
    return block


def _close_actions(pair_id: int, block_id: str | None = None) -> Block:
    """The one pair button both sides may use: close the pairing."""
    block: Block = {
        "type": "actions",
        "elements": [_button("Close this pairing", ids.PAIR_CLOSE, codec.PAIR.encode(pair_id))],
    }
    if block_id:
        block["block_id"] = block_id
    return block


def _commitment_line(c: CommitmentView, limit: int = 600) -> str:
    due = f" _(by {c.due:%a %d %b})_" if c.due else ""
    return f"• {truncate_escaped(c.text, limit - len(due) - 2)}{due}"


def _short(text: str, limit: int = 120) -> str:
    return one_line(text, limit)


# --------------------------------------------------------------------------- asks and offers


@render.register
def _offer_request(notice: OfferRequest, facts: NoticeFacts) -> Message:
    """To a helper: the challenge (anonymous if asked), why them, Accept / Pass."""
    offer = facts.offer(notice.offer_id)
    ask = offer.ask
    who = "A fellow manager (name shown once you accept)" if ask.anonymous else f"<@{ask.asker}>"
    urgency = URGENCY_LABEL.get(ask.urgency, "This week")
    blocks: list[Block] = [
        _section(
            f"{who} is looking for a peer who has faced something similar. "
            "Would you be up for a conversation?"
        ),
        *_ask_blocks(ask, heading="Their challenge"),
        _context(
            f"*Why you:* {truncate_escaped(offer.explanation, 1500)}  ·  *Timing:* {urgency}  ·  "
            f"Please answer by {_when(offer.expires_at, offer.helper_tz)}; "
            "after that this offer closes by itself."
        ),
        {
            "type": "actions",
            "block_id": f"offer_{offer.offer_id}",
            "elements": [
                _button("Accept", ids.OFFER_ACCEPT, codec.OFFER.encode(offer.offer_id), "primary"),
                _button("Pass", ids.OFFER_PASS, codec.OFFER.encode(offer.offer_id)),
            ],
        },
    ]
    return _message("A peer manager would value your help", blocks)


_CLOSED_TEXT = {
    OfferState.ACCEPTED: ":white_check_mark: You accepted. Thank you! We have introduced you in "
    "a group DM.",
    # Never "we asked someone else": when this was the last peer, nobody else was asked.
    OfferState.PASSED: "You passed on this one. No problem, thank you for answering; there is "
    "nothing more for you to do.",
    OfferState.EXPIRED: "This offer closed, as there was no answer in time. No worries, there "
    "is nothing more for you to do.",
    OfferState.TAKEN: "Another peer took this one. Thank you for being willing to help!",
    OfferState.RELEASED: "You accepted, thank you! We could not set up the group DM, so we "
    "have released you from this request; there is nothing more for you to do.",
    OfferState.WITHDRAWN: "This request was withdrawn, so there is nothing more for you to do. "
    "Thank you for being willing to help!",
}


@render.register
def _offer_closed(notice: OfferClosed, facts: NoticeFacts) -> Message:
    """The offer DM once answered: no buttons, and a line saying what happened."""
    text = _CLOSED_TEXT[notice.state]
    return _plain(text)


@render.register
def _ask_received(notice: AskReceived, facts: NoticeFacts) -> Message:
    """To the asker after submitting: what happens next and by when."""
    ask = facts.ask(notice.ask_id)
    n = notice.max_offers
    # The receipt does not know whether peers are asked one or two at a time (the ask's
    # settings decide): it says nothing it cannot know.
    text = (
        "Thanks, we have your request. We are asking the best-matched peers, in private. "
        f"Whoever we ask has until {_when(notice.answer_by, ask.asker_tz)} to answer"
        + (
            f"; if they cannot help, we ask the next, up to {counted(n, 'peer')} in all, "
            if n > 1
            else ", "
        )
        + "and we tell you either way."
    )
    if ask.urgency == "high" and n > 1:  # urgent: two at once, a shorter window (issue 13)
        text = (
            "Thanks, we have your request. As you need help in the next day or two, we are "
            "asking up to two of the best-matched peers at once, in private, with a shorter "
            "time to "
            f"answer: until {_when(notice.answer_by, ask.asker_tz)}. The first to accept is "
            f"introduced to you; we ask up to {counted(n, 'peer')} in all, and we tell "
            "you either way."
        )
    elif ask.urgency == "high":  # the workspace allows one helper per request
        text = (
            "Thanks, we have your request. As you need help in the next day or two, we are "
            "asking the best-matched peer, in private, with a shorter time to answer: until "
            f"{_when(notice.answer_by, ask.asker_tz)}. If they accept, they are introduced to "
            "you; we ask only that one peer, and we tell you either way."
        )
    privacy = copy.who_sees(n, at_once=2 if ask.urgency == "high" else None) + (
        " Your name is shown only after a helper accepts." if ask.anonymous else ""
    )
    withdraw = _withdraw_button(
        ask.ask_id,
        "Nobody else will be asked, and a peer who has it waiting is told it was withdrawn.",
    )
    return _message(
        text,
        [
            _section(text),
            *_ask_blocks(ask, heading="Your request"),
            _context(privacy),
            {
                "type": "actions",
                "block_id": f"ask_{ask.ask_id}",
                "elements": [
                    _button("Edit request", ids.ASK_EDIT, codec.ASK.encode(ask.ask_id)),
                    withdraw,
                ],
            },
        ],
    )


@render.register
def _ask_matched(notice: AskMatched, facts: NoticeFacts) -> Message:
    """The asker's receipt once a helper accepted."""
    pair = facts.pair(notice.pair_id)
    text = (
        f":tada: <@{pair.helper}> accepted and you are both in a new group DM. "
        "Say hello and find a time to talk. When you know your next step, add it here as a "
        "commitment: we check in on it with you."
    )
    return _message(
        text,
        [
            _section(text),
            *_ask_blocks(pair.ask, heading="Your request"),
            _pair_actions(pair.pair_id),
        ],
    )


@render.register
def _ask_unmet(notice: AskUnmet, facts: NoticeFacts) -> Message:
    """To the asker when nobody could take the ask: honest, with what to do next."""
    ask = facts.ask(notice.ask_id)
    tried = notice.tried
    if tried:
        lead = (
            f"We are sorry: the {counted(tried, 'peer')} we asked could not take this on right now."
        )
    else:
        lead = "We are sorry: right now no helper who matches your request is available."
    text = (
        f"{lead} We have counted its topic (not your words) as one that needs more helpers. "
        "You can ask again with `/peerhelp` at any time, perhaps with more detail."
    )
    wait = {  # "Tell me when someone can" (issue 13): the ask waits for a new helper
        "type": "actions",
        "elements": [
            _button(
                "Tell me when someone can",
                follow_ids.ASK_WAIT,
                follow_ids.ASK.encode(ask.ask_id),
                "primary",
            )
        ],
    }
    return _message(text, [_section(text), *_ask_blocks(ask, heading="Your request"), wait])


@render.register
def _ask_not_sent(notice: AskNotSent, facts: NoticeFacts) -> Message:
    """To the asker when Slack refused to carry the request: no copy of it (it may be the cause)."""
    ask = facts.ask(notice.ask_id)
    text = (
        f"We are sorry: Slack would not let us send your request “{_short(ask.challenge, 80)}” "
        "to a peer, so nobody has seen it. Please ask again with `/peerhelp`, perhaps in "
        "shorter or plainer words; if it happens again, tell the people who run the programme."
    )
    return _plain(text)


@render.register
def _intro_failed(notice: IntroFailed, facts: NoticeFacts) -> Message:
    """To one of the two, in their own DM: the group DM could not be made."""
    pair = facts.pair(notice.pair_id)
    if notice.to == Side.ASKER:
        text = (
            f"We are sorry: we could not set up the group DM with <@{pair.helper}>, who had "
            "accepted your request. We are asking another peer now and will tell you how it goes."
        )
    else:
        text = (
            f"We could not set up the group DM with <@{pair.asker}> for the request you "
            "accepted, so we have released you from it; there is nothing more for you to do. "
            "Thank you for offering to help!"
        )
    return _plain(text)


@render.register
def _intro(notice: Intro, facts: NoticeFacts) -> Message:
    """The group DM: who is who, the ask, a peer-coaching primer, commitment and close."""
    pair = facts.pair(notice.pair_id)
    text = (
        f":wave: <@{pair.asker}>, meet <@{pair.helper}>, an experienced manager who has agreed "
        "to be your sounding board on this."
    )
    # Both read this message: only buttons both can use. The asker adds commitments from
    # their own DM (the receipt and the check-ins).
    return _message(
        text,
        [
            _section(text),
            *_ask_blocks(pair.ask, heading="The challenge"),
            *(
                [_context(f"*Why <@{pair.helper}>:* {truncate_escaped(pair.why, 1500)}")]
                if pair.why
                else []
            ),
            {"type": "divider"},
            _section(PRIMER),
            _context(
                f"<@{pair.asker}>: add your next steps as commitments from your DM with "
                "peerbot; either of you can close the pairing here when it has done its job."
            ),
            _close_actions(pair.pair_id, block_id=f"pair_{pair.pair_id}"),
        ],
    )


# --------------------------------------------------------------------------- check-ins

_SNOOZE_OPTIONS = (
    ("snooze_1", "Snooze check-ins 1 week"),
    ("snooze_2", "Snooze check-ins 2 weeks"),
    ("biweekly", "Check in every 2 weeks"),
    ("weekly", "Check in every week"),
    ("stop", "Stop check-ins"),
)


@render.register
def _checkin(notice: CheckinDue, facts: NoticeFacts) -> Message:
    """The asker's check-in: open commitments (each with Done), the answers, snooze and stop."""
    checkin = facts.checkin(notice.checkin_id)
    pair = checkin.pair
    lead = (
        "Just a gentle nudge, as we have not heard back:"
        if notice.bump
        else "Time for a quick check-in."
    )
    text = f"{lead} How is it going with “{_short(pair.ask.challenge)}”?"
    blocks: list[Block] = [_section(text)]
    if pair.open_commitments:
        blocks.append(_section("*Your open commitments*"))
        for c in pair.open_commitments:
            block = _section(_commitment_line(c))
            block["accessory"] = _button(
                "Done", ids.COMMITMENT_DONE, codec.COMMITMENT.encode(c.commitment_id)
            )
            blocks.append(block)
    else:
        blocks.append(_context("No open commitments. Adding one next step helps a lot."))
    cid, pid = checkin.checkin_id, pair.pair_id
    blocks.append(
        {
            "type": "actions",
            "block_id": f"checkin_{cid}",
            "elements": [
                # One "Done" a message: each commitment's own when there are commitments
                # (then this one says what it does to all of them), else this one.
                _button(
                    "All done" if pair.open_commitments else "Done",
                    f"{ids.CHECKIN_ACTION}_done",
                    codec.CHECKIN.encode(cid),
                    "primary",
                ),
                _button(
                    "In progress", f"{ids.CHECKIN_ACTION}_in_progress", codec.CHECKIN.encode(cid)
                ),
                _button(
                    "Stuck", f"{ids.CHECKIN_ACTION}_stuck", codec.CHECKIN.encode(cid), "danger"
                ),
                _button("Add a commitment", ids.PAIR_ADD_COMMITMENT, codec.PAIR.encode(pid)),
                _button("Close this pairing", ids.CHECKIN_CLOSE, codec.PAIR.encode(pid)),
                {
                    "type": "overflow",
                    "action_id": ids.PAIR_SNOOZE,
                    "options": [
                        {
                            "text": {"type": "plain_text", "text": label},
                            "value": codec.SNOOZE.encode(pid, v),
                        }
                        for v, label in _SNOOZE_OPTIONS
                    ],
                },
            ],
        }
    )
    return _message(text, blocks)


_ANSWER_TEXT = {
    "done": "Done (every open commitment is marked done). Well done! What is your next step? "
    "You can add it as a commitment.",
    "in_progress": "In progress. Thanks, we will check in again next time.",
    "stuck": "Stuck. We have let your peer know, so expect them to reach out.",
    "close": "Closing.",
}
# After "Stop check-ins" there is no next time: say so, and how to turn them back on.
_IN_PROGRESS_STOPPED = (
    "In progress. Thanks. Check-ins are stopped for this pairing, so we will not check in "
    "again unless you choose Resume check-ins in App Home."
)


@render.register
def _checkin_answered(notice: CheckinAnswered, facts: NoticeFacts) -> Message:
    """The check-in once answered."""
    checkin = facts.checkin(notice.checkin_id)
    answer = checkin.answer or ""
    said = _ANSWER_TEXT.get(answer, answer)
    if answer == "in_progress" and checkin.checkins_stopped:
        said = _IN_PROGRESS_STOPPED
    text = f"You answered: {said}"
    return _message(
        text,
        [
            _section(text),
            {
                "type": "actions",
                "elements": [
                    _button(
                        "Add a commitment",
                        ids.PAIR_ADD_COMMITMENT,
                        codec.PAIR.encode(checkin.pair.pair_id),
                    )
                ],
            },
        ],
    )


#: The helper's monthly check: each answer and its button.
HELPER_CHECK_BUTTONS = (
    ("well", "Going well"),
    ("not_met", "Haven't met yet"),
    ("quiet", "Asker has gone quiet"),
    ("not_fit", "Not a fit"),
)

_HELPER_ANSWER_TEXT = {
    "well": "Going well. Thanks for checking in, and for helping!",
    "in_progress": "Going well. Thanks for checking in, and for helping!",
    "not_met": "Haven't met yet. Thanks for saying so; a first conversation of about 30 "
    "minutes is plenty, and your group DM is the place to find a time.",
    "quiet": "The asker has gone quiet. Thanks for telling us: their check-ins carry on, and "
    "if the pairing has run its course you can close it here.",
    "not_fit": "Not a fit. Thanks for being honest: close the pairing with the button here; "
    "the asker can ask again with `/peerhelp`.",
}


@render.register
def _helper_check(notice: HelperCheck, facts: NoticeFacts) -> Message:
    """The helper's monthly check on the pair: going well / haven't met yet / asker has gone
    quiet / not a fit."""
    checkin = facts.checkin(notice.checkin_id)
    pair = checkin.pair
    text = (
        f"A quick monthly check on your pairing with <@{pair.asker}> about "
        f"“{_short(pair.ask.challenge)}”. How is it going?"
    )
    value = codec.CHECKIN.encode(checkin.checkin_id)
    return _message(
        text,
        [
            _section(text),
            {
                "type": "actions",
                "block_id": f"helper_check_{checkin.checkin_id}",
                "elements": [
                    _button(label, f"{ids.HELPER_CHECK_ACTION}_{answer}", value)
                    for answer, label in HELPER_CHECK_BUTTONS
                ],
            },
        ],
    )


@render.register
def _helper_check_answered(notice: HelperCheckAnswered, facts: NoticeFacts) -> Message:
    """The monthly check once answered: what the helper said; Close for quiet or not a fit."""
    checkin = facts.checkin(notice.checkin_id)
    answer = checkin.answer or ""
    text = _HELPER_ANSWER_TEXT.get(answer, "Thanks for checking in, and for helping!")
    if answer in ("quiet", "not_fit"):
        return _message(text, [_section(text), _close_actions(checkin.pair.pair_id)])
    return _plain(text)


def _commitments_section(heading: str, commitments: tuple[CommitmentView, ...]) -> Block:
    """A heading and one line per commitment, shortened to fit one section."""
    per_line = max(80, (SECTION_LIMIT - len(heading) - 2) // max(1, len(commitments)) - 1)
    return _section(heading + "\n" + "\n".join(_commitment_line(c, per_line) for c in commitments))


@render.register
def _stuck_nudge(notice: StuckNudge, facts: NoticeFacts) -> Message:
    """To the helper: the asker is stuck; context and a prompt to reach out."""
    pair = facts.checkin(notice.checkin_id).pair
    lines = [
        f"<@{pair.asker}> told us they are stuck on “{_short(pair.ask.challenge, 300)}”.",
        "Could you reach out in your group DM? A short message or a 15-minute call often "
        "unblocks things. Ask what is in the way before suggesting what to do.",
    ]
    blocks = [_section("\n".join(lines))]
    if pair.open_commitments:
        blocks.append(_commitments_section("*Their open commitments*", pair.open_commitments))
    return _message(lines[0], blocks)


@render.register
def _pair_paused(notice: PairPaused, facts: NoticeFacts) -> Message:
    """To both: check-ins paused after no answers."""
    pair = facts.pair(notice.pair_id)
    text = (
        f"We have not heard back on the check-ins for “{_short(pair.ask.challenge)}”, so we have "
        "paused them. No problem at all. Either of you can close the pairing."
    )
    # Sent before the reader's side was recorded: only the button both sides can use.
    return _message(text, [_section(text), _close_actions(pair.pair_id)])


@render.register
def _commitment_added(notice: CommitmentAdded, facts: NoticeFacts) -> Message:
    """Group DM: the asker's new commitment, visible to both."""
    commitment, pair = facts.commitment(notice.commitment_id)
    line = _commitment_line(commitment).removeprefix("• ")
    text = f":pushpin: <@{pair.asker}> commits: {line}"
    return _plain(text)


# --------------------------------------------------------------------------- close-out


@render.register
def _pair_closed(notice: PairClosed, facts: NoticeFacts) -> Message:
    """Group DM: the pairing is closed."""
    pair = facts.pair(notice.pair_id)
    closer = f"<@{pair.closed_by}>" if pair.closed_by else "One of you"
    text = f"{closer} closed this pairing. Thank you both for making time for it!"
    return _plain(text)


@render.register
def _pair_ended(notice: PairEnded, facts: NoticeFacts) -> Message:
    """To the one left in a pair peerbot ended: no name, no reason, nothing read from the
    tables (the other person's rows may be redacted by now)."""
    started = notice.started.strftime("%-d %B %Y")
    text = (
        f"The peer pairing you began on {started} has ended, and check-ins for it have "
        "stopped. Thank you for the time you gave it; there is nothing more for you to do."
    )
    return _plain(text)


@render.register
def _feedback_request(notice: FeedbackRequest, facts: NoticeFacts) -> Message:
    """To the side that did not close: ask for their feedback."""
    pair = facts.pair(notice.pair_id)
    if notice.to == Side.HELPER:
        text = (
            f"<@{pair.asker}> closed your pairing. Thank you for helping! Would you add a "
            "one-line reflection? It is not shown to them."
        )
        button = "Add a reflection"
    else:
        text = f"<@{pair.helper}> closed your pairing. How did it go?"
        button = "Give feedback"
    return _message(
        text,
        [
            _section(text),
            {
                "type": "actions",
                "elements": [_button(button, ids.FEEDBACK_OPEN, codec.PAIR.encode(pair.pair_id))],
            },
        ],
    )


@render.register
def _thanks(notice: Thanks, facts: NoticeFacts) -> Message:
    """To the helper: the asker's thank-you, word for word (escaped)."""
    pair = facts.pair(notice.pair_id)
    text = f":sparkles: <@{pair.asker}> says thank you for your help:"
    body = text + "\n" + block_quote(facts.thanks(pair.pair_id), SECTION_LIMIT - len(text) - 1)
    return _message(text, [_section(body)])


# --------------------------------------------------------------------------- privacy

#: Code blocks of an export at most (Slack: 50 blocks a message; one intro, one closing line).
EXPORT_BLOCKS = 48


def _code_chunks(text: str, limit: int) -> list[str]:
    """``text`` in pieces whose escaped form fits ``limit`` (cut at lines, long lines cut)."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(escape_mrkdwn(line)) > limit:
            cut = limit
            while len(escape_mrkdwn(line[:cut])) > limit:
                cut = max(1, cut * 2 // 3)
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:cut])
            line = line[cut:]
        if len(escape_mrkdwn(current + line)) > limit:
            chunks.append(current)
            current = ""
        current += line
    if current:
        chunks.append(current)
    return chunks


@render.register
def _data_export(notice: DataExport, facts: NoticeFacts) -> Message:
    """To the person: their data as JSON, in code blocks that fit Slack's limits."""
    data = facts.export(notice.person_id)
    fence = 8  # "```\n" + "\n```"
    chunks = _code_chunks(data, SECTION_LIMIT - fence)
    intro = (
        "Here is everything peerbot holds about you, as JSON. Nothing in it is about anyone "
        "else; of a pairing, it shows only what you could already see."
    )
    blocks = [_section(intro)]
    for chunk in chunks[:EXPORT_BLOCKS]:
        blocks.append(_section("```\n" + escape_mrkdwn(chunk.rstrip("\n")) + "\n```"))
    if len(chunks) > EXPORT_BLOCKS:
        blocks.append(
            _context(
                "This is too long for one message; the people who run the programme can "
                "give you the whole file (`peerbot privacy export`)."
            )
        )
    return _message("Your data from peerbot", blocks)


# --------------------------------------------------------------------------- invitations


@render.register
def _helper_invite(notice: HelperInvite, facts: NoticeFacts) -> Message:
    """To an imported person: who asked, what it means, how often; Yes / Not now."""
    n = notice.capacity
    text = (
        "The people who run the peer-help programme added you as someone other managers could "
        "learn from. If you say yes, peerbot may now and then send you a manager's question "
        "that matches your experience; you accept or pass each one, and you are never asked "
        f"for more than {counted(n, 'conversation')} at a time. You can pause or "
        "stop any time in peerbot's Home tab. Nothing is sent your way until you say yes."
    )
    return _message(
        "Would you help other managers?",
        [
            _section(text),
            {
                "type": "actions",
                "block_id": "helper_invite",
                "elements": [
                    _button("Yes, I'll help", ids.HELPER_INVITE_YES, "yes", "primary"),
                    _button("Not now", ids.HELPER_INVITE_NO, "no"),
                ],
            },
        ],
    )


@render.register
def _helper_invite_answered(notice: HelperInviteAnswered, facts: NoticeFacts) -> Message:
    """The invitation once answered."""
    if notice.yes:
        return _plain(
            ":white_check_mark: Thank you! You are now a helper. Add or edit your expertise, "
            "capacity or a pause any time in peerbot's Home tab."
        )
    return _plain("No problem: you will not be asked. You can sign up any time in the Home tab.")


# Renderers kept in their own modules register on ``render`` when imported.
from peerbot.slack import circle_render as _circle_render  # noqa: E402, F401

# The follow-through notices register themselves on ``render`` (kept in their own module).
from peerbot.slack import render_follow  # noqa: E402,F401

# Renderers kept in their own modules register themselves on import.
from peerbot.slack import render_journey as _render_journey  # noqa: E402,F401
