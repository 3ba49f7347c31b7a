"""Pure Block Kit builders. Each returns plain dicts, validated against Slack's limits in tests."""

from __future__ import annotations

from typing import Any

from peerbot.domain.limits import MAX_CHALLENGE, MAX_FIELD
from peerbot.domain.topics import TOPICS
from peerbot.slack import codec, copy, ids
from peerbot.slack.text import truncate

URGENCY_OPTIONS = (
    ("low", "Within a couple of weeks"),
    ("normal", "This week"),
    ("high", "In the next day or two"),
)


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def withdraw_button(
    ask_id: int, what_happens: str, label: str = "Withdraw request"
) -> dict[str, Any]:
    """The asker's Withdraw button for ask ``ask_id``, with Slack's own confirmation first
    (nothing irreversible by accident) saying ``what_happens``."""
    return {
        "type": "button",
        "action_id": ids.ASK_WITHDRAW,
        "text": _plain(label),
        "value": codec.ASK.encode(ask_id),
        "style": "danger",
        "confirm": {
            "title": _plain("Withdraw this request?"),
            "text": {"type": "mrkdwn", "text": what_happens},
            "confirm": _plain("Withdraw"),
            "deny": _plain("Keep it"),
        },
    }


def _input(
    block_id: str,
    action_id: str,
    label: str,
    *,
    multiline: bool,
    initial: str = "",
    optional: bool = False,
    placeholder: str = "",
    max_length: int = MAX_FIELD,
    hint: str | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": action_id,
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = truncate(initial, max_length)
    if placeholder:
        element["placeholder"] = _plain(placeholder)
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = _plain(hint)
    return block


def build_intake_modal(
    initial_challenge: str = "",
    private_metadata: str = "",
    *,
    max_offers: int = 3,
    at_once: int = 1,
    urgent_at_once: int | None = None,
) -> dict[str, Any]:
    """The `/peerhelp` intake modal, optionally pre-filled with the command's text.

    ``max_offers``, ``at_once`` and ``urgent_at_once`` (the workspace's offer policy: helpers
    asked in all, at once, and at once for an urgent ask) make the sentence saying who will see
    the request true for this workspace."""
    urgency_options = [{"text": _plain(label), "value": value} for value, label in URGENCY_OPTIONS]
    return {
        "type": "modal",
        "callback_id": ids.INTAKE_CALLBACK,
        "private_metadata": private_metadata,
        "title": _plain("Ask a peer"),
        "submit": _plain("Find a peer"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": (
                        "Describe what you are stuck on. "
                        + copy.who_sees(max_offers, at_once, urgent_at_once)
                        + " You decide whether your name is shown before one accepts."
                    ),
                },
            },
            _input(
                *ids.CHALLENGE,
                "What is the challenge?",
                multiline=True,
                initial=initial_challenge,
                placeholder="e.g. I need to give hard feedback to a senior engineer who…",
                max_length=MAX_CHALLENGE,
            ),
            _input(
                *ids.DESIRED_RESULT,
                "What result do you want?",
                multiline=True,
                optional=True,
                placeholder="What would good look like in a month?",
            ),
            _input(
                *ids.OBSTACLES,
                "What is in the way?",
                multiline=True,
                optional=True,
                placeholder="What have you tried, and what stops you?",
            ),
            _ask_topics_input(),
            {
                "type": "input",
                "block_id": ids.URGENCY[0],
                "label": _plain("How soon do you need to talk?"),
                "element": {
                    "type": "static_select",
                    "action_id": ids.URGENCY[1],
                    "options": urgency_options,
                    "initial_option": urgency_options[1],
                },
            },
            {
                "type": "input",
                "block_id": ids.ANONYMITY[0],
                "optional": True,
                "label": _plain("Privacy"),
                "element": {
                    "type": "checkboxes",
                    "action_id": ids.ANONYMITY[1],
                    "options": [
                        {
                            "text": _plain("Show my name only after a helper accepts"),
                            "value": "anonymous",
                        }
                    ],
                },
            },
            {
                "type": "input",
                "block_id": ids.EXCLUDED[0],
                "optional": True,
                "label": _plain("Don't offer this to"),
                "hint": _plain("These people will never be shown this question."),
                "element": {"type": "multi_users_select", "action_id": ids.EXCLUDED[1]},
            },
            {
                "type": "input",
                "block_id": ids.MANAGER[0],
                "optional": True,
                "label": _plain("Your manager"),
                "hint": _plain("Never offered your questions, nor anyone in your reporting line."),
                "element": {"type": "users_select", "action_id": ids.MANAGER[1]},
            },
        ],
    }


def _ask_topics_input() -> dict[str, Any]:
    """The intake's optional topics: the built-in list (an ask with none picked is matched on
    the topic peerbot reads from its text)."""
    return {
        "type": "input",
        "block_id": ids.ASK_TOPICS[0],
        "optional": True,
        "label": _plain("Topics"),
        "hint": _plain("Optional: helps reach people who have helped on these before."),
        "element": {
            "type": "multi_static_select",
            "action_id": ids.ASK_TOPICS[1],
            "placeholder": _plain("Pick topics"),
            "options": [{"text": _plain(label), "value": key} for key, label in TOPICS],
        },
    }


