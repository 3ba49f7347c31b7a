"""Renders the outbox's message templates (``peerbot.domain.notices``) into Block Kit.

The outbox sender calls :func:`render` at send time; every builder is pure and escapes user text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from peerbot.domain import notices
from peerbot.domain.schedule import zone
from peerbot.slack import codec, ids
from peerbot.slack.blocks import URGENCY_OPTIONS, quote
from peerbot.slack.text import escape_mrkdwn, truncate

Data = dict[str, Any]

URGENCY_LABEL = dict(URGENCY_OPTIONS)

PRIMER = (
    "*How to make the most of this (about 30 minutes is plenty):*\n"
    "• *Asker:* say the result you want and what is in the way; at the end, name one or two "
    "next steps and add them as commitments below.\n"
    "• *Helper:* ask clarifying questions first, then share what you did in a similar "
    "situation and what happened, rather than prescribing an answer.\n"
    "• What is said here stays between you two."
)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _when(iso: str, tz_name: str) -> str:
    """A human time in the reader's zone, e.g. 'Tue 24 Nov, 13:00'."""
    if not iso:
        return "soon"
    when = datetime.fromisoformat(iso).astimezone(zone(tz_name))
    return when.strftime("%a %d %b, %H:%M")


def _who(user: str | None) -> str:
    return f"<@{user}>" if user else "A fellow manager (name shown once you accept)"


def _ask_blocks(d: Data, *, heading: str) -> list[dict[str, Any]]:
    blocks = [_section(f"*{heading}*\n{quote(d['challenge'])}")]
    if d.get("desired_result"):
        blocks.append(_section("*The result they want*\n" + quote(d["desired_result"], 1400)))
    if d.get("obstacles"):
        blocks.append(_section("*What is in the way*\n" + quote(d["obstacles"], 1400)))
    return blocks


def offer_request(d: Data) -> Data:
    """To a helper: the challenge (anonymous if asked), why them, Accept / Pass."""
    urgency = URGENCY_LABEL.get(d.get("urgency", "normal"), "This week")
    blocks: list[dict[str, Any]] = [
        _section(
            f"{_who(d.get('asker'))} is looking for a peer who has faced something similar. "
            "Would you be up for a conversation?"
        ),
        *_ask_blocks(d, heading="Their challenge"),
        _context(
            f"*Why you:* {escape_mrkdwn(d.get('why', ''))}  ·  *Timing:* {urgency}  ·  "
            f"Please answer by {_when(d.get('expires_at', ''), d.get('helper_tz', 'UTC'))}; "
            "after that we ask someone else."
        ),
        {
            "type": "actions",
            "block_id": f"offer_{d['offer_id']}",
            "elements": [
                {
                    "type": "button",
                    "action_id": ids.OFFER_ACCEPT,
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Accept"},
                    "value": codec.OFFER.encode(d["offer_id"]),
                },
                {
                    "type": "button",
                    "action_id": ids.OFFER_PASS,
                    "text": {"type": "plain_text", "text": "Pass"},
                    "value": codec.OFFER.encode(d["offer_id"]),
                },
            ],
        },
    ]
    return {"text": "A peer manager would value your help", "blocks": blocks}


_CLOSED_TEXT = {
    "accepted": ":white_check_mark: You accepted. Thank you! We have introduced you in a group DM.",
    "passed": "You passed on this one. No problem, thank you for answering; we asked someone else.",
    "expired": "This request has moved on to another peer, as there was no answer in time. "
    "No worries!",
    "taken": "Another peer took this one. Thank you for being willing to help!",
}


def offer_closed(d: Data) -> Data:
    """The offer DM once answered: no buttons, and a line saying what happened."""
    text = _CLOSED_TEXT.get(d.get("state", ""), "This request is closed.")
    return {"text": text, "blocks": [_section(text)]}


def ask_received(d: Data) -> Data:
    """To the asker after submitting: what happens next and by when."""
    by = _when(d.get("answer_by", ""), d.get("asker_tz", "UTC"))
    anonymous = d.get("asker") is None
    text = (
        "Thanks, we have your request. We are asking the best-matched peer first, in private. "
        f"They have until {by} to answer; if they cannot help, we ask up to "
        f"{d.get('max_offers', 3)} peers in turn, and we tell you either way."
    )
    privacy = (
        "Your name is shown only after a helper accepts."
        if anonymous
        else "Only the peers we ask see your request."
    )
    return {
        "text": text,
        "blocks": [_section(text), *_ask_blocks(d, heading="Your request"), _context(privacy)],
    }


def ask_matched(d: Data) -> Data:
    """The asker's DM once a helper accepted."""
    text = (
        f":tada: <@{d['helper']}> accepted and you are both in a new group DM. "
        "Say hello and find a time to talk."
    )
    return {"text": text, "blocks": [_section(text), *_ask_blocks(d, heading="Your request")]}


