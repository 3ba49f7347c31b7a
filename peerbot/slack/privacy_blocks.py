"""Your data: what peerbot stores, who sees it, how long; Download my data / Delete my data
(for `/peerhelp privacy` and App Home), and the confirmation dialog of a deletion."""

from __future__ import annotations

from typing import Any

from peerbot.domain.wording import counted
from peerbot.slack import ids
from peerbot.slack.blocks import _plain

#: What is stored, who sees it, how long (plain words; the README's Privacy table says the same).
PRIVACY_TEXT = (
    "*Your data*\n"
    "*Your questions* (challenge, result wanted, what is in the way): seen by you and by "
    "the helpers they are offered to (one or two at a time), and by the helper who accepts. "
    "Kept until {days} after the request ended, then the text is deleted.\n"
    "*Commitments, thanks and reflections*: seen by the two of you in a pairing. Kept as "
    "long as the question.\n"
    "*Your helper profile* (expertise, topics, capacity, pause, who you never want to be "
    "matched with): used for matching; the list of people is seen by nobody. Kept until you "
    "delete it.\n"
    "*Dates, statuses and ratings*: counted for the people who run the programme, without "
    "any text."
)


def privacy_blocks(retention_days: int) -> list[dict[str, Any]]:
    """The "Your data" section with Download my data and Delete my data."""
    return [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": PRIVACY_TEXT.format(days=counted(retention_days, "day")),
            },
        },
        {
            "type": "actions",
            "block_id": "privacy_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": ids.PRIVACY_DOWNLOAD,
                    "text": _plain("Download my data"),
                },
                {
                    "type": "button",
                    "action_id": ids.PRIVACY_DELETE,
                    "style": "danger",
                    "text": _plain("Delete my data"),
                },
            ],
        },
    ]


def privacy_text(retention_days: int) -> str:
    """The same in plain text (a message's fallback)."""
    return PRIVACY_TEXT.format(days=counted(retention_days, "day"))


def build_delete_modal() -> dict[str, Any]:
    """Are you sure? What deleting does, with Delete / Cancel."""
    text = (
        "This deletes what you typed into peerbot: your questions, commitments, feedback, "
        "thanks and reflections, and your helper profile. A request still waiting for a helper "
        "is withdrawn; a pairing still running is ended, and the other person is told only "
        "that it ended. This cannot be undone."
    )
    return {
        "type": "modal",
        "callback_id": ids.PRIVACY_DELETE_CALLBACK,
        "title": _plain("Delete my data"),
        "submit": _plain("Delete"),
        "close": _plain("Cancel"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def build_deleted_modal(summary: str) -> dict[str, Any]:
    """The dialog after the deletion: done."""
    return {
        "type": "modal",
        "title": _plain("Delete my data"),
        "close": _plain("Close"),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Done: your data has been deleted. " + summary,
                },
            }
        ],
    }
