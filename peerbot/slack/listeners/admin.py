"""Programme admins in Slack: the dashboard link, programme settings, helper management and
invitations for a supply gap. Every handler asks the service, which checks the admin role on
each request: a forged click or submission by anyone else changes nothing."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from peerbot.domain.topics import topic_label
from peerbot.services.programme_admin import HELPER_ACTIONS, NotAdmin
from peerbot.slack import admin_blocks as ab
from peerbot.slack.deps import Deps
from peerbot.slack.listeners.common import actor
from peerbot.slack.listeners.events import publish_home

log = logging.getLogger(__name__)

NOT_ADMIN_TEXT = "This is for the people who run the peer-help programme (programme admins)."


def _refresh(client: WebClient, deps: Deps, team_id: str, user_id: str) -> None:
    publish_home(client, deps, team_id, user_id)


def _refuse(client: WebClient, body: dict[str, Any]) -> None:
    trigger = body.get("trigger_id")
    if trigger:
        client.views_open(trigger_id=trigger, view=ab.message_modal("Admins only", NOT_ADMIN_TEXT))


def dashboard_link(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient,
                   deps: Deps) -> None:  # fmt: skip
    """Open the dashboard: a modal with a one-time sign-in link (admins only)."""
    ack()
    who = actor(context)
    if deps.admin is None:
        return
    try:
        made = deps.admin.sign_in_url(who.team_id, who.user_id)
    except NotAdmin:
        _refuse(client, body)
        return
    if made is None:
        view = ab.message_modal(
            "Programme dashboard",
            "The dashboard's address is not configured: set ADMIN_BASE_URL (see README).",
        )
    else:
        view = ab.link_modal(made[0])
    client.views_open(trigger_id=body["trigger_id"], view=view)


def settings_open(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient,
                  deps: Deps) -> None:  # fmt: skip
    """Programme settings (admins only)."""
    ack()
    who = actor(context)
    if deps.admin is None or not deps.admin.is_admin(who.team_id, who.user_id):
        _refuse(client, body)
        return
    view = ab.settings_modal(deps.admin.home(who.team_id))
    client.views_open(trigger_id=body["trigger_id"], view=view)


def settings_submitted(ack: Ack, view: dict[str, Any], context: BoltContext, client: WebClient,
                       deps: Deps) -> None:  # fmt: skip
    """Save the settings: errors at their fields; a non-admin's submission changes nothing."""
    who = actor(context)
    values = ab.settings_values(view)
    if deps.admin is None:
        ack()
        return
    try:
        _changes, errors = deps.admin.change_settings(who.team_id, who.user_id, values)
    except NotAdmin:
        first = next(iter(values), "max_offers_per_ask")
        ack(response_action="errors", errors={f"ps_{first}": NOT_ADMIN_TEXT})
        return
    if errors:
        ack(
            response_action="errors",
            errors={f"ps_{k}": f"Please enter {msg}." for k, msg in errors.items()},
        )
        return
    ack()
    _refresh(client, deps, who.team_id, who.user_id)


def helper_action(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext,
                  client: WebClient, deps: Deps) -> None:  # fmt: skip
    """Approve, pause, resume or remove a helper (the helper is told)."""
    ack()
    who = actor(context)
    raw = str((action.get("selected_option") or {}).get("value") or action.get("value") or "")
    verb, _, helper = raw.partition(":")
    if deps.admin is None or verb not in HELPER_ACTIONS or not helper:
        return
    try:
        deps.admin.manage_helper(who.team_id, who.user_id, helper, verb)
    except NotAdmin:
        _refuse(client, body)
        return
    _refresh(client, deps, who.team_id, who.user_id)


def invite_open(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext,
                client: WebClient, deps: Deps) -> None:  # fmt: skip
    """Invite helpers for a supply gap: pick people (admins only)."""
    ack()
    who = actor(context)
    if deps.admin is None or not deps.admin.is_admin(who.team_id, who.user_id):
        _refuse(client, body)
        return
    topic = str(action.get("value") or "")
    client.views_open(
        trigger_id=body["trigger_id"], view=ab.invite_modal(topic, topic_label(topic))
    )


def invite_submitted(ack: Ack, view: dict[str, Any], context: BoltContext, deps: Deps) -> None:
    """Send the invitations through the consent flow and say what happened."""
    who = actor(context)
    state = (view.get("state") or {}).get("values", {})
    users = (state.get(ab.INVITE_USERS[0]) or {}).get(ab.INVITE_USERS[1]) or {}
    chosen = [str(u) for u in users.get("selected_users") or []]
    if deps.admin is None:
        ack()
        return
    try:
        counts = deps.admin.invite_helpers(
            who.team_id, who.user_id, chosen, str(view.get("private_metadata") or "")
        )
    except NotAdmin:
        ack(response_action="errors", errors={ab.INVITE_USERS[0]: NOT_ADMIN_TEXT})
        return
    parts = [f"{n} {state}" for state, n in sorted(counts.items())] or ["nobody"]
    ack(
        response_action="update",
        view=ab.message_modal(
            "Invitations",
            "Done: " + ", ".join(parts) + ". Invited people decide themselves; nobody is "
            "asked to help before saying yes.",
        ),
    )


def register(app: App) -> None:
    """Register the admin listeners."""
    app.action(ab.ADMIN_DASHBOARD)(dashboard_link)
    app.action("admin_dashboard_open")(lambda ack: ack())  # the URL button opens the browser
    app.action(ab.ADMIN_SETTINGS)(settings_open)
    app.view(ab.ADMIN_SETTINGS_CALLBACK)(settings_submitted)
    app.action(ab.ADMIN_HELPER)(helper_action)
    app.action(ab.ADMIN_INVITE)(invite_open)
    app.view(ab.ADMIN_INVITE_CALLBACK)(invite_submitted)
