"""Pair actions: commitments, check-in answers, snooze, close-out and feedback."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from peerbot.domain.asks import clean_text
from peerbot.domain.checkins import validate_commitment
from peerbot.services.pairs import CloseInput, PairService, Result, Role
from peerbot.slack import blocks, ids
from peerbot.slack.deps import Deps
from peerbot.slack.parse import state_value, team_of, user_of

_REPLIES = {
    Result.NOT_YOURS: "Only the person this is for can do that.",
    Result.CLOSED: "This pairing is already closed.",
    Result.NOT_FOUND: "We could not find this pairing any more.",
    Result.INVALID: "That did not work: please try again.",
}


def _reply(client: WebClient, body: dict[str, Any], user: str, result: Result) -> None:
    text = _REPLIES.get(result)
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    if text and channel:
        client.chat_postEphemeral(channel=channel, user=user, text=text)


def register(app: App, deps: Deps) -> None:
    """Register every pair action and dialog."""
    pairs: PairService = deps.services["pairs"]

    @app.action(ids.PAIR_ADD_COMMITMENT)
    def add_commitment_clicked(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        pair_id = int(action["value"])
        role, closed = pairs.role_of(team_of(body), pair_id, user_of(body))
        if role != Role.ASKER or closed:
            _reply(client, body, user_of(body), Result.CLOSED if closed else Result.NOT_YOURS)
            return
        client.views_open(
            trigger_id=body["trigger_id"], view=blocks.build_commitment_modal(pair_id)
        )

    @app.view(ids.COMMITMENT_CALLBACK)
    def commitment_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        text = clean_text(state_value(view, ids.COMMITMENT_TEXT))
        due_raw = state_value(view, ids.COMMITMENT_DUE)
        due = date.fromisoformat(due_raw) if due_raw else None
        errors = validate_commitment(text, due, today=deps.clock.now().date())
        if errors:
            fields = {"text": ids.COMMITMENT_TEXT[0], "due": ids.COMMITMENT_DUE[0]}
            ack(
                response_action="errors",
                errors={fields[f]: message for f, message in errors.items()},
            )
            return
        ack()
        pairs.add_commitment(
            team_of(body), int(view["private_metadata"]), user_of(body), text, due, view["id"]
        )

    @app.action(re.compile(rf"^{ids.CHECKIN_ACTION}_(done|in_progress|stuck)$"))
    def checkin_answer(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        answer = action["action_id"].removeprefix(ids.CHECKIN_ACTION + "_")
        user = user_of(body)
        result = pairs.answer_checkin(team_of(body), int(action["value"]), user, answer)
        _reply(client, body, user, result)

    @app.action(ids.COMMITMENT_DONE)
    def commitment_done(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        user = user_of(body)
        result = pairs.commitment_done(team_of(body), int(action["value"]), user)
        if result == Result.OK:
            channel = (body.get("channel") or {}).get("id")
            if channel:
                client.chat_postEphemeral(
                    channel=channel, user=user, text=":white_check_mark: Marked done. Nice work!"
                )
        else:
            _reply(client, body, user, result)

    @app.action(ids.PAIR_SNOOZE)
    def snooze(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        user = user_of(body)
        pair_raw, choice = action["selected_option"]["value"].split(":", 1)
        team, pair_id = team_of(body), int(pair_raw)
        if choice in ("weekly", "biweekly"):
            result = pairs.set_cadence(team, pair_id, user, choice)
            done = f"Check-ins are now {'weekly' if choice == 'weekly' else 'every two weeks'}."
        else:
            weeks = {"snooze_1": 1, "snooze_2": 2, "stop": 0}.get(choice, -1)
            result = pairs.snooze(team, pair_id, user, weeks)
            done = (
                "Check-ins are stopped. You can still add commitments and close the pairing."
                if weeks == 0
                else f"Check-ins are snoozed for {weeks} week{'s' if weeks > 1 else ''}."
            )
        if result == Result.OK:
            channel = (body.get("channel") or {}).get("id")
            if channel:
                client.chat_postEphemeral(channel=channel, user=user, text=done)
        else:
            _reply(client, body, user, result)

    def open_close(body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        pair_id = int(action["value"])
        user = user_of(body)
        role, _closed = pairs.role_of(team_of(body), pair_id, user)
        if role is None:
            _reply(client, body, user, Result.NOT_YOURS)
            return
        client.views_open(
            trigger_id=body["trigger_id"],
            view=blocks.build_close_modal(pair_id, asker=role == Role.ASKER),
        )

    for action_id in (ids.PAIR_CLOSE, ids.CHECKIN_CLOSE, ids.FEEDBACK_OPEN):

        @app.action(action_id)
        def close_clicked(
            ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
        ) -> None:
            ack()
            open_close(body, action, client)

    @app.view(ids.CLOSE_CALLBACK)
    def close_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ack()
        rating = state_value(view, ids.CLOSE_RATING)
        answers = CloseInput(
            outcome=state_value(view, ids.CLOSE_OUTCOME),
            rating=int(rating) if rating else None,
            thanks=clean_text(state_value(view, ids.CLOSE_THANKS)),
            reflection=clean_text(state_value(view, ids.CLOSE_REFLECTION)),
        )
        pairs.close(team_of(body), int(view["private_metadata"]), user_of(body), answers)
