"""Circle themes: generic words never name a theme; what members share does."""

from __future__ import annotations

import re

from peerbot.circles.theme import ENGLISH_STOPWORDS, FALLBACK, MAX_THEME, circle_theme


def words(theme: str) -> set[str]:
    return set(re.findall(r"[a-z]+", theme.lower()))


def test_generic_english_words_do_not_name_a_theme() -> None:
    # "each" is in every text, "coach" in all four: the theme is about coaching.
    texts = [
        "each week I try to coach each report",
        "each of my reports needs coaching",
        "I want each person coached",
        "coach each of them well",
    ]
    theme = circle_theme(texts)
    assert "each" not in words(theme)
    assert "coach" in words(theme)


def test_generic_verbs_and_filler_give_way_to_the_topic() -> None:
    texts = [
        "Giving hard feedback to an underperforming team member",
        "Having difficult performance conversations without damaging trust",
        "Giving critical feedback to a peer manager about their behaviour in meetings",
        "How to give honest negative feedback to someone who gets defensive",
        "Handling a performance improvement plan conversation with an underperformer",
    ]
    theme = circle_theme(texts)
    assert "feedback" in words(theme)
    assert not words(theme) & {"giving", "give", "having", "handling", "team", "manager"}


def test_only_generic_words_shared_gives_the_fallback() -> None:
    texts = [
        "How do other people keep going when each week is too much",
        "Each of us tries to keep going, other teams too",
        "I want to know how others keep going every week",
    ]
    assert circle_theme(texts) == FALLBACK


def test_the_list_holds_general_words_only() -> None:
    # General English, not topics a circle could be about.
    assert {"each", "every", "other", "giving"} <= ENGLISH_STOPWORDS
    assert not {"feedback", "hiring", "delegating", "coach", "layoffs"} & ENGLISH_STOPWORDS
    assert len(circle_theme(["delegating to senior reports"] * 3)) <= MAX_THEME