def build_edit_ask_modal(
    ask_id: int, challenge: str, desired_result: str = "", obstacles: str = ""
) -> dict[str, Any]:
    """Edit request: the ask's three texts, prefilled, with the intake's fields and limits
    (so the intake's checks and field errors apply as they are)."""
    return {
        "type": "modal",
        "callback_id": ids.ASK_EDIT_CALLBACK,
        "private_metadata": codec.ASK.encode(ask_id),
        "title": _plain("Edit your request"),
        "submit": _plain("Save changes"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Change the words of your request. A peer who already has it "
                    "waiting sees the new text, marked as edited by you; peers asked later "
                    "see only the new text.",
                },
            },
            _input(
                *ids.CHALLENGE,
                "What is the challenge?",
                multiline=True,
                initial=challenge,
                max_length=MAX_CHALLENGE,
            ),
            _input(
                *ids.DESIRED_RESULT,
                "What result do you want?",
                multiline=True,
                optional=True,
                initial=desired_result,
            ),
            _input(
                *ids.OBSTACLES,
                "What is in the way?",
                multiline=True,
                optional=True,
                initial=obstacles,
            ),
        ],
    }


def build_pass_modal(offer_id: int) -> dict[str, Any]:
    """Pass on an offer, with an optional reason (kept by peerbot, never shown to the asker)."""
    return {
        "type": "modal",
        "callback_id": ids.PASS_CALLBACK,
        "private_metadata": codec.OFFER.encode(offer_id),
        "title": _plain("Pass on this request"),
        "submit": _plain("Pass"),
        "close": _plain("Back"),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Thanks for letting us know. The asker is not told who passed, "
                    "and there is nothing more for you to do.",
                },
            },
            _input(
                *ids.PASS_REASON,
                "Why not this one? (optional, not shown to the asker)",
                multiline=True,
                optional=True,
                placeholder="e.g. too busy this month, not my area",
                max_length=500,
            ),
        ],
    }


def build_commitment_modal(pair_id: int) -> dict[str, Any]:
    """Add a commitment: what you will do, and optionally by when."""
    return {
        "type": "modal",
        "callback_id": ids.COMMITMENT_CALLBACK,
        "private_metadata": codec.PAIR.encode(pair_id),
        "title": _plain("Add a commitment"),
        "submit": _plain("Commit"),
        "close": _plain("Cancel"),
        "blocks": [
            _input(
                *ids.COMMITMENT_TEXT,
                "What will you do next?",
                multiline=False,
                placeholder="e.g. talk to Sam about the review comments",
                max_length=500,
            ),
            {
                "type": "input",
                "block_id": ids.COMMITMENT_DUE[0],
                "optional": True,
                "label": _plain("By when?"),
                "element": {"type": "datepicker", "action_id": ids.COMMITMENT_DUE[1]},
            },
        ],
    }


OUTCOMES = (
    ("resolved", "Resolved"),
    ("partly", "Partly resolved"),
    ("not", "Not resolved"),
)


def build_close_modal(pair_id: int, *, asker: bool, feedback: bool = False) -> dict[str, Any]:
    """Close-out: the asker's outcome, rating and thanks; the helper's one-line reflection.

    ``feedback``: the other side closed the pairing already, so this is a feedback form
    (titled and labelled so), not a way to close anything."""
    if asker:
        rating_options = [
            {"text": _plain(f"{n} – {label}"), "value": str(n)}
            for n, label in (
                (5, "extremely helpful"),
                (4, "very helpful"),
                (3, "helpful"),
                (2, "a little helpful"),
                (1, "not helpful"),
            )
        ]
        fields: list[dict[str, Any]] = [
            {
                "type": "input",
                "block_id": ids.CLOSE_OUTCOME[0],
                "label": _plain("Where did you get to?"),
                "element": {
                    "type": "radio_buttons",
                    "action_id": ids.CLOSE_OUTCOME[1],
                    "options": [{"text": _plain(t), "value": v} for v, t in OUTCOMES],
                },
            },
            {
                "type": "input",
                "block_id": ids.CLOSE_RATING[0],
                "label": _plain("How helpful was your peer?"),
                "element": {
                    "type": "static_select",
                    "action_id": ids.CLOSE_RATING[1],
                    "options": rating_options,
                },
            },
            _input(
                *ids.CLOSE_THANKS,
                "A thank-you for your peer (optional, we deliver it)",
                multiline=True,
                optional=True,
                max_length=1000,
            ),
        ]
    else:
        fields = [
            _input(
                *ids.CLOSE_REFLECTION,
                "One line of reflection (optional)",
                multiline=False,
                optional=True,
                placeholder="What did you learn, or what would you do differently?",
                max_length=300,
            )
        ]
    return {
        "type": "modal",
        "callback_id": ids.CLOSE_CALLBACK,
        "private_metadata": codec.PAIR.encode(pair_id),
        "title": _plain("Your feedback" if feedback else "Close the pairing"),
        "submit": _plain("Send feedback" if feedback else "Close"),
        "close": _plain("Back"),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": ("The pairing is closed. " if feedback else "")
                    + "Thanks for taking part. "
                    + (
                        "Your outcome and rating are not shown to your peer; a thank-you, if "
                        "you write one, is delivered to them."
                        if asker
                        else "Your reflection is not shown to the person you helped."
                    ),
                },
            },
            *fields,
        ],
    }
