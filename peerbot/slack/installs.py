"""OAuth mode on the Slack side: a WebClient per workspace for everything peerbot sends outside a
request (outbox, scheduled jobs, imports), Bolt's OAuth settings, and the middleware that keeps
installations and workspaces in step with Slack.

Inside a request Bolt authorizes from the installation store and hands listeners
``context.client`` with that workspace's token (refreshing a rotating token first). Outside a
request nothing does that for us: :class:`TeamClients` finds the workspace's bot installation,
refreshes its token with slack_sdk's :class:`~slack_sdk.oauth.token_rotation.TokenRotator` when
it is about to expire, and returns a client with it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, BoltResponse
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore
from slack_sdk.oauth.token_rotation import TokenRotator
from slack_sdk.oauth.token_rotation.rotator import SlackTokenRotationError

from peerbot.config import Settings
from peerbot.domain.ports import Failure
from peerbot.services.errors import is_outage
from peerbot.services.installations import InstallationService
from peerbot.services.privacy import PrivacyService
from peerbot.slack.gateway import SlackCallError, classify

log = logging.getLogger(__name__)

#: What a person sees when their workspace has no installation (Bolt answers it for us).
NOT_INSTALLED_TEXT = (
    "peerbot is not installed in this workspace (or was removed), so nothing was done. "
    "Ask a Slack admin to add it with the app's Add to Slack link."
)

#: Error code used when a workspace has no installation: nothing can be sent there.
NOT_INSTALLED = "app_uninstalled"


class TeamClients:
    """``client_for(team_id)``: a WebClient with that workspace's bot token (for the gateway).

    A workspace with no installation raises :class:`SlackCallError` (``app_uninstalled``,
    :attr:`Failure.WORKSPACE`): the sender pauses that workspace and sends nothing there. With
    token rotation (the installation has a refresh token), a token expiring within
    ``rotation_minutes`` is refreshed before use and the new one stored, so that every worker
    uses it; workers refreshing at once each get a valid token.
    """

    def __init__(
        self,
        installations: InstallationService,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        rotation_minutes: int = 120,
        timeout: int = 15,
    ) -> None:
        self._installations = installations
        self._base_url = base_url
        self._timeout = timeout
        self._rotation_minutes = rotation_minutes
        self._rotator = TokenRotator(
            client_id=client_id,
            client_secret=client_secret,
            client=WebClient(base_url=base_url, timeout=timeout),
        )
        self._lock = threading.Lock()
        self._clients: dict[str, WebClient] = {}

    def bot_token(self, team_id: str) -> str:
        """The current (refreshed when due) bot token of ``team_id``."""
        bot = self._installations.bot_for(team_id)
        if bot is None or not bot.bot_token:
            raise SlackCallError(NOT_INSTALLED, Failure.WORKSPACE)
        if bot.bot_refresh_token:
            bot = self._refresh(bot)
        assert bot.bot_token is not None
        return bot.bot_token

    def _refresh(self, bot: Bot) -> Bot:
        try:
            refreshed = self._rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=self._rotation_minutes
            )
        except SlackTokenRotationError as exc:
            code = str(exc.api_error.response.get("error") or "token_refresh_failed")
            raise SlackCallError(code, classify(code, exc.api_error.response.status_code)) from exc
        except OSError as exc:
            raise SlackCallError(f"network: {exc}", Failure.TRANSIENT) from exc
        if refreshed is None:
            return bot
        self._store_refreshed(refreshed)
        log.info("bot token of %s refreshed", bot.team_id or bot.enterprise_id)
        return refreshed

    def _store_refreshed(self, bot: Bot) -> None:
        """Save the new token on the bot row, where Bolt reads it too (bot-only store)."""
        self._installations.save_bot(bot)

    def client_for(self, team_id: str) -> WebClient:
        """A WebClient for ``team_id`` with its own bot token (one client kept per token)."""
        token = self.bot_token(team_id)
        with self._lock:
            client = self._clients.get(token)
            if client is None:
                if len(self._clients) > 10_000:  # old rotated tokens: start afresh
                    self._clients.clear()
                client = WebClient(token=token, base_url=self._base_url, timeout=self._timeout)
                self._clients[token] = client
        return client


class _RecordingStore(InstallationStore):
    """slack_sdk's store, with each finished install also recorded by peerbot."""

    def __init__(self, installations: InstallationService) -> None:
        self._installations = installations
        self._store = installations.store

    @property
    def logger(self) -> logging.Logger:
        return log

    def save(self, installation: Installation) -> None:
        self._store.save(installation)
        self._installations.installed(installation)

    def save_bot(self, bot: Bot) -> None:
        self._store.save_bot(bot)

    def find_bot(self, **kwargs: Any) -> Bot | None:
        return self._store.find_bot(**kwargs)

    def find_installation(self, **kwargs: Any) -> Installation | None:
        return self._store.find_installation(**kwargs)

    def delete_bot(self, **kwargs: Any) -> None:
        self._store.delete_bot(**kwargs)

    def delete_installation(self, **kwargs: Any) -> None:
        self._store.delete_installation(**kwargs)

    def delete_all(self, **kwargs: Any) -> None:
        self._store.delete_all(**kwargs)


def oauth_settings(
    settings: Settings,
    installations: InstallationService,
    state_store: OAuthStateStore,
) -> OAuthSettings:
    """Bolt's OAuth settings: ``/slack/install`` and ``/slack/oauth_redirect`` with slack_sdk's
    stores on peerbot's database; a finished install also records the workspace."""
    secret = settings.slack_client_secret
    assert settings.slack_client_id
    assert secret is not None
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=secret.get_secret_value(),
        scopes=[s.strip() for s in settings.slack_scopes.split(",") if s.strip()],
        redirect_uri=settings.slack_redirect_uri,
        authorization_url=settings.oauth_authorize_url(),
        installation_store=_RecordingStore(installations),
        installation_store_bot_only=True,
        token_rotation_expiration_minutes=settings.token_rotation_expiration_minutes,
        state_store=state_store,
    )


#: Events after which the workspace's installation is gone (Bolt skips authorizing them).
REMOVAL_EVENTS = frozenset({"app_uninstalled", "tokens_revoked"})


def track_installations(
    installations: InstallationService, privacy: PrivacyService | None
) -> Callable[..., Any]:
    """Middleware (OAuth mode): record each workspace with its Enterprise Grid organisation as
    its requests arrive, and on ``app_uninstalled`` / ``tokens_revoked`` (bot tokens) delete the
    installation and hand the workspace(s) over to the privacy rules; for an org-wide install,
    every workspace of the organisation that has no install of its own."""

    def middleware(
        body: dict[str, Any], context: BoltContext, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        event = body.get("event") if body.get("type") == "event_callback" else None
        kind = event.get("type") if isinstance(event, dict) else None
        if isinstance(event, dict) and kind in REMOVAL_EVENTS:
            if kind == "tokens_revoked" and not (event.get("tokens") or {}).get("bot"):
                return BoltResponse(status=200, body="")  # user tokens only: peerbot has none
            teams = installations.removed(
                team_id=context.team_id,
                enterprise_id=context.enterprise_id,
                is_enterprise_install=bool(context.is_enterprise_install),
                reason=str(kind),
            )
            if privacy is not None:
                for team in teams:
                    privacy.workspace_removed(team, str(kind))
            return BoltResponse(status=200, body="")
        if context.team_id:
            try:
                installations.seen(context.team_id, context.enterprise_id)
            except Exception as e:
                if not is_outage(e):
                    raise
                log.warning("workspace %s not recorded: database unavailable", context.team_id)
        return next()

    return middleware
