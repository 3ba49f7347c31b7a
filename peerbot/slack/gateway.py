"""The gateway that talks to Slack's Web API over slack_sdk's WebClient (one client a
workspace): raw calls for the deliverer, :class:`~peerbot.domain.ports.Directory` lookups, and
the one classification of Slack's error codes (:func:`classify`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from peerbot.domain.ports import DirectoryError, Failure, UserInfo

log = logging.getLogger(__name__)

#: Slack's errors worth retrying (its side or the network's): the same call may work later.
TRANSIENT_CODES = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)

#: Errors about the one person a message is for: they cannot be messaged.
RECIPIENT_CODES = frozenset(
    {
        "cannot_dm_bot",
        "user_not_visible",
        "is_archived",
        "messages_tab_disabled",
        "restricted_action",
        "channel_not_found",
    }
)

#: Errors that say the recipient's account is gone (deactivated or unknown).
DEACTIVATED_CODES = frozenset({"user_not_found", "users_not_found", "user_disabled"})

#: Errors about the app's installation or token: nothing can be sent in the workspace until an
#: operator acts, whoever the message is for.
WORKSPACE_CODES = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "not_allowed_token_type",
        "missing_scope",
        "no_permission",
        "team_access_not_granted",
        "ekm_access_denied",
        "org_login_required",
        "team_not_found",
        "app_uninstalled",
    }
)


def classify(code: str, http_status: int = 200) -> Failure:
    """What a Slack error means for delivery: the one place Slack's error codes are read.

    Unknown codes answered with HTTP 200 are about the message itself (``invalid_blocks``,
    ``msg_too_long``, ...): sending it again, or to someone else, would fail the same way.
    """
    if http_status == 429:
        return Failure.RATE_LIMITED
    if http_status >= 500 or code in TRANSIENT_CODES:
        return Failure.TRANSIENT
    if code in DEACTIVATED_CODES:
        return Failure.DEACTIVATED
    if code in RECIPIENT_CODES:
        return Failure.RECIPIENT
    if code in WORKSPACE_CODES:
        return Failure.WORKSPACE
    return Failure.REJECTED


class SlackCallError(Exception):
    """A Web API call failed: Slack's ``code``, its :class:`Failure` class, and for a 429 how
    long Slack asked to wait."""

    def __init__(self, code: str, failure: Failure, retry_after: float | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.failure = failure
        self.retry_after = retry_after

    @property
    def answered(self) -> bool:
        """Slack answered clearly that nothing happened (not a timeout or a 5xx)."""
        return self.failure != Failure.TRANSIENT


#: Methods Slack wants as query parameters rather than a JSON body.
READ_METHODS = frozenset(
    {
        "users.info",
        "users.lookupByEmail",
        "users.list",
        "conversations.history",
        "auth.test",
    }
)


def user_info(user: dict[str, Any]) -> UserInfo:
    profile = user.get("profile") or {}
    return UserInfo(
        user_id=user["id"],
        name=profile.get("display_name") or user.get("name") or user["id"],
        real_name=profile.get("real_name") or user.get("real_name") or "",
        email=profile.get("email"),
        tz=user.get("tz"),
        deleted=bool(user.get("deleted")),
        is_bot=bool(user.get("is_bot")),
        is_guest=bool(
            user.get("is_restricted") or user.get("is_ultra_restricted") or user.get("is_app_user")
        ),
        is_workspace_admin=bool(
            user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")
        ),
    )


class WebApi(Protocol):
    """Makes one Web API call for a workspace (what the deliverer needs of the gateway)."""

    def call(self, team_id: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """Call ``method`` with ``args``; Slack's answer, or :class:`SlackCallError`."""
        ...


class SlackGateway:
    """Makes Web API calls for a workspace, translating failures into :class:`SlackCallError`.

    ``client_for`` returns the WebClient for a team (one bot token per workspace). HTTP 429
    carries ``retry_after``; Slack's transient errors (5xx, ``internal_error``, ``fatal_error``,
    ...) and network failures are :attr:`Failure.TRANSIENT`. A transient failure of a write may
    still have taken effect in Slack (``fatal_error``: "it's possible some aspect of the
    operation succeeded"); the deliverer settles that for posts.
    """

    def __init__(self, client_for: Callable[[str], WebClient]) -> None:
        self._client_for = client_for

    def call(self, team_id: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """Call ``method``; raises :class:`SlackCallError` for every failure."""
        client = self._client_for(team_id)
        try:
            if method in READ_METHODS:
                response = client.api_call(method, http_verb="GET", params=args)
            else:
                response = client.api_call(method, json=args)
        except SlackApiError as exc:
            resp = exc.response
            code = str(resp.get("error") or "unknown_error")
            if resp.status_code == 429:
                retry = float(resp.headers.get("Retry-After", resp.headers.get("retry-after", 1)))
                raise SlackCallError("ratelimited", Failure.RATE_LIMITED, retry) from exc
            raise SlackCallError(code, classify(code, resp.status_code)) from exc
        except OSError as exc:  # connection refused, timeout, DNS
            raise SlackCallError(f"network: {exc}", Failure.TRANSIENT) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _lookup(self, team_id: str, method: str, args: dict[str, Any]) -> UserInfo | None:
        try:
            data = self.call(team_id, method, args)
        except SlackCallError as err:
            if err.code in DEACTIVATED_CODES:
                return None
            raise DirectoryError(err.code) from err
        return user_info(data["user"])

    def user(self, team_id: str, user_id: str) -> UserInfo | None:
        """``users.info``; None for an unknown user, :class:`DirectoryError` for other failures."""
        return self._lookup(team_id, "users.info", {"user": user_id})

    def lookup_by_email(self, team_id: str, email: str) -> UserInfo | None:
        """``users.lookupByEmail``; None when nobody has this email."""
        return self._lookup(team_id, "users.lookupByEmail", {"email": email})
