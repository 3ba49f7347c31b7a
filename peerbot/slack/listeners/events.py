"""Events API listeners: App Home, and profile changes (time zone, deactivation)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from peerbot.services.helpers import HelperService
from peerbot.slack.deps import Deps
from peerbot.slack.gateway import user_info
from peerbot.slack.parse import team_of
from peerbot.slack.profile_blocks import build_home

EVENTS: tuple[str, ...] = ("app_home_opened", "user_change")


def publish_home(client: WebClient, helpers: HelperService, team_id: str, user_id: str) -> None:
    """Render and publish ``user_id``'s App Home."""
    client.views_publish(user_id=user_id, view=build_home(helpers.home(team_id, user_id)))


def register(app: App, deps: Deps) -> None:
    """Register App Home rendering."""
    helpers: HelperService = deps.services["helpers"]

    @app.event("app_home_opened")
    def home_opened(body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab") not in (None, "home"):
            return
        publish_home(client, helpers, team_of(body), event["user"])

    @app.event("user_change")
    def user_changed(body: dict[str, Any], event: dict[str, Any]) -> None:
        user = event.get("user") or {}
        if user.get("id"):
            helpers.profile_changed(team_of(body), user_info(user))
