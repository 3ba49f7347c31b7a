"""Programme admins: who they are, and how they sign in to the dashboard.

An admin is a Slack user id in ``PEERBOT_ADMINS``, or (with ``ADMINS_FROM_SLACK=true``) an owner
or admin of the workspace according to ``users.info``, asked on every admin request: someone who
stops being a workspace admin loses access at their next click. When Slack cannot be asked, the
answer is no (fail closed).

Sign-in links are signed (HMAC-SHA256), expire after :data:`LINK_TTL` and work once: the
link's random id is stored, and its first use marks it used in the same UPDATE that checks it.
A used link gives a signed session cookie for :data:`SESSION_TTL`; the admin check still runs on
every request made with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.ports import Clock, Directory, DirectoryError
from peerbot.store.db import unit_of_work
from peerbot.store.models import AdminLink, Workspace

log = logging.getLogger(__name__)

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=8)


@dataclass(frozen=True)
class AdminIdentity:
    """Who a valid link or session belongs to."""

    team_id: str
    user_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and checks small JSON payloads (``payload.signature``, both base64url)."""

    def __init__(self, key: bytes, purpose: str) -> None:
        self._key = hashlib.sha256(key + b"|" + purpose.encode()).digest()

    def sign(self, payload: dict[str, object]) -> str:
        """``payload`` as a signed string."""
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return f"{body}.{_b64(mac)}"

    def check(self, token: str) -> dict[str, object] | None:
        """The payload of a correctly signed ``token``, or None."""
        try:
            body, mac = token.split(".", 1)
            want = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(want, _unb64(mac)):
                return None
            payload = json.loads(_unb64(body))
        except (ValueError, TypeError):
            return None
        return payload if isinstance(payload, dict) else None


class AdminPolicy:
    """Answers "is this person a programme admin of this workspace?" on every request."""

    def __init__(self, directory: Directory, admins: frozenset[str], *, from_slack: bool) -> None:
        self._directory = directory
        self._admins = admins
        self._from_slack = from_slack

    def is_admin(self, team_id: str, user_id: str) -> bool:
        """True for ``PEERBOT_ADMINS`` and, when enabled, the workspace's owners and admins."""
        if not user_id:
            return False
        if user_id in self._admins:
            return True
        if not self._from_slack:
            return False
        try:
            info = self._directory.user(team_id, user_id)
        except DirectoryError as exc:
            log.warning("admin check for %s in %s failed (%s): refused", user_id, team_id, exc)
            return False
        return info is not None and info.is_workspace_admin and not info.deleted


class AdminSignIn:
    """One-time sign-in links and the session cookies they turn into."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, key: bytes) -> None:
        self._sessions = sessions
        self._clock = clock
        self._links = Signer(key, "admin-link")
        self._cookies = Signer(key, "admin-session")

    def issue_link_token(self, team_id: str, user_id: str) -> tuple[str, datetime]:
        """A new sign-in token for ``user_id`` (the caller checked they are an admin) and when
        it expires."""
        now = self._clock.now()
        token_id = secrets.token_urlsafe(24)
        expires = now + LINK_TTL
        with unit_of_work(self._sessions) as session:
            if session.get(Workspace, team_id) is None:
                session.add(Workspace(team_id=team_id, installed_at=now))
                session.flush()
            session.add(
                AdminLink(
                    token_id=token_id,
                    team_id=team_id,
                    user_id=user_id,
                    created_at=now,
                    expires_at=expires,
                )
            )
        token = self._links.sign(
            {"j": token_id, "t": team_id, "u": user_id, "e": int(expires.timestamp())}
        )
        return token, expires

    def use_link(self, token: str) -> AdminIdentity | None:
        """The identity of a valid, unexpired, unused link, which is used up; else None."""
        payload = self._links.check(token)
        if payload is None:
            return None
        now = self._clock.now()
        try:
            token_id, team, user = str(payload["j"]), str(payload["t"]), str(payload["u"])
            if int(str(payload["e"])) <= now.timestamp():
                return None
        except (KeyError, ValueError):
            return None
        with unit_of_work(self._sessions) as session:
            used = session.execute(
                update(AdminLink)
                .where(
                    AdminLink.token_id == token_id,
                    AdminLink.team_id == team,
                    AdminLink.user_id == user,
                    AdminLink.used_at.is_(None),
                    AdminLink.expires_at > now,
                )
                .values(used_at=now)
            )
            if getattr(used, "rowcount", 0) != 1:
                return None
        return AdminIdentity(team, user)

    def session_cookie(self, who: AdminIdentity) -> str:
        """A signed session value for ``who``, valid for :data:`SESSION_TTL`."""
        expires = self._clock.now() + SESSION_TTL
        return self._cookies.sign(
            {"t": who.team_id, "u": who.user_id, "e": int(expires.timestamp())}
        )

    def from_cookie(self, value: str) -> AdminIdentity | None:
        """Who a valid, unexpired session cookie belongs to (the admin check is separate)."""
        payload = self._cookies.check(value)
        if payload is None:
            return None
        try:
            if int(str(payload["e"])) <= self._clock.now().timestamp():
                return None
            return AdminIdentity(str(payload["t"]), str(payload["u"]))
        except (KeyError, ValueError):
            return None
