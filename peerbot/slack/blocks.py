"""Pure Block Kit builders. Each returns plain dicts, validated against Slack's limits in tests."""

from __future__ import annotations

from typing import Any

from peerbot.domain.limits import MAX_CHALLENGE, MAX_FIELD
from peerbot.slack import ids
from peerbot.slack.text import escape_mrkdwn, truncate

SECTION_LIMIT = 3000

URGENCY_OPTIONS = (
    ("low", "Within a couple of weeks"),
    ("normal", "This week"),
    ("high", "In the next day or two"),
)


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


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


def build_intake_modal(initial_challenge: str = "", private_metadata: str = "") -> dict[str, Any]:
    """The `/peerhelp` intake modal, optionally pre-filled with the command's text."""
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
                        "Describe what you are stuck on. Only the peer we ask to help will see it, "
                        "and only you decide whether your name is shown before they accept."
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
        ],
    }


def quote(text: str, limit: int = SECTION_LIMIT - 100) -> str:
    """User text as an escaped mrkdwn block quote, cut to fit a section."""
    escaped = escape_mrkdwn(truncate(text.strip(), limit))
    return "\n".join("> " + line for line in escaped.splitlines() or [""])


def build_pass_modal(offer_id: int) -> dict[str, Any]:
    """Pass on an offer, with an optional reason (private to the programme team)."""
    return {
        "type": "modal",
        "callback_id": ids.PASS_CALLBACK,
        "private_metadata": str(offer_id),
        "title": _plain("Pass on this request"),
        "submit": _plain("Pass"),
        "close": _plain("Back"),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Thanks for letting us know. We will ask the next peer right away.",
                },
            },
            _input(
                *ids.PASS_REASON,
                "Anything we should know? (optional)",
                multiline=True,
                optional=True,
                placeholder="e.g. too busy this month, not my area",
                max_length=500,
            ),
        ],
    }
