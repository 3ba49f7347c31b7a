"""The helper profile modal's submission."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from peerbot.domain.profiles import validate_profile
from peerbot.domain.schedule import zone
from peerbot.slack import ids
from peerbot.slack.deps import Deps
from peerbot.slack.listeners.common import actor
from peerbot.slack.listeners.events import publish_home
from peerbot.slack.parse import PROFILE_FIELD_BLOCKS, parse_profile


def profile_submitted(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    context: BoltContext,
    client: WebClient,
    deps: Deps,
) -> None:
    """The profile modal: field errors at the field, else save and refresh App Home."""
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
    who = actor(context)
    deps.helpers.save(who.team_id, who.user_id, profile)
    if profile.paused_until is not None and deps.journey is not None:
        deps.journey.pause_told(who.team_id, who.user_id)  # a DM: when it ends, Resume now
    publish_home(client, deps, who.team_id, who.user_id)


def register(app: App) -> None:
    """Register the profile submission."""
    app.view(ids.PROFILE_CALLBACK)(profile_submitted)
