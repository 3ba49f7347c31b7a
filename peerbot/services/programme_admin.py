"""What programme admins do in Slack: see the month at a glance, change programme settings,
manage helpers (approve, pause, resume, remove: the helper is told), invite helpers for a
supply gap, and get a sign-in link to the dashboard.

Every action checks again that the person is an admin (:class:`NotAdmin` otherwise): a button
or a modal submission can be forged, a role can be lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.ports import Clock, Directory, DirectoryError
from peerbot.domain.profiles import ProfileInput
from peerbot.domain.programme_notices import HelperStatusChanged
from peerbot.services import messages
from peerbot.services.admins import AdminPolicy, AdminSignIn
from peerbot.services.people import find_person
from peerbot.services.programme import Figures, HelperRow, ProgrammeView, TopicRow
from peerbot.services.programme_settings import (
    AWAITING_APPROVAL,
    SPECS,
    Change,
    Spec,
    audit_log,
    change,
    effective,
)
from peerbot.store.db import read_only, unit_of_work
from peerbot.store.models import HelperProfile

log = logging.getLogger(__name__)

#: An admin's pause lasts until an admin resumes it.
ADMIN_PAUSE = timedelta(days=3650)
HELPER_ACTIONS = ("approve", "pause", "resume", "remove")


class NotAdmin(Exception):
    """The person is not a programme admin (any more)."""


@dataclass(frozen=True)
class AdminHome:
    """The admin section of App Home."""

    month: Figures
    gaps: list[TopicRow]
    helpers: list[HelperRow]
    settings: dict[str, Any]
    specs: Mapping[str, Spec]
    dashboard: bool


#: ``import_in(session, team_id, info, profile, now)``: the helper consent flow's invitation.
Inviter = Callable[[Session, str, Any, ProfileInput, datetime], tuple[str, bool]]


class ProgrammeAdmin:
    """Admin use-cases, each checking the admin role first."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        directory: Directory,
        policy: AdminPolicy,
        signin: AdminSignIn,
        view: ProgrammeView,
        defaults: Mapping[str, Any],
        *,
        base_url: str | None,
        inviter: Inviter | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._directory = directory
        self.policy = policy
        self.signin = signin
        self.view = view
        self._defaults = dict(defaults)
        self._base_url = base_url
        self._inviter = inviter

    def is_admin(self, team_id: str, user_id: str) -> bool:
        """Whether ``user_id`` is a programme admin of ``team_id`` now."""
        return self.policy.is_admin(team_id, user_id)

    def _require(self, team_id: str, user_id: str) -> None:
        if not self.is_admin(team_id, user_id):
            log.warning("refused an admin action by %s in %s: not an admin", user_id, team_id)
            raise NotAdmin(user_id)

    def home(self, team_id: str) -> AdminHome:
        """This month at a glance, the three largest supply gaps, helpers and settings."""
        month = self.view.this_month(team_id)
        return AdminHome(
            month=month,
            gaps=self.view.figures(team_id).supply_gaps,
            helpers=self.view.helpers(team_id),
            settings=self.settings(team_id),
            specs=SPECS,
            dashboard=self._base_url is not None,
        )

    def settings(self, team_id: str) -> dict[str, Any]:
        """The workspace's programme settings now."""
        with read_only(self._sessions) as session:
            return effective(session, team_id, self._defaults)

    def audit(self, team_id: str, user_id: str) -> list[Change]:
        """The latest settings changes (admins only)."""
        self._require(team_id, user_id)
        with read_only(self._sessions) as session:
            return audit_log(session, team_id)

    def change_settings(
        self, team_id: str, user_id: str, values: Mapping[str, Any]
    ) -> tuple[list[Change], dict[str, str]]:
        """Store and log the changed settings; ``(changes, errors by key)``."""
        self._require(team_id, user_id)
        with unit_of_work(self._sessions) as session:
            changes, errors = change(
                session, team_id, user_id, values, self._defaults, self._clock.now()
            )
        for c in changes:
            log.info(
                "programme setting %s in %s: %r -> %r by %s", c.key, team_id, c.old, c.new, user_id
            )
        return changes, errors

    def sign_in_url(self, team_id: str, user_id: str) -> tuple[str, datetime] | None:
        """A one-time dashboard link for an admin, or None without a dashboard address."""
        self._require(team_id, user_id)
        if self._base_url is None:
            return None
        token, expires = self.signin.issue_link_token(team_id, user_id)
        return f"{self._base_url}/admin/login?token={token}", expires

    def manage_helper(self, team_id: str, admin_id: str, helper_id: str, action: str) -> bool:
        """Approve, pause, resume or remove a helper; the helper is told. False when there is
        nothing to do (no such helper, or already so)."""
        self._require(team_id, admin_id)
        if action not in HELPER_ACTIONS:
            raise ValueError(f"unknown helper action {action!r}")
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            person = find_person(session, team_id, helper_id)
            profile = session.get(HelperProfile, person.id) if person else None
            if person is None or profile is None:
                return False
            if action == "approve":
                if profile.consent != AWAITING_APPROVAL:
                    return False
                profile.opted_in, profile.consent = True, "self"
            elif action == "pause":
                if not profile.opted_in or (profile.paused_until and profile.paused_until > now):
                    return False
                profile.paused_until = now + ADMIN_PAUSE
            elif action == "resume":
                if not profile.opted_in or profile.paused_until is None:
                    return False
                profile.paused_until = None
            else:
                if not profile.opted_in and profile.consent != AWAITING_APPROVAL:
                    return False
                profile.opted_in, profile.consent = False, "removed"
            profile.updated_at = now
            messages.post(
                session,
                team_id=team_id,
                key=f"helper:{person.id}:{action}:{now.isoformat()}",
                to=helper_id,
                notice=HelperStatusChanged(person_id=person.id, change=action),
                now=now,
            )
        log.info("helper %s in %s: %s by admin %s", helper_id, team_id, action, admin_id)
        return True

    def invite_helpers(
        self, team_id: str, admin_id: str, user_ids: Sequence[str], topic: str
    ) -> dict[str, int]:
        """Invite people to help on ``topic`` through the consent flow (a DM with Yes / Not
        now; nobody is enrolled before yes). Counts per outcome."""
        self._require(team_id, admin_id)
        counts: dict[str, int] = {}
        if self._inviter is None:
            return counts
        now = self._clock.now()
        for uid in dict.fromkeys(user_ids):
            try:
                info = self._directory.user(team_id, uid)
            except DirectoryError:
                info = None
            if info is None or not info.may_help:
                counts["not possible"] = counts.get("not possible", 0) + 1
                continue
            with unit_of_work(self._sessions) as session:
                state, _ = self._inviter(
                    session,
                    team_id,
                    info,
                    ProfileInput(opted_in=False, topics=(topic,) if topic else ()),
                    now,
                )
            counts[state] = counts.get(state, 0) + 1
        return counts
