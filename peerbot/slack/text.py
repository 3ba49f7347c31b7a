"""Escaping user text for Slack mrkdwn, so that nobody can make the bot ping or link."""

from __future__ import annotations


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
