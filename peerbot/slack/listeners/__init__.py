"""Bolt listeners, one module a surface, each with ``register(app)``.

Listener functions are module-level: each takes what Bolt injects by name (``ack``, ``context``,
``respond``, ``client``, the payload) plus ``deps`` (:class:`~peerbot.slack.deps.Deps`), which
the global :func:`~peerbot.slack.middleware.provide_deps` middleware puts into ``context``. A
test can import one and call it with fakes.

``COMMANDS`` and ``EVENTS`` list what the listeners handle; the manifest test checks them against
``manifest.yml`` both ways.
"""

from __future__ import annotations

from slack_bolt import App

from peerbot.slack.deps import Deps
from peerbot.slack.listeners import (
    admin,
    ask_edit,
    asks,
    circles,
    commands,
    events,
    follow,
    journey,
    pairs,
    privacy,
    profiles,
)
from peerbot.slack.middleware import provide_deps

COMMANDS: tuple[str, ...] = commands.COMMANDS
EVENTS: tuple[str, ...] = events.EVENTS


def register_listeners(app: App, deps: Deps) -> None:
    """Hand ``deps`` to every listener (through ``context``) and attach them all to ``app``."""
    app.middleware(provide_deps(deps))
    commands.register(app)
    events.register(app)
    asks.register(app)
    profiles.register(app)
    pairs.register(app)
    privacy.register(app)
    circles.register(app)
    admin.register(app)
    journey.register(app)
    ask_edit.register(app)
    follow.register(app)
