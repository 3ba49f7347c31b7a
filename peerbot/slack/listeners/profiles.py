"""The helper profile modal's submission."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from peerbot.domain.profiles import validate_profile
from peerbot.domain.schedule import zone
from peerbot.services.helpers import HelperService
from peerbot.slack import ids
from peerbot.slack.deps import Deps
from peerbot.slack.listeners.events import publish_home
from peerbot.slack.parse import PROFILE_FIELD_BLOCKS, parse_profile, team_of, user_of


def register(app: App, deps: Deps) -> None:
    """Register the profile submission."""
    helpers: HelperService = deps.services["helpers"]

    @app.view(ids.PROFILE_CALLBACK)
    def profile_submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        profile, errors = parse_profile(view)
        tz = (body.get("user") or {}).get("tz")  # not sent by Slack; UTC is the safe side
        today = deps.clock.now().astimezone(zone(tz)).date()
        errors = {**validate_profile(profile, today=today), **errors}
        if errors:
            ack(
                response_action="errors",
                errors={PROFILE_FIELD_BLOCKS[f]: msg for f, msg in errors.items()},
            )
            return
        ack()
        team, user = team_of(body), user_of(body)
        helpers.save(team, user, profile)
        publish_home(client, helpers, team, user)
