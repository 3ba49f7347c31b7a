"""The emulated workspace: users, conversations, messages, views and trigger ids.

Plain data classes plus :class:`Workspace`, which owns them. The workspace is not thread-safe by
itself; :class:`peerbot.sandbox.server.SlackEmulator` holds one lock around every use.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def make_id(prefix: str, length: int = 10) -> str:
    """A Slack-looking id: ``prefix`` followed by upper-case letters and digits."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def tz_offset_seconds(tz: str, at: float | None = None) -> int:
    """The UTC offset of time zone ``tz`` in seconds at epoch ``at`` (now by default)."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    try:
        offset = moment.astimezone(ZoneInfo(tz)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return 0
    return int(offset.total_seconds()) if offset is not None else 0


def tz_label(tz: str, at: float | None = None) -> str:
    """The abbreviation of time zone ``tz`` at epoch ``at`` (Slack gives a long label)."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    try:
        return moment.astimezone(ZoneInfo(tz)).tzname() or tz
    except (ZoneInfoNotFoundError, ValueError):
        return tz


@dataclass
class User:
    """A workspace member (human or bot)."""

    id: str
    team_id: str
    name: str
    real_name: str
    email: str | None
    tz: str = "America/Los_Angeles"
    deleted: bool = False
    is_bot: bool = False
    is_admin: bool = False
    can_be_messaged: bool = True
    bot_id: str | None = None
    updated: int = field(default_factory=lambda: int(time.time()))

    def to_api(self, now: float | None = None) -> dict[str, Any]:
        """The user object as ``users.info`` answers it."""
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.name,
            "display_name_normalized": self.name,
            "status_text": "",
            "status_emoji": "",
            "avatar_hash": "g" + self.id.lower()[:11],
            "image_24": f"https://avatars.example.invalid/{self.id}_24.png",
            "image_48": f"https://avatars.example.invalid/{self.id}_48.png",
            "image_72": f"https://avatars.example.invalid/{self.id}_72.png",
            "team": self.team_id,
        }
        if self.email is not None and not self.is_bot:
            profile["email"] = self.email
        if self.bot_id is not None:
            profile["bot_id"] = self.bot_id
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.deleted,
            "color": "9f69e7",
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": tz_label(self.tz, now),
            "tz_offset": tz_offset_seconds(self.tz, now),
            "profile": profile,
            "is_admin": self.is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": not self.can_be_messaged,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": self.updated,
            "has_2fa": False,
        }


@dataclass
class Message:
    """A message in a conversation (as stored, after updates)."""

    channel: str
    ts: str
    text: str
    user: str
    bot_id: str | None
    blocks: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    edited: bool = False
    #: Files shared with the message (``files.completeUploadExternal``).
    files: list[dict[str, Any]] | None = None

    def to_api(self, team_id: str, app_id: str) -> dict[str, Any]:
        """The message object as ``chat.postMessage`` answers it."""
        out: dict[str, Any] = {
            "type": "message",
            "text": self.text,
            "user": self.user,
            "ts": self.ts,
            "team": team_id,
        }
        if self.bot_id is not None:
            out["bot_id"] = self.bot_id
            out["app_id"] = app_id
        if self.blocks is not None:
            out["blocks"] = self.blocks
        if self.attachments is not None:
            out["attachments"] = self.attachments
        if self.thread_ts is not None:
            out["thread_ts"] = self.thread_ts
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.edited:
            out["edited"] = {"user": self.user, "ts": self.ts}
        if self.files is not None:
            out["files"] = self.files
        return out


@dataclass
class Ephemeral:
    """An ephemeral message shown to one user in a conversation."""

    channel: str
    user: str
    message_ts: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    thread_ts: str | None = None


@dataclass
class Conversation:
    """A channel, private channel, DM (im) or group DM (mpim)."""

    id: str
    kind: str  # "channel" | "private" | "im" | "mpim"
    name: str
    members: list[str]
    created: int = field(default_factory=lambda: int(time.time()))
    creator: str = ""
    is_archived: bool = False
    bot_is_member: bool = True
    messages: list[Message] = field(default_factory=list)
    ephemerals: list[Ephemeral] = field(default_factory=list)

    @property
    def is_im(self) -> bool:
        """Whether this is a one-to-one DM."""
        return self.kind == "im"

    @property
    def is_mpim(self) -> bool:
        """Whether this is a group DM."""
        return self.kind == "mpim"

    def message(self, ts: str) -> Message | None:
        """The message with timestamp ``ts`` or None."""
        for m in self.messages:
            if m.ts == ts:
                return m
        return None

    def to_api(self, bot_user_id: str, *, num_members: bool = False) -> dict[str, Any]:
        """The conversation object as ``conversations.info`` answers it."""
        out: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "is_archived": self.is_archived,
            "is_org_shared": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_im": self.is_im,
            "is_mpim": self.is_mpim,
            "is_channel": self.kind == "channel",
            "is_group": self.kind in {"private", "mpim"},
            "is_private": self.kind != "channel",
            "is_open": True,
            "last_read": "0000000000.000000",
            "latest": None,
            "unread_count": 0,
            "unread_count_display": 0,
            "priority": 0,
        }
        if self.is_im:
            out["user"] = next((m for m in self.members if m != bot_user_id), bot_user_id)
        else:
            out["name"] = self.name
            out["name_normalized"] = self.name
            out["creator"] = self.creator
            out["is_member"] = self.bot_is_member
            out["topic"] = {"value": "", "creator": "", "last_set": 0}
            out["purpose"] = {"value": "", "creator": "", "last_set": 0}
        if num_members and not self.is_im:
            out["num_members"] = len(self.members)
        return out


