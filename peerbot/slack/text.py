"""Escaping user text for Slack mrkdwn, so that nobody can make the bot ping or link, and cutting
it to Slack's limits by the length it has *after* escaping."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

ELLIPSIS = "…"
#: Code points that belong to the character before them: the zero-width joiner of emoji
#: sequences, variation selectors and skin-tone modifiers.
_JOINERS = frozenset({"\u200d", "\ufe0e", "\ufe0f", *map(chr, range(0x1F3FB, 0x1F400))})


def escape_mrkdwn(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` as Slack requires.

    After this, ``<!channel>``, ``<@U123>`` and ``<http://x|y>`` in user text render literally and
    notify nobody.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ellipsis))] + ellipsis


def _clean_cut(text: str, n: int) -> int:
    """Move a cut at ``n`` back so that it does not split a character from its combining marks,
    a variation selector, a skin tone or a zero-width joiner."""
    while 0 < n < len(text) and (
        unicodedata.combining(text[n]) or text[n] in _JOINERS or text[n - 1] in _JOINERS
    ):
        n -= 1
    return n


def fit(
    text: str,
    limit: int,
    render: Callable[[str], str] = escape_mrkdwn,
    ellipsis: str = ELLIPSIS,
) -> str:
    """``render(text)`` when that is at most ``limit`` characters; otherwise ``render`` of the
    longest prefix of ``text`` that, with ``ellipsis``, renders within ``limit``.

    ``render`` must not shorten when its input grows (escaping, quoting, a fixed frame all
    qualify). The cut never splits a character from its combining marks.
    """
    whole = render(text)
    if len(whole) <= limit:
        return whole
    lo, hi = 0, len(text)  # the longest fitting prefix length lies in [lo, hi)
    while lo < hi - 1:
        mid = (lo + hi) // 2
        if len(render(text[:mid] + ellipsis)) <= limit:
            lo = mid
        else:
            hi = mid
    cut = _clean_cut(text, lo)
    shown = render(text[:cut] + ellipsis)
    return shown if len(shown) <= limit else render("")


def truncate_escaped(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """``text`` escaped for mrkdwn and cut so that the *escaped* result is at most ``limit``
    characters (an ``&`` costs five); never splits an entity such as ``&amp;``."""
    return fit(text, limit, escape_mrkdwn, ellipsis)


def _quote_lines(text: str) -> str:
    return "\n".join("> " + line for line in escape_mrkdwn(text).splitlines() or [""])


def block_quote(text: str, limit: int) -> str:
    """User text as an escaped mrkdwn block quote of at most ``limit`` characters in all
    (the ``> `` of every line and the escaping included)."""
    return fit(text.strip(), limit, _quote_lines)


def one_line(text: str, limit: int) -> str:
    """User text on one line (whitespace collapsed), escaped, at most ``limit`` characters."""
    return truncate_escaped(" ".join(text.split()), limit)
