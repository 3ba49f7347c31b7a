"""The ask as the asker writes it, and the rules for accepting it. Pure."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from peerbot.domain.limits import MAX_CHALLENGE, MAX_FIELD, MIN_CHALLENGE

URGENCIES = ("low", "normal", "high")

#: Statuses of an ask peerbot is still finding a helper for: received, being matched, or
#: offered to a helper who has not answered yet. The asker may still edit or withdraw it.
LOOKING = ("open", "matching", "offered")
#: The status of an ask nobody could take; it may still wait (:func:`still_waiting`).
UNMET = "unmet"


def still_waiting(status: str, waiting_until: datetime | None, now: datetime) -> bool:
    """True for an ask nobody could take whose asker chose "Tell me when someone can" and whose
    wait is not over at ``now``: a newly available matching helper is still offered it, and
    the asker may withdraw it (not edit it)."""
    return status == UNMET and waiting_until is not None and waiting_until > now


def waiting_for_helper(status: str, waiting_until: datetime | None, now: datetime) -> bool:
    """True for an ask still waiting for a helper at ``now``: being looked for (:data:`LOOKING`)
    or still waiting after it went unmet (:func:`still_waiting`). The asker may withdraw it; it
    is in progress (ended politely when the asker leaves)."""
    return status in LOOKING or still_waiting(status, waiting_until, now)


@dataclass(frozen=True)
class AskInput:
    """What the intake modal collects."""

    challenge: str
    desired_result: str = ""
    obstacles: str = ""
    urgency: str = "normal"
    anonymous: bool = False
    #: Slack user ids not to offer this ask to ("Don't offer this to").
    excluded: tuple[str, ...] = ()
    #: The asker's manager, when they name one (never offered their questions).
    manager: str | None = None
    #: Built-in topic keys the asker picked (optional; matched by ``topic_history``).
    topics: tuple[str, ...] = ()

    def text_for_matching(self) -> str:
        """The text embedded and matched (see :func:`text_for_matching`)."""
        return text_for_matching(self.challenge, self.desired_result, self.obstacles)


def text_for_matching(
    challenge: str, desired_result: str | None = "", obstacles: str | None = ""
) -> str:
    """The one join of an ask's text to embed and match: challenge, then result and obstacles."""
    return "\n".join(p for p in (challenge, desired_result, obstacles) if p)


def clean_text(raw: object) -> str:
    """Normalise user text: NFC, no control characters except newlines/tabs, trimmed.

    Anything that is not text (a list from a mismatched element state) counts as empty."""
    if not raw or not isinstance(raw, str):
        return ""
    text = unicodedata.normalize("NFC", raw)
    text = "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    )
    return text.strip()


def validate_ask(inp: AskInput) -> dict[str, str]:
    """Field errors keyed by field name (challenge, desired_result, ...); empty when valid."""
    errors: dict[str, str] = {}
    words = len(inp.challenge.split())
    if not inp.challenge:
        errors["challenge"] = "Please describe the challenge, so we can find the right peer."
    elif len(inp.challenge) < MIN_CHALLENGE or words < 3:
        errors["challenge"] = (
            "A little more detail, please: a sentence or two about the situation helps us find "
            "someone who has faced the same thing."
        )
    elif len(inp.challenge) > MAX_CHALLENGE:
        errors["challenge"] = f"Please keep it under {MAX_CHALLENGE} characters."
    for name in ("desired_result", "obstacles"):
        if len(getattr(inp, name)) > MAX_FIELD:
            errors[name] = f"Please keep it under {MAX_FIELD} characters."
    if inp.urgency not in URGENCIES:
        errors["urgency"] = "Please choose how soon you need to talk."
    return errors
