"""Wiring of the programme view (admins, dashboard) onto the container: kept beside
``peerbot.app`` so the composition root stays small."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from peerbot.services.admins import AdminPolicy, AdminSignIn
from peerbot.services.programme import ProgrammeView
from peerbot.web.admin import PREFIX, AdminWeb

if TYPE_CHECKING:
    from peerbot.app import Container


@dataclass(frozen=True)
class AdminParts:
    """The admin role, sign-in links and figures of one process."""

    policy: AdminPolicy
    signin: AdminSignIn
    view: ProgrammeView
    #: Where sign-in links point (``.../admin/login?token=...``), or None when unknown.
    base_url: str | None


def admin_parts(container: Container, *, http_mode: bool) -> AdminParts:
    """Build the admin parts from the container's settings."""
    s = container.settings
    base = s.admin_base_url
    if base is None and not http_mode and s.admin_web_port:
        base = f"http://{s.admin_web_host}:{s.admin_web_port}"
    return AdminParts(
        policy=AdminPolicy(container.gateway, s.admin_ids(), from_slack=s.admins_from_slack),
        signin=AdminSignIn(container.sessions, container.clock, s.admin_key()),
        view=ProgrammeView(container.sessions, container.clock),
        base_url=base.rstrip("/") if base else None,
    )


def admin_web(parts: AdminParts) -> AdminWeb:
    """The dashboard (its cookie is Secure when the dashboard is served over https)."""
    secure = bool(parts.base_url and parts.base_url.startswith("https://"))
    return AdminWeb(parts.view, parts.signin, parts.policy, prefix=PREFIX, secure_cookie=secure)


def login_url(parts: AdminParts, token: str) -> str | None:
    """The one-time sign-in URL for ``token``, or None without a base URL."""
    if parts.base_url is None:
        return None
    return f"{parts.base_url}{PREFIX}/login?token={token}"
