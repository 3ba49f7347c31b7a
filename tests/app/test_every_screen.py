"""Every message and every dialog peerbot can show, for each person who reads it, at its worst
case (the longest texts, unicode, mrkdwn injection): within Slack's limits, escaped, and with
no button the reader cannot use.

The lists are complete by construction: every notice kind (``notice_types()``) must appear in
:data:`READERS`, and every dialog builder (a ``build_*modal`` function in ``peerbot.slack``)
must appear in :data:`DIALOGS`. A new message or dialog without a case here fails the suite.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

import peerbot.slack
from peerbot.domain import notices as n
from peerbot.domain.circle_notices import FeedbackKind
from peerbot.domain.journey_notices import PairPausedTo
from peerbot.sandbox.blockkit import validate_message_blocks
from peerbot.slack import blocks, codec, follow_ids, ids
from peerbot.slack import circle_render as cr
from peerbot.slack.privacy_blocks import build_delete_modal, build_deleted_modal
from peerbot.slack.profile_blocks import build_profile_modal
from peerbot.slack.render import render
from tests.app.test_blocks_worst_case import (
    assert_escaped,
    assert_valid_view,
    worst,
    worst_profile,
)
from tests.app.test_render_worst_case import WorstFacts, worst_notices

ASKER, HELPER, PERSON, MEMBER = "asker", "helper", "person", "member"

#: Who may press what. Derived from the services' own rules: the asker's commitments,
#: check-ins, snooze and withdraw (``PairService``/``JourneyService`` answer NOT_YOURS to anyone
#: else); the helper's Accept / Pass and monthly check; both may close and give feedback.
USABLE: dict[str, set[str]] = {
    ASKER: {
        ids.ASK_WITHDRAW,
        ids.ASK_EDIT,
        follow_ids.ASK_WAIT,
        follow_ids.ANOTHER_PEER,
        *follow_ids.MEET_ANSWERS,
        ids.PAIR_ADD_COMMITMENT,
        ids.PAIR_CLOSE,
        ids.CHECKIN_CLOSE,
        ids.COMMITMENT_DONE,
        ids.PAIR_SNOOZE,
        ids.PAIR_RESUME_CHECKINS,
        ids.FEEDBACK_OPEN,
        *(f"{ids.CHECKIN_ACTION}_{a}" for a in ids.CHECKIN_ANSWERS),
    },
    HELPER: {
        ids.OFFER_ACCEPT,
        ids.OFFER_PASS,
        ids.PAIR_CLOSE,
        ids.CHECKIN_CLOSE,
        ids.FEEDBACK_OPEN,
        ids.HELPER_RESUME_NOW,
        *follow_ids.MEET_ANSWERS,
        *(f"{ids.HELPER_CHECK_ACTION}_{a}" for a in ids.HELPER_CHECK_ANSWERS),
    },
    PERSON: {ids.HELPER_INVITE_YES, ids.HELPER_INVITE_NO, ids.HELPER_RESUME_NOW},
    #: A peer circle's member (or someone in the circles' pool): only the circle's own buttons.
    MEMBER: {cr.LEAVE, cr.ACTION_OPEN, cr.FEEDBACK_OPEN, cr.JOIN_OPEN},
}


def _side(notice: n.Notice) -> str:
    to = getattr(notice, "to", None)
    return ASKER if to == n.Side.ASKER else HELPER


#: Who reads each kind of message: one reader, or both (a group DM). Notices naming a side
#: (``to``) are read by that side.
READERS: dict[str, Callable[[n.Notice], tuple[str, ...]]] = {
    "ask_received": lambda _: (ASKER,),
    "ask_matched": lambda _: (ASKER,),
    "ask_unmet": lambda _: (ASKER,),
    "ask_not_sent": lambda _: (ASKER,),
    "ask_withdrawn": lambda _: (ASKER,),
    "ask_ended": lambda _: (ASKER,),
    "ask_edited": lambda _: (ASKER,),
    "offer_edited": lambda _: (HELPER,),
    "intro_failed": lambda x: (_side(x),),
    "offer_request": lambda _: (HELPER,),
    "offer_closed": lambda _: (HELPER,),
    "pair_ended": lambda _: (ASKER, HELPER),  # either one, in their own DM
    "data_export": lambda _: (PERSON,),
    "helper_invite": lambda _: (PERSON,),
    "helper_invite_answered": lambda _: (PERSON,),
    "helper_paused": lambda _: (HELPER,),
    "intro": lambda _: (ASKER, HELPER),  # the group DM: both read the same message
    "checkin": lambda _: (ASKER,),
    "checkin_answered": lambda _: (ASKER,),
    "helper_check": lambda _: (HELPER,),
    "helper_check_answered": lambda _: (HELPER,),
    "stuck_nudge": lambda _: (HELPER,),
    "pair_paused": lambda _: (ASKER, HELPER),  # queued before the side was recorded
    "pair_paused_to": lambda x: (_side(x),),
    "pair_message_ended": lambda _: (ASKER, HELPER),  # a check-in (asker), a monthly check
    "commitment_added": lambda _: (ASKER, HELPER),  # the group DM
    "pair_closed": lambda _: (ASKER, HELPER),  # the group DM
    "feedback_request": lambda x: (_side(x),),
    "thanks": lambda _: (HELPER,),
    "meet_check": lambda x: (_side(x),),  # "did you meet?", to each in their own DM
    "meet_answered": lambda x: (_side(x),),
    "another_peer_offer": lambda _: (ASKER,),
    "rematching": lambda _: (ASKER,),
    "helper_released": lambda _: (HELPER,),
    "helper_auto_paused": lambda _: (HELPER,),
    "helper_resumed": lambda _: (HELPER,),
    "commitment_reminder": lambda _: (ASKER,),
    "ask_waiting": lambda _: (ASKER,),
    "ask_wait_ended": lambda _: (ASKER,),
    "helper_status_changed": lambda _: (PERSON,),  # an admin approved, paused or removed them
    "circle_not_placed": lambda _: (MEMBER,),
    "circle_opening": lambda _: (MEMBER,),  # the circle's conversation: every member
    "circle_prompt": lambda _: (MEMBER,),
    "circle_action_added": lambda _: (MEMBER,),
    "circle_pulse": lambda _: (MEMBER,),
    "circle_pulse_answered": lambda _: (MEMBER,),
    "circle_smaller": lambda _: (MEMBER,),
    "circle_closed": lambda _: (MEMBER,),
}


def _assert_message_escaped(message: dict[str, Any]) -> None:
    """No user text opens a mention, a link or a broadcast: every ``<`` left is one we made
    (mentions of the people the facts name, ``<@U0ASKER>``); ``>`` may only start our own block
    quotes."""
    for text in _mrkdwn(message["blocks"]):
        body = re.sub(r"<@U[0-9A-Z]+>", "", text)
        assert "<" not in body, body[:200]
        for line in body.splitlines():
            assert ">" not in line.removeprefix("> "), line[:200]


def _mrkdwn(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            out.append(node["text"])
        for value in node.values():
            out.extend(_mrkdwn(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(_mrkdwn(value))
    return out


def _elements(message: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for block in message.get("blocks") or []:
        for el in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if el.get("action_id"):
                out.append(el)
    return out


def _cases() -> list[tuple[str, n.Notice, str]]:
    cases = []
    for notice in worst_notices():
        for reader in READERS[notice.kind](notice):
            label = f"{notice.kind}-{getattr(notice, 'to', '') or getattr(notice, 'state', '')}"
            cases.append((label.rstrip("-") + f"-to-{reader}", notice, reader))
    return cases


def test_every_message_kind_says_who_reads_it() -> None:
    kinds = set(n.notice_types())
    assert set(READERS) == kinds, "a new message needs a case here (its readers)"
    assert {x.kind for x in worst_notices()} == kinds


@pytest.mark.parametrize(
    ("notice", "reader"), [c[1:] for c in _cases()], ids=[c[0] for c in _cases()]
)
def test_every_message_at_its_worst_gives_each_reader_only_buttons_they_can_use(
    notice: n.Notice, reader: str
) -> None:
    message = render(notice, WorstFacts())
    assert 0 < len(message["blocks"]) <= 50 and 0 < len(message["text"]) <= 4000
    assert validate_message_blocks(message["blocks"]) == []
    for raw in message["blocks"]:
        parsed = Block.parse(raw)
        assert parsed is not None
        parsed.validate_json()
    _assert_message_escaped(message)
    elements = _elements(message)
    readers = READERS[notice.kind](notice)
    usable = set.intersection(*(USABLE[r] for r in readers))
    for el in elements:
        assert el["action_id"] in usable, (
            f"{notice.kind}: {reader} gets {el['action_id']!r}, which they cannot use"
        )
    # One label, one meaning: the message's own buttons are all different, and none repeats
    # the label of a button beside a list item (each commitment's "Done").
    own = [
        el["text"]["text"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for el in b["elements"]
        if el.get("type") == "button"
    ]
    per_item = {
        b["accessory"]["text"]["text"]
        for b in message["blocks"]
        if b.get("accessory", {}).get("type") == "button"
    }
    assert len(own) == len(set(own)), f"two buttons with the same label: {own}"
    assert not per_item & set(own), f"a message button repeats an item's: {per_item & set(own)}"


def test_no_message_promises_that_anyone_reads_feedback() -> None:
    """Until programme admins exist, nothing says "the programme team" reads reasons or
    ratings."""
    for notice in worst_notices():
        text = str(render(notice, WorstFacts()))
        assert "programme team" not in text, notice.kind
    for name, build in DIALOGS.items():
        assert "programme team" not in str(build()), name


def test_the_check_in_has_one_done_with_a_clear_meaning() -> None:
    facts = WorstFacts()
    with_commitments = render(n.CheckinDue(checkin_id=9, bump=False), facts)
    labels = [el["text"]["text"] for el in _elements(with_commitments) if el["type"] == "button"]
    assert labels.count("Done") == len(facts.pair(7).open_commitments)  # one per commitment
    assert "All done" in labels
    empty = n.PairView(**{**facts.pair(7).__dict__, "open_commitments": ()})
    facts.checkin = lambda cid: n.CheckinView(checkin_id=cid, pair=empty, answer=None)  # type: ignore[method-assign]
    without = render(n.CheckinDue(checkin_id=9, bump=False), facts)
    labels = [el["text"]["text"] for el in _elements(without) if el["type"] == "button"]
    assert labels.count("Done") == 1 and "All done" not in labels


def test_the_pause_message_for_the_helper_has_no_add_a_commitment() -> None:
    helper = render(PairPausedTo(pair_id=7, to=n.Side.HELPER), WorstFacts())
    asker = render(PairPausedTo(pair_id=7, to=n.Side.ASKER), WorstFacts())
    assert ids.PAIR_ADD_COMMITMENT not in str(helper["blocks"])
    assert ids.PAIR_ADD_COMMITMENT in str(asker["blocks"])
    # Each is addressed to its reader: "you" is the asker only in the asker's copy.
    assert "from you" in asker["text"] and "<@U0ASKER> has not answered" in helper["text"]


# --------------------------------------------------------------------------- dialogs

#: Every dialog at its worst case, by builder (each variant a reader can get).
DIALOGS: dict[str, Callable[[], dict[str, Any]]] = {
    "build_intake_modal": lambda: blocks.build_intake_modal(
        initial_challenge=worst(3000), max_offers=50, at_once=2
    ),
    "build_edit_ask_modal": lambda: blocks.build_edit_ask_modal(
        codec.MAX_ID, worst(3000), worst(1500), worst(1500)
    ),
    "build_pass_modal": lambda: blocks.build_pass_modal(codec.MAX_ID),
    "build_commitment_modal": lambda: blocks.build_commitment_modal(codec.MAX_ID),
    "build_close_modal": lambda: blocks.build_close_modal(codec.MAX_ID, asker=True),
    "build_close_modal/helper": lambda: blocks.build_close_modal(codec.MAX_ID, asker=False),
    "build_close_modal/asker-feedback": lambda: blocks.build_close_modal(
        codec.MAX_ID, asker=True, feedback=True
    ),
    "build_close_modal/helper-feedback": lambda: blocks.build_close_modal(
        codec.MAX_ID, asker=False, feedback=True
    ),
    "build_profile_modal": lambda: build_profile_modal(worst_profile(paused=True)),
    "build_delete_modal": build_delete_modal,
    "build_join_modal": lambda: cr.build_join_modal(
        text=worst(500), function=worst(80), status="You are waiting for the next round. " * 20
    ),
    "build_action_modal": lambda: cr.build_action_modal(codec.MAX_ID),
    "build_feedback_modal/pulse": lambda: cr.build_feedback_modal(codec.MAX_ID, FeedbackKind.PULSE),
    "build_feedback_modal/close": lambda: cr.build_feedback_modal(
        codec.MAX_ID, FeedbackKind.CLOSEOUT
    ),
    "build_deleted_modal": lambda: build_deleted_modal(
        "Kept without your name, as counts only: 12 asks, 3 pairs, 2 ratings."
    ),
}


def _dialog_builders() -> set[str]:
    """Every ``build_*modal`` function in the ``peerbot.slack`` package."""
    found = set()
    for info in pkgutil.walk_packages(peerbot.slack.__path__, "peerbot.slack."):
        module = importlib.import_module(info.name)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if (
                name.startswith("build_")
                and name.endswith("modal")
                and fn.__module__ == module.__name__
            ):
                found.add(name)
    return found


def test_every_dialog_has_a_worst_case_here() -> None:
    covered = {name.split("/")[0] for name in DIALOGS}
    assert _dialog_builders() <= covered, "a new dialog needs a case here"


@pytest.mark.parametrize("name", sorted(DIALOGS))
def test_every_dialog_at_its_worst_is_valid_and_escaped(name: str) -> None:
    view = DIALOGS[name]()
    assert view["type"] == "modal"
    assert_valid_view(view)
    assert_escaped(view)


def test_the_feedback_dialog_is_titled_and_labelled_as_feedback() -> None:
    for asker in (True, False):
        view = blocks.build_close_modal(1, asker=asker, feedback=True)
        assert view["title"]["text"] == "Your feedback"
        assert view["submit"]["text"] == "Send feedback"
        assert "Close" not in view["title"]["text"] + view["submit"]["text"]


def test_the_intake_says_truly_who_will_see_the_request() -> None:
    def first_text(view: dict[str, Any]) -> str:
        return str(view["blocks"][0]["text"]["text"])

    assert "Up to 3 experienced peers see it, one at a time" in first_text(
        blocks.build_intake_modal(max_offers=3)
    )
    assert "Up to 4 experienced peers see it, 2 at a time" in first_text(
        blocks.build_intake_modal(max_offers=4, at_once=2)
    )
    assert "One experienced peer sees it" in first_text(blocks.build_intake_modal(max_offers=1))
