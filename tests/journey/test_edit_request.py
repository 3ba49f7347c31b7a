"""Edit request (issue 13: "the asker can withdraw or edit an open request"), through the
emulator: from the receipt and from App Home, the pending offer's DM and the receipt updated in
place with a note, re-embedded, refused politely to anyone else and after a peer accepted, and
bad input answered at the field as the intake answers it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from peerbot.domain.asks import AskInput, text_for_matching
from peerbot.domain.limits import MAX_CHALLENGE, MAX_FIELD
from peerbot.services.journey import Change, JourneyService
from peerbot.services.vectors import text_hash
from peerbot.slack import ids
from peerbot.slack.listeners import ask_edit
from peerbot.slack.render_journey import ASK_EDITED_NOTE, OFFER_EDITED_NOTE
from peerbot.store.db import unit_of_work
from peerbot.store.models import Ask, AskStatus, Embedding, EmbeddingOwner, OfferStatus
from tests.fixtures.app import Harness
from tests.journey.test_accountability import CHALLENGE
from tests.journey.test_ask_accept import text_of
from tests.journey.test_undo_and_home import (
    asked,
    buttons,
    click_home,
    ephemeral_texts,
    home,
    statuses,
)

NEW_CHALLENGE = (
    "How do I tell a senior engineer that their review comments hurt the team? "
    "Tom & Ann <fight> *loudly* <!channel>"
)
NEW_RESULT = "They change how they review, and stay."


def _ask(h: Harness) -> Ask:
    with unit_of_work(h.container.sessions) as s:
        ask = s.scalars(select(Ask)).one()
        s.expunge(ask)
        return ask


def _receipt(h: Harness, asker: str) -> dict[str, Any]:
    return next(m for m in h.dms(asker) if ids.ASK_EDIT in buttons(m))


def _open_edit(h: Harness, asker: str, message: dict[str, Any]) -> dict[str, Any]:
    h.click(asker, message, ids.ASK_EDIT)
    modal = h.emulator.top_modal(asker)
    assert modal is not None and modal["callback_id"] == ids.ASK_EDIT_CALLBACK
    return modal


def _values(challenge: str, result: str = "", obstacles: str = "") -> dict[tuple[str, str], str]:
    return {ids.CHALLENGE: challenge, ids.DESIRED_RESULT: result, ids.OBSTACLES: obstacles}


def _initial(modal: dict[str, Any], block_id: str) -> str:
    block = next(b for b in modal["blocks"] if b.get("block_id") == block_id)
    return str(block["element"].get("initial_value", ""))


def test_edit_while_an_offer_is_pending_updates_the_offer_and_the_receipt(
    harness: Harness,
) -> None:
    h = harness
    asker, helper = asked(h)
    offer_before = h.dms(helper)[0]
    receipt = _receipt(h, asker)
    assert ids.ASK_WITHDRAW in buttons(receipt)  # Edit sits beside Withdraw

    modal = _open_edit(h, asker, receipt)
    assert _initial(modal, ids.CHALLENGE[0]) == CHALLENGE  # prefilled with the ask's words
    r = h.driver.view_submission(asker, modal["id"], _values(NEW_CHALLENGE, NEW_RESULT))
    assert r.status == 200 and not r.body  # saved: the dialog closes
    h.settle()

    ask = _ask(h)
    assert (ask.challenge, ask.desired_result, ask.obstacles) == (NEW_CHALLENGE, NEW_RESULT, None)
    assert statuses(h) == (AskStatus.OFFERED, [OfferStatus.PENDING])
    with unit_of_work(h.container.sessions) as s:
        emb = s.scalars(
            select(Embedding).where(
                Embedding.owner_kind == EmbeddingOwner.ASK, Embedding.owner_id == ask.id
            )
        ).one()
        assert emb.text_sha256 == text_hash(text_for_matching(NEW_CHALLENGE, NEW_RESULT))
    # The helper's offer DM, in place: the new words (escaped), the note, still Accept / Pass.
    offer = h.dms(helper)[0]
    assert len(h.dms(helper)) == 1 and offer["ts"] == offer_before["ts"]
    seen = text_of(offer)
    assert "Tom &amp; Ann &lt;fight&gt;" in seen and "&lt;!channel&gt;" in seen
    assert "<!channel>" not in seen and "review comments hurt the team" in seen
    assert NEW_RESULT in seen and OFFER_EDITED_NOTE in seen
    assert CHALLENGE not in seen
    assert {ids.OFFER_ACCEPT, ids.OFFER_PASS} <= buttons(offer)
    # The asker's receipt, in place: the new words, the note, Edit and Withdraw still there.
    mine = next(m for m in h.dms(asker) if m["ts"] == receipt["ts"])
    assert "review comments hurt the team" in text_of(mine) and ASK_EDITED_NOTE in text_of(mine)
    assert CHALLENGE not in text_of(mine)
    assert {ids.ASK_EDIT, ids.ASK_WITHDRAW} <= buttons(mine)
    assert ask_edit.EDITED_TEXT in ephemeral_texts(h, asker)

    # The same words saved again: nothing changes, and the asker is told so.
    modal = _open_edit(h, asker, mine)
    assert _initial(modal, ids.CHALLENGE[0]) == NEW_CHALLENGE
    h.driver.view_submission(asker, modal["id"], _values(NEW_CHALLENGE, NEW_RESULT))
    h.settle()
    assert ask_edit.EDIT_REPLIES[Change.ALREADY] in ephemeral_texts(h, asker)

    # A dialog opened before the match and submitted after it is refused, at the field.
    late = _open_edit(h, asker, mine)
    h.click(helper, h.dms(helper)[0], ids.OFFER_ACCEPT)
    assert _ask(h).status == AskStatus.PAIRED
    r = h.driver.view_submission(asker, late["id"], _values(CHALLENGE + " Still stuck."))
    assert r.body["response_action"] == "errors"
    assert r.body["errors"][ids.CHALLENGE[0]] == ask_edit.EDIT_REPLIES[Change.NOT_OPEN]
    h.settle()
    assert _ask(h).challenge == NEW_CHALLENGE
    # The helper's message says they accepted; no edit update brought the buttons back.
    assert buttons(h.dms(helper)[0]) == set() and "You accepted" in text_of(h.dms(helper)[0])
    # A stale Edit button (App Home as last shown, before the match): refused, no dialog.
    h.emulator.close_view(late["id"], clear=True)
    stale = h.emulator.home_view(asker) or {}
    assert ids.ASK_EDIT in buttons(stale)
    r = h.driver.block_action(asker, ids.ASK_EDIT, value=str(ask.id), view_id=str(stale["id"]))
    assert r.status == 200
    h.settle()
    assert h.emulator.top_modal(asker) is None
    assert ask_edit.EDIT_REPLIES[Change.NOT_OPEN] in ephemeral_texts(h, asker)


def test_only_the_asker_can_edit(harness: Harness) -> None:
    h = harness
    asker, helper = asked(h)
    ask_id = _ask(h).id
    # The helper's hand-made click on Edit: refused, no dialog.
    view = home(h, asker)
    r = h.driver.block_action(helper, ids.ASK_EDIT, value=str(ask_id), view_id=str(view["id"]))
    assert r.status == 200
    h.settle()
    assert h.emulator.top_modal(helper) is None
    assert ask_edit.EDIT_REPLIES[Change.NOT_YOURS] in ephemeral_texts(h, helper)
    # A forged submission of the asker's dialog by someone else: refused, nothing changes.
    modal = _open_edit(h, asker, _receipt(h, asker))
    offer_before = h.dms(helper)[0]
    r = h.driver.view_submission(helper, modal["id"], _values(NEW_CHALLENGE))
    assert r.body["response_action"] == "errors"
    assert r.body["errors"][ids.CHALLENGE[0]] == ask_edit.EDIT_REPLIES[Change.NOT_YOURS]
    h.settle()
    assert _ask(h).challenge == CHALLENGE
    assert h.dms(helper)[0] == offer_before


def test_bad_input_is_answered_at_the_field_like_the_intake(harness: Harness) -> None:
    h = harness
    asker, helper = asked(h)
    modal = _open_edit(h, asker, _receipt(h, asker))
    offer_before = h.dms(helper)[0]
    cases = {
        "   ": (ids.CHALLENGE[0], "Please describe the challenge"),
        "help": (ids.CHALLENGE[0], "more detail"),
        "x " * MAX_CHALLENGE: (ids.CHALLENGE[0], f"under {MAX_CHALLENGE} characters"),
    }
    for challenge, (block, says) in cases.items():
        r = h.driver.view_submission(asker, modal["id"], _values(challenge))
        assert r.body["response_action"] == "errors", challenge[:20]
        assert says in r.body["errors"][block]
        assert h.emulator.view_is_open(modal["id"])
    r = h.driver.view_submission(asker, modal["id"], _values(NEW_CHALLENGE, "y" * (MAX_FIELD + 1)))
    assert f"under {MAX_FIELD}" in r.body["errors"][ids.DESIRED_RESULT[0]]
    h.settle()
    assert _ask(h).challenge == CHALLENGE  # nothing saved, nothing sent
    assert h.dms(helper)[0] == offer_before
    # Control characters are cleaned as at the intake; the words are kept.
    r = h.driver.view_submission(asker, modal["id"], _values("\u200b" + NEW_CHALLENGE + "\x07 "))
    assert not r.body
    h.settle()
    assert _ask(h).challenge == NEW_CHALLENGE


def test_edit_from_app_home(harness: Harness) -> None:
    h = harness
    asker, helper = asked(h)
    view = home(h, asker)
    assert {ids.ASK_EDIT, ids.ASK_WITHDRAW} <= buttons(view)
    click_home(h, asker, ids.ASK_EDIT)
    modal = h.emulator.top_modal(asker)
    assert modal is not None and _initial(modal, ids.CHALLENGE[0]) == CHALLENGE
    h.driver.view_submission(asker, modal["id"], _values(NEW_CHALLENGE))
    h.settle()
    # App Home was refreshed with the new words; the helper's offer shows them too.
    refreshed = h.emulator.home_view(asker) or {}
    assert "review comments hurt the team" in text_of(refreshed)
    assert OFFER_EDITED_NOTE in text_of(h.dms(helper)[0])
    # Withdrawn, it can no longer be edited.
    click_home(h, asker, ids.ASK_WITHDRAW)
    assert ids.ASK_EDIT not in buttons(h.emulator.home_view(asker) or {})
    receipt = next(m for m in h.dms(asker) if "You withdrew this request" in text_of(m))
    assert "review comments hurt the team" in text_of(receipt)
    journey = JourneyService(h.container.sessions, h.clock, h.container.embedder)
    ask_id = _ask(h).id
    assert journey.texts_to_edit(h.team, ask_id, asker) == Change.NOT_OPEN
    edit = AskInput(challenge=CHALLENGE + " Again.")
    assert journey.edit(h.team, ask_id, asker, edit) == Change.NOT_OPEN
    assert _ask(h).challenge == NEW_CHALLENGE