@dataclass
class View:
    """A modal or App Home view."""

    id: str
    team_id: str
    user_id: str
    type: str
    payload: dict[str, Any]
    hash: str
    app_id: str
    bot_id: str
    root_view_id: str
    previous_view_id: str | None = None
    external_id: str = ""
    closed: bool = False

    def to_api(self) -> dict[str, Any]:
        """The view object as ``views.open`` answers it."""
        p = self.payload
        out: dict[str, Any] = {
            "id": self.id,
            "team_id": self.team_id,
            "type": self.type,
            "blocks": p.get("blocks", []),
            "private_metadata": p.get("private_metadata", ""),
            "callback_id": p.get("callback_id", ""),
            "external_id": self.external_id,
            "state": {"values": {}},
            "hash": self.hash,
            "clear_on_close": bool(p.get("clear_on_close", False)),
            "notify_on_close": bool(p.get("notify_on_close", False)),
            "root_view_id": self.root_view_id,
            "previous_view_id": self.previous_view_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        for key in ("title", "submit", "close"):
            if key in p:
                out[key] = p[key]
        return out


@dataclass
class Trigger:
    """A trigger id minted for a user interaction."""

    id: str
    user_id: str
    created_at: float
    used: bool = False


@dataclass
class Workspace:
    """All state of one emulated workspace (team)."""

    team_id: str = "T0PEERBOT"
    team_name: str = "Peerbot Sandbox"
    domain: str = "peerbot-sandbox"
    app_id: str = "A0PEERBOT"
    bot_id: str = "B0PEERBOT"
    bot_user_id: str = "U0PEERBOT"
    bot_name: str = "peerbot"
    #: The Enterprise Grid organisation (``E...``) the workspace belongs to, if any.
    enterprise_id: str | None = None
    users: dict[str, User] = field(default_factory=dict)
    conversations: dict[str, Conversation] = field(default_factory=dict)
    views: dict[str, View] = field(default_factory=dict)
    home_views: dict[str, str] = field(default_factory=dict)
    modal_stacks: dict[str, list[str]] = field(default_factory=dict)
    triggers: dict[str, Trigger] = field(default_factory=dict)
    #: file id -> {"filename", "length", "alt_txt", "content" (bytes once uploaded), "shared"}.
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ts_counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    #: user id -> id of the bot's DM with them (DMs are only made by :meth:`open_im`).
    _ims: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.users[self.bot_user_id] = User(
            id=self.bot_user_id,
            team_id=self.team_id,
            name=self.bot_name,
            real_name=self.bot_name,
            email=None,
            is_bot=True,
            bot_id=self.bot_id,
            tz="America/Los_Angeles",
        )

    # -- ids ----------------------------------------------------------------------------------

    def next_ts(self, now: float) -> str:
        """A unique, increasing message timestamp ``"seconds.micro"``."""
        return f"{int(now)}.{next(self._ts_counter):06d}"

    def new_hash(self, now: float) -> str:
        """A fresh view hash."""
        return f"{int(now)}.{secrets.token_hex(4)}"

    # -- look-ups -----------------------------------------------------------------------------

    def user_by_email(self, email: str) -> User | None:
        """The user with this e-mail address (case-insensitive) or None."""
        wanted = email.strip().lower()
        for u in self.users.values():
            if u.email is not None and u.email.lower() == wanted:
                return u
        return None

    def im_with(self, user_id: str) -> Conversation | None:
        """The bot's DM with ``user_id`` if it exists."""
        known = self.conversations.get(self._ims.get(user_id, ""))
        if known is not None and known.is_im and user_id in known.members:
            return known
        return None

    def mpim_with(self, user_ids: set[str]) -> Conversation | None:
        """The group DM of the bot with exactly ``user_ids`` if it exists."""
        wanted = set(user_ids) | {self.bot_user_id}
        for c in self.conversations.values():
            if c.is_mpim and set(c.members) == wanted:
                return c
        return None

    # -- mutations ----------------------------------------------------------------------------

    def open_im(self, user_id: str) -> tuple[Conversation, bool]:
        """The DM with ``user_id``, created if needed; and whether it already existed."""
        existing = self.im_with(user_id)
        if existing is not None:
            return existing, True
        conv = Conversation(
            id=make_id("D"),
            kind="im",
            name=user_id,
            members=[self.bot_user_id, user_id],
            creator=self.bot_user_id,
        )
        self.conversations[conv.id] = conv
        self._ims[user_id] = conv.id
        return conv, False

    def open_mpim(self, user_ids: list[str]) -> tuple[Conversation, bool]:
        """The group DM with ``user_ids`` and the bot, created if needed; and whether it existed."""
        existing = self.mpim_with(set(user_ids))
        if existing is not None:
            return existing, True
        members = [self.bot_user_id, *sorted(set(user_ids))]
        names = "-".join(self.users[u].name for u in members if u in self.users)
        conv = Conversation(
            id=make_id("G"),
            kind="mpim",
            name=f"mpdm-{names}-1",
            members=members,
            creator=self.bot_user_id,
        )
        self.conversations[conv.id] = conv
        return conv, False
