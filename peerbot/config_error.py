"""The configuration error, apart from the settings themselves: the `peerbot` command catches it
without importing pydantic (the idle cron tick answers before the settings are built)."""

from __future__ import annotations


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message says what to set."""
