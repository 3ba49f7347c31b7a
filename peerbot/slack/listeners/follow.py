"""Follow-through buttons: "did you meet?", "Try another peer", "Resume now" after the
ghost-rule pause, and "Tell me when someone can" after nobody could help.

Each listener acknowledges, decodes the click, calls one service method and says privately why
nothing happened when nothing did; the messages themselves change through the outbox.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from peerbot.services.asks import RepairOutcome, WaitOutcome
from peerbot.services.pairs import Result
from peerbot.slack import codec, follow_ids
from peerbot.slack.deps import Deps
from peerbot.slack.listeners.common import answer_click

MEET_REPLIES = {
    Result.NOT_YOURS: "Only the person this question was for can answer it.",
    Result.NOT_FOUND: "We could not find this pairing any more.",
    Result.INVALID: "That did not work: please try again.",
    Result.CLOSED: "This pairing has already ended, so this answer was not recorded and there "
    "is nothing to answer here any more. To ask for help again, type `/peerhelp`.",
}
REPAIR_REPLIES = {
    RepairOutcome.NOT_YOURS: "Only the person who asked for help can ask for another peer.",
    RepairOutcome.NOT_FOUND: "We could not find this pairing any more.",
    RepairOutcome.ALREADY: "We are already looking for another peer for this request.",
}
WAIT_REPLIES = {
    WaitOutcome.NOT_YOURS: "Only the person who asked can choose this.",
    WaitOutcome.NOT_FOUND: "We could not find this request any more.",
    WaitOutcome.CLOSED: "This request is no longer waiting for a helper.",
}


def meet_answer(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """Yes we met / Not yet / It isn't going to happen."""
    ack()
    answer = follow_ids.MEET_ANSWERS[action["action_id"]]
    service = partial(deps.pairs.answer_meeting, answer=answer)
    answer_click(follow_ids.MEETING, action, context, respond, client, service, MEET_REPLIES)


def another_peer(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """Try another peer: back to matching without the earlier helper."""
    ack()
    answer_click(
        codec.PAIR, action, context, respond, client, deps.asks.another_peer, REPAIR_REPLIES
    )


def wait_for_helper(
    ack: Ack,
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    deps: Deps,
) -> None:
    """Tell me when someone can: the unmet ask waits for a newly available helper."""
    ack()
    answer_click(
        follow_ids.ASK, action, context, respond, client, deps.asks.wait_for_helper, WAIT_REPLIES
    )


def register(app: App) -> None:
    """Register the follow-through buttons."""
    for action_id in follow_ids.MEET_ANSWERS:
        app.action(action_id)(meet_answer)
    app.action(follow_ids.ANOTHER_PEER)(another_peer)
    app.action(follow_ids.ASK_WAIT)(wait_for_helper)