def ask_unmet(d: Data) -> Data:
    """To the asker when nobody could take the ask: honest, with what to do next."""
    tried = int(d.get("tried", 0))
    if tried:
        lead = (
            f"We are sorry: the {tried} peer{'s' if tried != 1 else ''} we asked could not take "
            "this on right now."
        )
    else:
        lead = "We are sorry: right now no helper who matches your request is available."
    text = (
        f"{lead} We have recorded the topic so the programme team can find more helpers for it. "
        "You can ask again with `/peerhelp` at any time, perhaps with more detail."
    )
    return {"text": text, "blocks": [_section(text), *_ask_blocks(d, heading="Your request")]}


def intro(d: Data) -> Data:
    """The group DM: who is who, the ask, a peer-coaching primer, commitment and close buttons."""
    text = (
        f":wave: <@{d['asker']}>, meet <@{d['helper']}>, an experienced manager who has agreed "
        "to be your sounding board on this."
    )
    return {
        "text": text,
        "blocks": [
            _section(text),
            *_ask_blocks(d, heading="The challenge"),
            {"type": "divider"},
            _section(PRIMER),
            _pair_actions(d["pair_id"], block_id=f"pair_{d['pair_id']}"),
        ],
    }


def _button(text: str, action_id: str, value: object, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": str(value),
    }
    if style:
        b["style"] = style
    return b


