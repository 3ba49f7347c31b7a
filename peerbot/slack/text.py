"""Escaping user text for Slack mrkdwn, so that nobody can make the bot ping or link."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable


def escape_mrkdwn(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` as Slack requires.

    After this, ``<!channel>``, ``<@U123>`` and ``<http://x|y>`` in user text render literally and
    notify nobody.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ellipsis))] + ellipsis


def _cut_to_fit(text: str, limit: int, measure: Callable[[str], int], ellipsis: str) -> str:
    """The longest prefix of ``text`` (plus ``ellipsis`` when cut) whose ``measure`` fits
    ``limit``; never cuts between a character and the combining marks that follow it."""
    if measure(text) <= limit:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the largest n with measure(text[:n] + ellipsis) <= limit
        mid = (lo + hi + 1) // 2
        if measure(text[:mid] + ellipsis) <= limit:
            lo = mid
        else:
            hi = mid - 1
    while 0 < lo < len(text) and unicodedata.combining(text[lo]):
        lo -= 1
    return text[:lo].rstrip() + ellipsis


def escaped(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` escaped for mrkdwn and cut so that the *escaped* result has at most ``limit``
    characters (``&`` becomes five characters once escaped, so cutting before escaping is not
    enough)."""
    fitted = _cut_to_fit(text, limit, lambda t: len(escape_mrkdwn(t)), ellipsis)
    return escape_mrkdwn(fitted)


def _quote_lines(text: str) -> str:
    return "\n".join("> " + line for line in escape_mrkdwn(text).splitlines() or [""])


def block_quote(text: str, limit: int, ellipsis: str = "…") -> str:
    """User text as an escaped mrkdwn block quote of at most ``limit`` characters in all
    (the ``> `` of every line and the escaping included)."""
    text = text.strip()
    fitted = _cut_to_fit(text, limit, lambda t: len(_quote_lines(t)), ellipsis)
    return _quote_lines(fitted)


def one_line(text: str, limit: int) -> str:
    """User text on one line (whitespace collapsed), escaped, at most ``limit`` characters."""
    return escaped(" ".join(text.split()), limit)
