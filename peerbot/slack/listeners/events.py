"""Events API listeners: App Home, profile changes (time zone, deactivation), and the app's
removal from a workspace (``app_uninstalled``, ``tokens_revoked``)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from peerbot.services.errors import is_outage
from peerbot.slack.admin_blocks import admin_home_blocks
from peerbot.slack.deps import Deps
from peerbot.slack.gateway import user_info
from peerbot.slack.listeners.common import actor
from peerbot.slack.profile_blocks import build_home

log = logging.getLogger(__name__)

EVENTS: tuple[str, ...] = ("app_home_opened", "user_change", "app_uninstalled", "tokens_revoked")


def publish_home(
    client: WebClient, deps: Deps, team_id: str, user_id: str, *, welcome: bool = False
) -> None:
    """Render and publish ``user_id``'s App Home: their history (requests, pairs, offers),
    their profile and data, and the programme section for admins; ``welcome`` adds the short
    first-contact welcome."""
    days = deps.settings.retention_days
    if deps.privacy is not None:  # the workspace's own period (programme settings)
        days = deps.privacy.retention_days_for(team_id)
    data = replace(deps.helpers.home(team_id, user_id), retention_days=days)
    history = deps.journey.history(team_id, user_id) if deps.journey is not None else None
    policy = deps.asks.offer_policy(team_id) if welcome else None  # the workspace's own
    view = build_home(
        data,
        history,
        welcome=welcome,
        max_offers=policy.max_offers if policy else deps.settings.max_offers_per_ask,
        at_once=policy.parallel if policy else deps.settings.parallel_offers,
        urgent_at_once=max(policy.parallel, policy.urgent_parallel) if policy else None,
        circle_weeks=deps.circles.policy_of(team_id).length_weeks
        if deps.circles is not None
        else deps.settings.circle_length_weeks,
    )
    admin = deps.admin
    if admin is not None and admin.is_admin(team_id, user_id):
        view["blocks"] = [*view["blocks"], *admin_home_blocks(admin.home(team_id))]
    client.views_publish(user_id=user_id, view=view)


def home_opened(event: dict[str, Any], context: BoltContext, client: WebClient, deps: Deps) -> None:
    """The Home tab was opened: publish it, fresh. The first time (Slack sends no ``view``
    when nothing was ever published for this person) it starts with a short welcome. With the
    database unavailable: one log line and nothing else (the person did nothing wrong; the
    next opening publishes it)."""
    if event.get("tab") not in (None, "home"):
        return
    try:
        publish_home(
            client, deps, actor(context).team_id, event["user"], welcome=not event.get("view")
        )
    except SlackApiError as e:
        # Slack refused it (the person was deactivated, or is not one Slack lets us publish
        # to): nothing to tell anyone; the next opening by a real person publishes it.
        log.warning("App Home not published for %s: %s", event.get("user"), e.response.get("error"))
    except Exception as e:
        if not is_outage(e):
            raise
        log.warning("App Home not refreshed for %s: the database is unavailable", event["user"])


def user_changed(event: dict[str, Any], context: BoltContext, deps: Deps) -> None:
    """A profile changed in Slack: keep time zone and deactivation current."""
    user = event.get("user") or {}
    if user.get("id"):
        try:
            info = user_info(user)
            team = actor(context).team_id
            if deps.helpers.profile_changed(team, info) and info.deleted and deps.privacy:
                deps.privacy.person_left(team, info.user_id)
        except Exception as e:
            if not is_outage(e):
                raise
            log.warning("profile change of %s not saved: the database is unavailable", user["id"])


def _team(context: BoltContext) -> str:
    """The workspace of an event that names no user (the app's removal)."""
    team = context.team_id or context.get("team_id")
    if not team:
        raise ValueError("the event names no workspace")
    return str(team)


def app_uninstalled(context: BoltContext, deps: Deps) -> None:
    """The app was removed from the workspace: stop sending there at once, purge later."""
    if deps.privacy is not None:
        deps.privacy.workspace_removed(_team(context), "app_uninstalled")


def tokens_revoked(event: dict[str, Any], context: BoltContext, deps: Deps) -> None:
    """Tokens were revoked; when the bot token is among them, nothing can be sent there any
    more: the same as an uninstall (user tokens alone, which peerbot never holds, change
    nothing)."""
    bot = (event.get("tokens") or {}).get("bot") or []
    if bot and deps.privacy is not None:
        deps.privacy.workspace_removed(_team(context), "tokens_revoked")


def register(app: App) -> None:
    """Register App Home rendering, profile changes and the app's removal."""
    app.event("app_home_opened")(home_opened)
    app.event("user_change")(user_changed)
    app.event("app_uninstalled")(app_uninstalled)
    app.event("tokens_revoked")(tokens_revoked)
