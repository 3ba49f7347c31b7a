"""Events API listeners: App Home."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from peerbot.slack import blocks
from peerbot.slack.deps import Deps

EVENTS: tuple[str, ...] = ("app_home_opened",)


def register(app: App, deps: Deps) -> None:
    """Register App Home rendering."""

    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab") not in (None, "home"):
            return
        client.views_publish(user_id=event["user"], view=blocks.build_home_view(is_helper=False))
