"""Events API listeners: App Home, and profile changes (time zone, deactivation)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from peerbot.services.errors import is_outage
from peerbot.services.helpers import HelperService
from peerbot.slack.deps import Deps
from peerbot.slack.gateway import user_info
from peerbot.slack.listeners.common import actor
from peerbot.slack.profile_blocks import build_home

log = logging.getLogger(__name__)

EVENTS: tuple[str, ...] = ("app_home_opened", "user_change")


def publish_home(client: WebClient, helpers: HelperService, team_id: str, user_id: str) -> None:
    """Render and publish ``user_id``'s App Home."""
    client.views_publish(user_id=user_id, view=build_home(helpers.home(team_id, user_id)))


def home_opened(event: dict[str, Any], context: BoltContext, client: WebClient, deps: Deps) -> None:
    """The Home tab was opened: publish it, fresh. With the database unavailable: one log line
    and nothing else (the person did nothing wrong; the next opening publishes it)."""
    if event.get("tab") not in (None, "home"):
        return
    try:
        publish_home(client, deps.helpers, actor(context).team_id, event["user"])
    except Exception as e:
        if not is_outage(e):
            raise
        log.warning("App Home not refreshed for %s: the database is unavailable", event["user"])


def user_changed(event: dict[str, Any], context: BoltContext, deps: Deps) -> None:
    """A profile changed in Slack: keep time zone and deactivation current."""
    user = event.get("user") or {}
    if user.get("id"):
        try:
            deps.helpers.profile_changed(actor(context).team_id, user_info(user))
        except Exception as e:
            if not is_outage(e):
                raise
            log.warning("profile change of %s not saved: the database is unavailable", user["id"])


def register(app: App) -> None:
    """Register App Home rendering and profile changes."""
    app.event("app_home_opened")(home_opened)
    app.event("user_change")(user_changed)
