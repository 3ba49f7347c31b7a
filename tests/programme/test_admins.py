"""Who is an admin, and one-time sign-in links: signed, 10 minutes, single use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from peerbot.clock import FrozenClock
from peerbot.domain.ports import DirectoryError, UserInfo
from peerbot.services.admins import AdminIdentity, AdminPolicy, AdminSignIn
from peerbot.store.db import session_factory

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)


class Directory:
    """users.info answers: U_OWNER is a workspace admin; U_DOWN makes Slack fail."""

    def user(self, team_id: str, user_id: str) -> UserInfo | None:
        if user_id == "U_DOWN":
            raise DirectoryError("fatal_error")
        if user_id == "U_GONE":
            return UserInfo(user_id, "gone", deleted=True, is_workspace_admin=True)
        return UserInfo(user_id, user_id, is_workspace_admin=user_id == "U_OWNER")

    def lookup_by_email(self, team_id: str, email: str) -> UserInfo | None:
        return None


def test_who_is_an_admin() -> None:
    policy = AdminPolicy(Directory(), frozenset({"U_LISTED"}), from_slack=True)
    assert policy.is_admin("T", "U_LISTED")
    assert policy.is_admin("T", "U_OWNER")
    assert not policy.is_admin("T", "U_MEMBER")
    assert not policy.is_admin("T", "U_DOWN")  # Slack unavailable: no
    assert not policy.is_admin("T", "U_GONE")
    assert not policy.is_admin("T", "")
    only_listed = AdminPolicy(Directory(), frozenset({"U_LISTED"}), from_slack=False)
    assert not only_listed.is_admin("T", "U_OWNER")


def test_links_are_signed_short_lived_and_single_use(engine: Engine) -> None:
    clock = FrozenClock(NOW)
    signin = AdminSignIn(session_factory(engine), clock, b"k" * 32)
    other_key = AdminSignIn(session_factory(engine), clock, b"q" * 32)

    token, expires = signin.issue_link_token("T1", "U1")
    assert expires == NOW + timedelta(minutes=10)
    assert other_key.use_link(token) is None  # signed with another key
    body, sig = token.split(".")
    assert signin.use_link(body + "." + sig[::-1]) is None  # tampered
    assert signin.use_link(token) == AdminIdentity("T1", "U1")
    assert signin.use_link(token) is None  # used

    late, _ = signin.issue_link_token("T1", "U1")
    clock.advance(timedelta(minutes=10, seconds=1))
    assert signin.use_link(late) is None  # expired

    cookie = signin.session_cookie(AdminIdentity("T1", "U1"))
    assert signin.from_cookie(cookie) == AdminIdentity("T1", "U1")
    assert other_key.from_cookie(cookie) is None
    clock.advance(timedelta(hours=8, seconds=1))
    assert signin.from_cookie(cookie) is None
