"""Small wording rules every screen shares (Slack messages, the admin pages, the CLI). Pure."""

from __future__ import annotations


def counted(n: int | str, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` in agreement: "1 helper", "0 helpers", "3 helpers". A count that is
    not a number (a breakdown's "fewer than 5") takes the plural. ``plural`` for a noun that
    does not just add an "s"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