def _pair_actions(pair_id: int, block_id: str | None = None) -> dict[str, Any]:
    """The pair's two standing buttons: add a commitment, close the pairing."""
    block: dict[str, Any] = {
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


def _commitment_line(c: Data) -> str:
    due = f" _(by {date.fromisoformat(c['due']):%a %d %b})_" if c.get("due") else ""
    return f"• {escape_mrkdwn(truncate(c['text'], 500))}{due}"


def _short(text: str, limit: int = 120) -> str:
    return escape_mrkdwn(truncate(" ".join(text.split()), limit))


_SNOOZE_OPTIONS = (
    ("snooze_1", "Snooze check-ins 1 week"),
    ("snooze_2", "Snooze check-ins 2 weeks"),
    ("biweekly", "Check in every 2 weeks"),
    ("weekly", "Check in every week"),
    ("stop", "Stop check-ins"),
)


def checkin(d: Data) -> Data:
    """The asker's check-in: open commitments (each with Done), the answers, snooze and stop."""
    lead = (
        "Just a gentle nudge, as we have not heard back:"
        if d.get("bump")
        else "Time for a quick check-in."
    )
    text = f"{lead} How is it going with “{_short(d['challenge'])}”?"
    blocks: list[dict[str, Any]] = [_section(text)]
    commitments = d.get("commitments") or []
    if commitments:
        blocks.append(_section("*Your open commitments*"))
        for c in commitments:
            block = _section(_commitment_line(c))
            block["accessory"] = _button(
                "Done", ids.COMMITMENT_DONE, codec.COMMITMENT.encode(c["id"])
            )
            blocks.append(block)
    else:
        blocks.append(_context("No open commitments. Adding one next step helps a lot."))
    cid, pid = d["checkin_id"], d["pair_id"]
    blocks.append(
        {
            "type": "actions",
            "block_id": f"checkin_{cid}",
            "elements": [
                _button("Done", f"{ids.CHECKIN_ACTION}_done", codec.CHECKIN.encode(cid), "primary"),
                _button(
                    "In progress", f"{ids.CHECKIN_ACTION}_in_progress", codec.CHECKIN.encode(cid)
                ),
                _button(
                    "Stuck", f"{ids.CHECKIN_ACTION}_stuck", codec.CHECKIN.encode(cid), "danger"
                ),
                _button("Add a commitment", ids.PAIR_ADD_COMMITMENT, codec.PAIR.encode(pid)),
                _button("Close", ids.CHECKIN_CLOSE, codec.PAIR.encode(pid)),
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
    return {"text": text, "blocks": blocks}


_ANSWER_TEXT = {
    "done": "Done. Well done! What is your next step? You can add it as a commitment.",
    "in_progress": "In progress. Thanks, we will check in again next time.",
    "stuck": "Stuck. We have let your peer know, so expect them to reach out.",
    "close": "Closing.",
}


def checkin_answered(d: Data) -> Data:
    """The check-in once answered."""
    text = f"You answered: {_ANSWER_TEXT.get(d.get('answer', ''), d.get('answer', ''))}"
    return {
        "text": text,
        "blocks": [
            _section(text),
            {
                "type": "actions",
                "elements": [
                    _button(
                        "Add a commitment", ids.PAIR_ADD_COMMITMENT, codec.PAIR.encode(d["pair_id"])
                    )
                ],
            },
        ],
    }


def helper_check(d: Data) -> Data:
    """The helper's monthly check on the pair."""
    text = (
        f"A quick monthly check on your pairing with <@{d['asker']}> about "
        f"“{_short(d['challenge'])}”. How is it going?"
    )
    return {
        "text": text,
        "blocks": [
            _section(text),
            {
                "type": "actions",
                "block_id": f"helper_check_{d['checkin_id']}",
                "elements": [
                    _button(
                        "Going well",
                        f"{ids.CHECKIN_ACTION}_in_progress",
                        codec.CHECKIN.encode(d["checkin_id"]),
                    ),
                    _button(
                        "Close this pairing", ids.CHECKIN_CLOSE, codec.PAIR.encode(d["pair_id"])
                    ),
                ],
            },
        ],
    }


def helper_check_answered(d: Data) -> Data:
    """The monthly check once answered."""
    text = "Thanks for checking in, and for helping!"
    return {"text": text, "blocks": [_section(text)]}


def stuck_nudge(d: Data) -> Data:
    """To the helper: the asker is stuck; context and a prompt to reach out."""
    lines = [
        f"<@{d['asker']}> told us they are stuck on “{_short(d['challenge'], 300)}”.",
        "Could you reach out in your group DM? A short message or a 15-minute call often "
        "unblocks things. Ask what is in the way before suggesting what to do.",
    ]
    commitments = d.get("commitments") or []
    blocks = [_section("\n".join(lines))]
    if commitments:
        blocks.append(
            _section(
                "*Their open commitments*\n" + "\n".join(_commitment_line(c) for c in commitments)
            )
        )
    return {"text": lines[0], "blocks": blocks}


def pair_paused(d: Data) -> Data:
    """To both: check-ins paused after no answers."""
    text = (
        f"We have not heard back on the check-ins for “{_short(d['challenge'])}”, so we have "
        "paused them. No problem at all. The asker can pick them up again by adding a "
        "commitment, and either of you can close the pairing."
    )
    return {
        "text": text,
        "blocks": [
            _section(text),
            _pair_actions(d["pair_id"]),
        ],
    }


def commitment_added(d: Data) -> Data:
    """Group DM: the asker's new commitment, visible to both."""
    line = _commitment_line({"text": d["text"], "due": d.get("due", "")}).lstrip("• ")
    text = f":pushpin: <@{d['asker']}> commits: {line}"
    return {"text": text, "blocks": [_section(text)]}


def pair_closed(d: Data) -> Data:
    """Group DM: the pairing is closed."""
    text = f"<@{d['closed_by']}> closed this pairing. Thank you both for making time for it!"
    return {"text": text, "blocks": [_section(text)]}


def feedback_request(d: Data) -> Data:
    """To the side that did not close: ask for their feedback."""
    if d.get("role") == "helper":
        text = (
            f"<@{d['asker']}> closed your pairing. Thank you for helping! Would you add a "
            "one-line reflection? It helps the programme team."
        )
        button = "Add a reflection"
    else:
        text = f"<@{d['helper']}> closed your pairing. How did it go?"
        button = "Give feedback"
    return {
        "text": text,
        "blocks": [
            _section(text),
            {
                "type": "actions",
                "elements": [_button(button, ids.FEEDBACK_OPEN, codec.PAIR.encode(d["pair_id"]))],
            },
        ],
    }


def thanks(d: Data) -> Data:
    """To the helper: the asker's thank-you, word for word (escaped)."""
    text = f":sparkles: <@{d['asker']}> says thank you for your help:"
    return {"text": text, "blocks": [_section(text + "\n" + quote(d["thanks"], 1500))]}


RENDERERS: dict[str, Callable[[Data], Data]] = {
    notices.CHECKIN: checkin,
    notices.CHECKIN_ANSWERED: checkin_answered,
    notices.HELPER_CHECK: helper_check,
    notices.HELPER_CHECK_ANSWERED: helper_check_answered,
    notices.STUCK_NUDGE: stuck_nudge,
    notices.PAIR_PAUSED: pair_paused,
    notices.COMMITMENT_ADDED: commitment_added,
    notices.PAIR_CLOSED: pair_closed,
    notices.FEEDBACK_REQUEST: feedback_request,
    notices.THANKS: thanks,
    notices.OFFER_REQUEST: offer_request,
    notices.OFFER_CLOSED: offer_closed,
    notices.ASK_RECEIVED: ask_received,
    notices.ASK_MATCHED: ask_matched,
    notices.ASK_UNMET: ask_unmet,
    notices.INTRO: intro,
}


def render(template: str, data: Data) -> Data:
    """Web API arguments (``text`` and ``blocks``) for a template and its data."""
    try:
        builder = RENDERERS[template]
    except KeyError as exc:
        raise ValueError(f"no renderer for message template {template!r}") from exc
    return builder(data)
