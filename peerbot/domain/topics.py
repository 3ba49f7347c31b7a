"""The built-in list of common manager topics (helpers pick from it and may add their own)."""

from __future__ import annotations

from collections.abc import Iterable

TOPICS: tuple[tuple[str, str], ...] = (
    ("feedback", "Giving hard feedback"),
    ("underperformance", "Underperformance and PIPs"),
    ("conflict", "Conflict in the team"),
    ("hiring", "Hiring and interviewing"),
    ("onboarding", "Onboarding new people"),
    ("firing", "Letting someone go"),
    ("reorg", "Re-orgs and team changes"),
    ("first-time-manager", "First months as a manager"),
    ("peer-to-manager", "Managing former peers"),
    ("managing-managers", "Managing managers"),
    ("remote", "Remote and hybrid teams"),
    ("motivation", "Motivation and engagement"),
    ("burnout", "Burnout and wellbeing"),
    ("career-growth", "Career growth and promotions"),
    ("compensation", "Compensation conversations"),
    ("delegation", "Delegation"),
    ("prioritisation", "Prioritisation and saying no"),
    ("stakeholders", "Managing up and stakeholders"),
    ("cross-team", "Cross-team collaboration"),
    ("change", "Leading through change"),
    ("one-on-ones", "One-on-ones"),
    ("performance-reviews", "Performance reviews"),
    ("diversity-inclusion", "Inclusion and belonging"),
    ("difficult-personalities", "Difficult personalities"),
    ("time-management", "Your own time and focus"),
)

TOPIC_LABELS: dict[str, str] = dict(TOPICS)


def normalise_topic(raw: str) -> str:
    """A topic key: built-in keys and labels map to their key; free entries are cleaned."""
    text = " ".join(raw.strip().split())
    lowered = text.lower()
    for key, label in TOPICS:
        if lowered in (key, label.lower()):
            return key
    return lowered[:60]


def topic_label(key: str) -> str:
    """The display label of a topic key (free entries display as entered)."""
    return TOPIC_LABELS.get(key, key)


def ask_topics(picked: Iterable[str] | None, automatic: str | None) -> tuple[str, ...]:
    """The topics an ask is matched on: those the asker picked, else its automatic label."""
    chosen = tuple(dict.fromkeys(normalise_topic(t) for t in picked or () if t.strip()))
    if chosen:
        return chosen
    return (automatic,) if automatic else ()
