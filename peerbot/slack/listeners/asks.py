"""The intake modal's submission and the offer buttons."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from peerbot.domain.asks import clean_text, validate_ask
from peerbot.services.asks import AcceptOutcome, AskService
from peerbot.slack import blocks, ids
from peerbot.slack.deps import Deps
from peerbot.slack.parse import ASK_FIELD_BLOCKS, parse_intake, state_value, team_of, user_of

log = logging.getLogger(__name__)

_ACCEPT_REPLIES = {
    AcceptOutcome.TAKEN: "Thank you! Another peer accepted just before you, so this one is taken.",
    AcceptOutcome.CLOSED: "This request has already moved on, so there is nothing to accept.",
    AcceptOutcome.NOT_YOURS: "This request was offered to someone else.",
    AcceptOutcome.NOT_FOUND: "We could not find this request any more.",
}


def register(app: App, deps: Deps) -> None:
    """Register the intake submission, Accept, Pass and the pass-reason dialog."""
    service: AskService = deps.services["asks"]

    @app.view(ids.INTAKE_CALLBACK)
    def intake_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        inp = parse_intake(view)
        errors = validate_ask(inp)
        if errors:
            ack(
                response_action="errors",
                errors={ASK_FIELD_BLOCKS[f]: msg for f, msg in errors.items()},
            )
            return
        ack()
        service.submit(team_of(body), user_of(body), inp, client_key=view["id"])

    @app.action(ids.OFFER_ACCEPT)
    def accept(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        user = user_of(body)
        outcome = service.accept(team_of(body), int(action["value"]), user)
        reply = _ACCEPT_REPLIES.get(outcome)
        if reply:
            _tell(client, body, user, reply)

    @app.action(ids.OFFER_PASS)
    def pass_clicked(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        client.views_open(
            trigger_id=body["trigger_id"],
            view=blocks.build_pass_modal(int(action["value"])),
        )

    @app.view(ids.PASS_CALLBACK)
    def pass_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ack()
        reason = clean_text(state_value(view, ids.PASS_REASON))
        service.decline(team_of(body), int(view["private_metadata"]), user_of(body), reason)


def _tell(client: WebClient, body: dict[str, Any], user: str, text: str) -> None:
    """A short private reply where the click happened."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    if channel:
        client.chat_postEphemeral(channel=channel, user=user, text=text)
