"""Installations of the app in many workspaces (OAuth mode): which bot token serves a workspace,
what an install records, and what an uninstall hands over to the privacy rules.

The installations themselves live in slack_sdk's installation store (its SQLAlchemy tables on
peerbot's database); this service adds what peerbot needs around them: the ``workspaces`` row
(with ``enterprise_id`` where Slack gives one), the lookup of a workspace's bot (its own install
or its Enterprise Grid organisation's org-wide install), and removal.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.ports import Clock
from peerbot.services.people import ensure_workspace
from peerbot.services.privacy import REMOVED_AT
from peerbot.store.db import unit_of_work
from peerbot.store.models import Workspace

log = logging.getLogger(__name__)


class InstallationService:
    """Installs, lookups and removals of the app, one workspace (or organisation) at a time.

    Every lookup is keyed by one workspace (``team_id``) and, for Enterprise Grid, by that
    workspace's own organisation: no method reads another workspace's token.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        store: InstallationStore,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.store = store
        self._lock = threading.Lock()
        #: team_id -> enterprise_id (None: a workspace outside Enterprise Grid), once recorded.
        self._enterprise: dict[str, str | None] = {}

    # ------------------------------------------------------------------ install

    def installed(self, installation: Installation) -> None:
        """An install (or reinstall) finished: record the workspace with its organisation, and
        lift a pause left by an earlier uninstall. An org-wide install names no workspace:
        its workspaces are recorded as their first requests arrive (:meth:`seen`)."""
        team_id = installation.team_id
        enterprise_id = installation.enterprise_id
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            if team_id and not installation.is_enterprise_install:
                teams = [self._record(session, team_id, enterprise_id, now)]
                ws = teams[0]
                ws.name = installation.team_name or ws.name
                ws.bot_user_id = installation.bot_user_id or ws.bot_user_id
            elif enterprise_id:
                org = select(Workspace).where(Workspace.enterprise_id == enterprise_id)
                teams = list(session.scalars(org))
            else:
                teams = []
            for ws in teams:
                _reinstate(ws)
        with self._lock:
            for ws in teams:
                self._enterprise[ws.team_id] = ws.enterprise_id
        log.info(
            "installed in %s (enterprise %s, org-wide %s)",
            team_id,
            enterprise_id,
            installation.is_enterprise_install,
        )

    def seen(self, team_id: str, enterprise_id: str | None) -> None:
        """A request came from ``team_id``: make sure its row exists and carries its
        organisation (Slack names it on every request from an Enterprise Grid workspace)."""
        with self._lock:
            if team_id in self._enterprise and self._enterprise[team_id] == enterprise_id:
                return
        with unit_of_work(self._sessions) as session:
            self._record(session, team_id, enterprise_id, self._clock.now())
        with self._lock:
            self._enterprise[team_id] = enterprise_id

    @staticmethod
    def _record(
        session: Session, team_id: str, enterprise_id: str | None, now: datetime
    ) -> Workspace:
        ws = ensure_workspace(session, team_id, now)
        if enterprise_id and ws.enterprise_id != enterprise_id:
            ws.enterprise_id = enterprise_id
        return ws

    # ------------------------------------------------------------------ lookup

    def enterprise_of(self, team_id: str) -> str | None:
        """The Enterprise Grid organisation of ``team_id`` (None outside Grid or when unknown)."""
        with self._lock:
            if team_id in self._enterprise:
                return self._enterprise[team_id]
        with unit_of_work(self._sessions) as session:
            enterprise_id = session.scalar(
                select(Workspace.enterprise_id).where(Workspace.team_id == team_id)
            )
        if enterprise_id is not None:
            with self._lock:
                self._enterprise[team_id] = enterprise_id
        return enterprise_id

    def bot_for(self, team_id: str) -> Bot | None:
        """The newest bot installation serving ``team_id``: the workspace's own install, else its
        organisation's org-wide install; None when the app is not installed there."""
        enterprise_id = self.enterprise_of(team_id)
        bot = self.store.find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if bot is None and enterprise_id:
            bot = self.store.find_bot(
                enterprise_id=enterprise_id, team_id=None, is_enterprise_install=True
            )
        return bot

    def save_bot(self, bot: Bot) -> None:
        """Store a bot whose token was refreshed (token rotation)."""
        self.store.save_bot(bot)

    # ------------------------------------------------------------------ removal

    def removed(
        self,
        *,
        team_id: str | None,
        enterprise_id: str | None,
        is_enterprise_install: bool,
        reason: str,
    ) -> list[str]:
        """Slack said the app was uninstalled (or its bot token revoked) in a workspace, or in a
        whole organisation: delete the installation and its bot token. Returns the workspaces
        that lost their token, for the privacy rules (``PrivacyService.workspace_removed``)."""
        org_wide = is_enterprise_install or not team_id
        store_team = None if org_wide else team_id
        self.store.delete_bot(enterprise_id=enterprise_id, team_id=store_team)
        self.store.delete_installation(enterprise_id=enterprise_id, team_id=store_team)
        if org_wide and enterprise_id:
            with unit_of_work(self._sessions) as session:
                teams = list(
                    session.scalars(
                        select(Workspace.team_id).where(Workspace.enterprise_id == enterprise_id)
                    )
                )
            # A workspace of the organisation that installed the app itself keeps its own token.
            teams = [
                t
                for t in teams
                if self.store.find_bot(enterprise_id=enterprise_id, team_id=t) is None
            ]
        else:
            teams = [team_id] if team_id else []
        log.warning(
            "installation removed (%s): enterprise %s, team %s, workspaces %s",
            reason,
            enterprise_id,
            team_id,
            teams,
        )
        return teams


def _reinstate(ws: Workspace) -> None:
    """Lift the pause and the pending purge an uninstall left on a workspace (it is back)."""
    settings = dict(ws.settings or {})
    if REMOVED_AT in settings:
        settings.pop(REMOVED_AT)
        ws.settings = settings
        ws.sending_paused_until = None
        ws.sending_paused_reason = None
