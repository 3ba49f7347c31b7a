"""Bolt listeners, one module a surface, each with ``register(app, deps)``.

``COMMANDS`` and ``EVENTS`` list what the listeners handle; the manifest test checks them against
``manifest.yml`` both ways.
"""

from __future__ import annotations

from slack_bolt import App

from peerbot.slack.deps import Deps
from peerbot.slack.listeners import asks, commands, events, pairs, profiles

COMMANDS: tuple[str, ...] = commands.COMMANDS
EVENTS: tuple[str, ...] = events.EVENTS


def register_listeners(app: App, deps: Deps) -> None:
    """Attach every peerbot listener to ``app``."""
    commands.register(app, deps)
    events.register(app, deps)
    asks.register(app, deps)
    profiles.register(app, deps)
    pairs.register(app, deps)
