"""What privacy means in the data: redacted text, forgotten people, retention periods (pure)."""

from __future__ import annotations

#: What redacted text becomes. An ask whose challenge is empty has been redacted (the intake
#: never accepts an empty challenge), and nothing renders it again.
REDACTED = ""

#: A forgotten person's row keeps only counts (their asks, pairs and offers, all redacted) and
#: loses their Slack id: it becomes this prefix and random letters, never sent to Slack.
FORGOTTEN_PREFIX = "forgotten-"

#: Key in a workspace's settings: when the app was uninstalled (ISO 8601); everything held
#: about the workspace is deleted ``UNINSTALL_GRACE_DAYS`` later.
REMOVED_AT = "removed_at"

#: Days a sent outbox row is kept (for the after-crash check, metrics and support).
SENT_OUTBOX_DAYS = 30


def forgotten_id() -> str:
    """A fresh stand-in for a forgotten person's Slack user id (unique, 26 characters)."""
    import secrets  # here: the idle cron probe imports this module and needs none of it

    return FORGOTTEN_PREFIX + secrets.token_hex(8)


def is_forgotten(slack_user_id: str | None) -> bool:
    """True for the stand-in id of a person whose data was deleted."""
    return bool(slack_user_id) and str(slack_user_id).startswith(FORGOTTEN_PREFIX)


def is_redacted(challenge: str | None) -> bool:
    """True for an ask whose text was redacted (by ``forget`` or by retention)."""
    return not challenge
