"""The gateway that talks to Slack's Web API: :class:`~peerbot.domain.ports.Messenger` and
:class:`~peerbot.domain.ports.Directory` over slack_sdk's WebClient, one client a workspace."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from peerbot.domain.ports import DeliveryError, UserInfo

log = logging.getLogger(__name__)

#: Errors worth retrying (Slack's side or the network); everything else is permanent.
TRANSIENT_CODES = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)

#: Methods Slack wants as query parameters rather than a JSON body.
READ_METHODS = frozenset(
    {
        "users.info",
        "users.lookupByEmail",
        "users.list",
        "conversations.info",
        "conversations.history",
        "auth.test",
        "team.info",
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
    )


class SlackGateway:
    """Makes Web API calls for a workspace, translating failures into :class:`DeliveryError`.

    ``client_for`` returns the WebClient for a team (one bot token per workspace). HTTP 429
    becomes ``DeliveryError("ratelimited", retry_after=...)``; Slack's transient errors (5xx,
    ``internal_error``, ``fatal_error``, ...) and network failures are not permanent. A
    transient failure of a write may still have taken effect in Slack (``fatal_error``: "it's
    possible some aspect of the operation succeeded"); the outbox settles that for posts.
    """

    def __init__(self, client_for: Callable[[str], WebClient]) -> None:
        self._client_for = client_for

    def call(self, team_id: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """Call ``method``; 429 raises with ``retry_after``, other errors with their code."""
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
                raise DeliveryError("ratelimited", permanent=False, retry_after=retry) from exc
            permanent = code not in TRANSIENT_CODES and resp.status_code < 500
            raise DeliveryError(code, permanent=permanent) from exc
        except OSError as exc:  # connection refused, timeout, DNS
            raise DeliveryError(f"network: {exc}", permanent=False) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    def user(self, team_id: str, user_id: str) -> UserInfo | None:
        """``users.info``; None for an unknown user."""
        try:
            data = self.call(team_id, "users.info", {"user": user_id})
        except DeliveryError as err:
            if err.code in ("user_not_found", "users_not_found"):
                return None
            raise
        return user_info(data["user"])

    def lookup_by_email(self, team_id: str, email: str) -> UserInfo | None:
        """``users.lookupByEmail``; None when nobody has this email."""
        try:
            data = self.call(team_id, "users.lookupByEmail", {"email": email})
        except DeliveryError as err:
            if err.code in ("users_not_found", "user_not_found"):
                return None
            raise
        return user_info(data["user"])
