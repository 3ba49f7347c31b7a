"""Edit request (the receipt DM, App Home): the dialog with the ask's texts, and its submission.

Only the asker, and only while the request waits for a peer; anyone else, or a request a peer
already accepted (or that ended), gets a polite answer saying so and nothing changes.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from peerbot.domain.asks import AskInput, clean_text, validate_ask
from peerbot.services.journey import AskTexts, Change
from peerbot.slack import blocks, codec, ids
from peerbot.slack.deps import Deps
from peerbot.slack.listeners.common import actor, decoded
from peerbot.slack.listeners.journey import _refresh_home, _say
from peerbot.slack.parse import ASK_FIELD_BLOCKS, state_value

log = logging.getLogger(__name__)

EDITED_TEXT = (
    "Saved: your request now reads as you edited it, and a peer who has it waiting sees the "
    "new text."
)
EDIT_REPLIES = {
    Change.ALREADY: "Nothing changed in your request, so there was nothing to save.",
    Change.NOT_YOURS: "Only the person who asked can edit a request.",
    Change.NOT_OPEN: "This request is no longer waiting for a peer (a peer accepted it, or it "
    "ended or was withdrawn), so it can no longer be edited. To ask about something new, "
    "type `/peerhelp`.",
    Change.NOT_FOUND: "We could not find this request any more; your current requests are in "
    "peerbot's Home tab.",
}


def edit_clicked(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """Edit request: open the dialog prefilled with the ask's texts, or say why not."""
    ack()
    ask_id = decoded(codec.ASK, action.get("value"), respond, client, context)
    if ask_id is None or deps.journey is None:
        return
    who = actor(context)
    found = deps.journey.texts_to_edit(who.team_id, ask_id, who.user_id)
    if not isinstance(found, AskTexts):
        _say(respond, client, context, EDIT_REPLIES[found])
        return
    client.views_open(
        trigger_id=body["trigger_id"],
        view=blocks.build_edit_ask_modal(
            found.ask_id, found.challenge, found.desired_result, found.obstacles
        ),
    )


def edit_submitted(
    ack: Ack, view: dict[str, Any], context: BoltContext, client: WebClient, deps: Deps
) -> None:
    """The edit dialog: the intake's checks at the field, then the change is saved (and the
    messages showing the request updated), or the dialog says why it cannot be."""
    ask_id = decoded(codec.ASK, view.get("private_metadata"), None, client, context, reply=False)
    if ask_id is None or deps.journey is None:
        ack()
        return
    inp = AskInput(
        challenge=clean_text(state_value(view, ids.CHALLENGE)),
        desired_result=clean_text(state_value(view, ids.DESIRED_RESULT)),
        obstacles=clean_text(state_value(view, ids.OBSTACLES)),
    )
    errors = validate_ask(inp)
    if errors:
        ack(
            response_action="errors",
            errors={ASK_FIELD_BLOCKS[f]: msg for f, msg in errors.items()},
        )
        return
    who = actor(context)
    result = deps.journey.edit(who.team_id, ask_id, who.user_id, inp)
    if result in (Change.OK, Change.ALREADY):
        ack()
        _say(None, client, context, EDITED_TEXT if result == Change.OK else EDIT_REPLIES[result])
        _refresh_home(client, deps, who.team_id, who.user_id)
        return
    ack(response_action="errors", errors={ids.CHALLENGE[0]: EDIT_REPLIES[result]})


def register(app: App) -> None:
    """Register Edit request and its dialog."""
    app.action(ids.ASK_EDIT)(edit_clicked)
    app.view(ids.ASK_EDIT_CALLBACK)(edit_submitted)
