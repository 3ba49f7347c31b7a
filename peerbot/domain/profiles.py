"""A helper's profile as they edit it, and its rules. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from peerbot.domain.limits import MAX_EXPERTISE

MAX_CAPACITY = 10
MAX_YEARS = 60
MAX_TOPICS = 20


@dataclass(frozen=True)
class ProfileInput:
    """What a helper (or an import row) says about themselves."""

    opted_in: bool
    expertise: str = ""
    topics: tuple[str, ...] = ()
    years_managing: int | None = None
    function: str = ""
    capacity: int = 2
    paused_until: date | None = None
    never_match: tuple[str, ...] = field(default_factory=tuple)


def validate_profile(p: ProfileInput, *, today: date) -> dict[str, str]:
    """Field errors keyed by field name; empty when valid."""
    errors: dict[str, str] = {}
    if p.opted_in and len(p.expertise.split()) < 3:
        errors["expertise"] = (
            "Tell askers a little about situations you have handled as a manager "
            "(a sentence or two), so we can match you well."
        )
    if len(p.expertise) > MAX_EXPERTISE:
        errors["expertise"] = f"Please keep it under {MAX_EXPERTISE} characters."
    if p.years_managing is not None and not 0 <= p.years_managing <= MAX_YEARS:
        errors["years_managing"] = f"Please enter a number of years from 0 to {MAX_YEARS}."
    if not 0 <= p.capacity <= MAX_CAPACITY:
        errors["capacity"] = f"Please choose from 0 to {MAX_CAPACITY} people at once."
    if p.paused_until is not None and p.paused_until <= today:
        errors["paused_until"] = "Pick a date in the future, or leave it empty to stay available."
    if len(p.topics) > MAX_TOPICS:
        errors["topics"] = f"Please pick at most {MAX_TOPICS} topics."
    return errors
