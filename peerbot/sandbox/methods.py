"""The emulated Web API methods: a hard-coded table (name, required arguments, handler).

The table mirrors Slack's API reference (required arguments excluding ``token``); a test checks it
against the reference in ``../shared``. Handlers run under the emulator's lock, take a
:class:`Context` and the decoded arguments, and answer the response body without ``ok`` or raise
:class:`SlackError`.

Error codes chosen (all from the method's documented ``errors`` unless noted):

* unknown method: HTTP 404 ``unknown_method`` (with ``req_method``); no/unknown/revoked token:
  ``not_authed`` / ``invalid_auth`` / ``token_revoked``; rate limit: HTTP 429 ``ratelimited`` with
  ``Retry-After``.
* missing required argument: ``channel_not_found`` (chat.*, conversations.info/history),
  ``message_not_found`` (missing ``ts``), ``user_not_found`` (users.info), ``users_not_found``
  (users.lookupByEmail), ``user_not_in_channel`` (postEphemeral ``user``), and
  ``invalid_arguments`` + ``response_metadata.messages`` for views.* (as Slack answers there).
* messages: ``no_text`` without text/blocks/attachments, ``msg_too_long`` over 40,000 characters,
  ``invalid_blocks`` (+ messages with json-pointers) for Block Kit errors, ``invalid_blocks_format``
  for blocks that are not JSON, ``not_in_channel`` for a channel the bot is not in,
  ``is_archived`` for an archived channel or the DM of a deactivated user.
* conversations.open: none → ``users_list_not_supplied``, 9+ → ``too_many_users``, unknown id →
  ``user_not_found``, deactivated → ``user_disabled``, a member the bot may not message
  (``can_be_messaged=False``) → ``user_not_visible``. chat.postMessage to such a user's id →
  ``channel_not_found``.
* users.info on a deactivated member answers it with ``deleted: true`` as Slack does
  (``deleted_users_not_found=True`` on the emulator answers ``user_not_found`` instead);
  users.lookupByEmail never finds deactivated members (``users_not_found``).
* views: invalid view → ``invalid_arguments`` + messages; unknown trigger → ``invalid_trigger_id``,
  used → ``exchanged_trigger_id``, older than ``trigger_ttl`` → ``expired_trigger_id``; stale
  ``hash`` → ``hash_conflict``; unknown/closed view → ``not_found``; a 4th stacked modal →
  ``push_limit_reached``; over 250 kB → ``view_too_large``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from peerbot.sandbox.blockkit import validate_message_blocks, validate_view, view_too_large
from peerbot.sandbox.state import (
    Conversation,
    Ephemeral,
    Message,
    Trigger,
    User,
    View,
    Workspace,
    make_id,
)

MAX_TEXT = 40_000
MAX_MPIM_USERS = 8
MAX_MODAL_STACK = 3
TRIGGER_RE = re.compile(r"^\d+\.\d+\.[0-9a-f]+$")
JSON_FIELDS = ("blocks", "attachments", "view", "metadata")


class SlackError(Exception):
    """An ``{"ok": false, "error": ...}`` answer (with optional HTTP status and extras)."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        messages: list[str] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.messages = messages
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """The JSON body Slack would answer."""
        out: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            out["response_metadata"] = {"messages": list(self.messages)}
        return out


@dataclass
class Context:
    """What a handler may use: the workspace, the time, and the emulator's policies."""

    ws: Workspace
    now: float
    trigger_ttl: float | None
    deleted_users_not_found: bool = False
    #: The emulator's address (``http://127.0.0.1:PORT/``), for upload URLs.
    base_url: str = ""


Handler = Callable[[Context, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class MethodSpec:
    """One Web API method: its required arguments (with Slack's error when one is missing)."""

    name: str
    handler: Handler
    required: dict[str, str] = field(default_factory=dict)


# -- argument helpers -------------------------------------------------------------------------


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in {"1", "true", "yes"}


def _str(args: dict[str, Any], name: str) -> str | None:
    value = args.get(name)
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


def decode_json_fields(args: dict[str, Any], method: str) -> None:
    """JSON-decode ``blocks``/``attachments``/``view``/``metadata`` sent form-encoded, in place."""
    for name in JSON_FIELDS:
        value = args.get(name)
        if isinstance(value, str):
            if value == "" and name != "view":
                args.pop(name)
                continue
            try:
                args[name] = json.loads(value)
            except json.JSONDecodeError as exc:
                if name == "view":
                    raise SlackError(
                        "invalid_arguments",
                        messages=[
                            "[ERROR] failed to parse view: invalid json [json-pointer:/view]"
                        ],
                    ) from exc
                if name == "blocks":
                    raise SlackError("invalid_blocks_format") from exc
                if name == "attachments":
                    raise SlackError(
                        "invalid_attachments"
                        if method != "chat.postMessage"
                        else "invalid_form_data"
                    ) from exc
                raise SlackError("invalid_metadata_format") from exc


def _user_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = [str(v) for v in value] if isinstance(value, list | tuple) else str(value).split(",")
    return [i.strip() for i in items if i.strip()]


# -- users ------------------------------------------------------------------------------------


def _auth_test(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    ws = ctx.ws
    return {
        "url": f"https://{ws.domain}.slack.com/",
        "team": ws.team_name,
        "user": ws.bot_name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "is_enterprise_install": False,
    }


def _team_info(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    ws = ctx.ws
    team = _str(args, "team")
    if team is not None and team != ws.team_id:
        raise SlackError("team_not_found")
    return {
        "team": {
            "id": ws.team_id,
            "name": ws.team_name,
            "domain": ws.domain,
            "email_domain": f"{ws.domain}.example.com",
            "url": f"https://{ws.domain}.slack.com/",
            "icon": {"image_default": True},
            "is_verified": False,
        }
    }


def _users_info(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    user = ctx.ws.users.get(str(args["user"]))
    if user is None or (user.deleted and ctx.deleted_users_not_found):
        raise SlackError("user_not_found")
    return {"user": user.to_api(ctx.now)}


def _users_lookup_by_email(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    user = ctx.ws.user_by_email(str(args["email"]))
    # Slack does not find deactivated accounts by e-mail.
    if user is None or user.deleted:
        raise SlackError("users_not_found")
    return {"user": user.to_api(ctx.now)}


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"users:{offset}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
        prefix, _, num = raw.partition(":")
        if prefix != "users":
            raise ValueError(raw)
        return int(num)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise SlackError("invalid_cursor") from exc


def _users_list(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    users = sorted(ctx.ws.users.values(), key=lambda u: u.id)
    cursor = _str(args, "cursor")
    start = _decode_cursor(cursor) if cursor else 0
    if start > len(users):
        raise SlackError("invalid_cursor")
    limit_raw = _str(args, "limit")
    try:
        limit = int(limit_raw) if limit_raw is not None else 0
    except ValueError as exc:
        raise SlackError("invalid_arguments", messages=["[ERROR] invalid limit"]) from exc
    if limit <= 0:
        limit = len(users)
    limit = min(limit, 1000)
    page = users[start : start + limit]
    nxt = start + limit
    return {
        "members": [u.to_api(ctx.now) for u in page],
        "cache_ts": int(ctx.now),
        "response_metadata": {"next_cursor": _encode_cursor(nxt) if nxt < len(users) else ""},
    }


# -- conversations ----------------------------------------------------------------------------


def _conversation(ctx: Context, channel_id: str) -> Conversation:
    conv = ctx.ws.conversations.get(channel_id)
    if conv is None:
        raise SlackError("channel_not_found")
    return conv


def _open_answer(
    ctx: Context, conv: Conversation, existed: bool, return_im: bool
) -> dict[str, Any]:
    full = return_im or existed
    body: dict[str, Any] = {"channel": conv.to_api(ctx.ws.bot_user_id) if full else {"id": conv.id}}
    if existed:
        body = {"no_op": True, "already_open": True, **body}
    return body


def _check_dm_target(ctx: Context, user_id: str) -> User:
    user = ctx.ws.users.get(user_id)
    if user is None:
        raise SlackError("user_not_found")
    if user.deleted:
        raise SlackError("user_disabled")
    if not user.can_be_messaged:
        raise SlackError("user_not_visible")
    return user


def _conversations_open(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    ws = ctx.ws
    return_im = _bool(args.get("return_im"))
    prevent = _bool(args.get("prevent_creation"))
    channel = _str(args, "channel")
    users = [u for u in dict.fromkeys(_user_list(args.get("users"))) if u != ws.bot_user_id]
    if channel is not None:
        conv = _conversation(ctx, channel)
        if conv.kind not in {"im", "mpim"}:
            raise SlackError("method_not_supported_for_channel_type")
        return _open_answer(ctx, conv, True, return_im)
    if not _user_list(args.get("users")):
        raise SlackError("users_list_not_supplied")
    if len(users) > MAX_MPIM_USERS:
        raise SlackError("too_many_users")
    if not users:
        # Only the bot itself was named.
        raise SlackError("not_enough_users")
    for uid in users:
        _check_dm_target(ctx, uid)
    if len(users) == 1:
        existing = ws.im_with(users[0])
        if existing is None and prevent:
            raise SlackError("channel_not_found")
        conv, existed = ws.open_im(users[0])
    else:
        existing = ws.mpim_with(set(users))
        if existing is None and prevent:
            raise SlackError("channel_not_found")
        conv, existed = ws.open_mpim(users)
    return _open_answer(ctx, conv, existed, return_im)


#: Slack's channel names: lower-case letters, digits, hyphens and underscores, at most 80.
_CHANNEL_NAME = re.compile(r"^[a-z0-9_\-]{1,80}$")


def _conversations_create(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """A new public or (``is_private``) private channel with the bot as its only member."""
    name = str(args.get("name") or "")
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > 80:
        raise SlackError("invalid_name_maxlength")
    if not _CHANNEL_NAME.match(name):
        raise SlackError("invalid_name_specials")
    if any(
        c.name == name for c in ctx.ws.conversations.values() if c.kind in {"channel", "private"}
    ):
        raise SlackError("name_taken")
    conv = Conversation(
        id=make_id("C"),
        kind="private" if _bool(args.get("is_private")) else "channel",
        name=name,
        members=[ctx.ws.bot_user_id],
        creator=ctx.ws.bot_user_id,
    )
    ctx.ws.conversations[conv.id] = conv
    return {"channel": conv.to_api(ctx.ws.bot_user_id)}


def _conversations_invite(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Add users (up to 1,000) to a channel the bot is a member of."""
    conv = _conversation(ctx, str(args["channel"]))
    if conv.kind in {"im", "mpim"}:
        raise SlackError("method_not_supported_for_channel_type")
    if ctx.ws.bot_user_id not in conv.members:
        raise SlackError("not_in_channel")
    users = list(dict.fromkeys(_user_list(args.get("users"))))
    if not users:
        raise SlackError("no_user")
    if len(users) > 1000:
        raise SlackError("too_many_users")
    for uid in users:
        if uid == ctx.ws.bot_user_id:
            raise SlackError("cant_invite_self")
        user = ctx.ws.users.get(uid)
        if user is None:
            raise SlackError("user_not_found")
        if user.deleted:
            raise SlackError("user_is_deactivated")
    new = [u for u in users if u not in conv.members]
    if not new:
        raise SlackError("already_in_channel")
    conv.members.extend(new)
    return {"channel": conv.to_api(ctx.ws.bot_user_id)}


def _conversations_kick(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Remove a user from a channel the bot is a member of."""
    conv = _conversation(ctx, str(args["channel"]))
    if conv.kind in {"im", "mpim"}:
        raise SlackError("method_not_supported_for_channel_type")
    user = str(args.get("user") or "")
    if user == ctx.ws.bot_user_id:
        raise SlackError("cant_kick_self")
    if ctx.ws.bot_user_id not in conv.members:
        raise SlackError("not_in_channel")
    if user not in ctx.ws.users:
        raise SlackError("user_not_found")
    if user not in conv.members:
        raise SlackError("not_in_channel")
    conv.members.remove(user)
    return {}


def _conversations_info(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    conv = _conversation(ctx, str(args["channel"]))
    num = _bool(args.get("include_num_members"))
    return {"channel": conv.to_api(ctx.ws.bot_user_id, num_members=num)}


def _history_cursor(offset: int) -> str:
    return base64.b64encode(f"next_offset:{offset}".encode()).decode()


def _history_offset(cursor: str) -> int:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
        prefix, _, num = raw.partition(":")
        if prefix != "next_offset":
            raise ValueError(raw)
        return int(num)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SlackError("invalid_cursor") from exc


def _ts_value(raw: str | None, name: str) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise SlackError("invalid_ts_" + name) from exc


def _conversations_history(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Newest first; ``oldest``/``latest`` bound the range (exclusive unless ``inclusive``);
    ``metadata`` only with ``include_all_metadata``; cursor pagination with ``has_more``."""
    conv = _conversation(ctx, str(args["channel"]))
    if not conv.bot_is_member:
        raise SlackError("not_in_channel")
    limit_raw = _str(args, "limit")
    limit = int(limit_raw) if limit_raw and limit_raw.isdigit() else 100
    limit = min(max(limit, 1), 999)
    oldest = _ts_value(_str(args, "oldest"), "oldest")
    latest = _ts_value(_str(args, "latest"), "latest")
    inclusive = _bool(args.get("inclusive"))
    with_metadata = _bool(args.get("include_all_metadata"))

    def in_range(ts: float) -> bool:
        if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
            return False
        return not (latest is not None and (ts > latest or (ts == latest and not inclusive)))

    msgs = []
    for m in reversed(conv.messages):
        if not in_range(float(m.ts)):
            continue
        item = m.to_api(ctx.ws.team_id, ctx.ws.app_id)
        if not with_metadata:
            item.pop("metadata", None)
        msgs.append(item)
    cursor = _str(args, "cursor")
    start = _history_offset(cursor) if cursor else 0
    page = msgs[start : start + limit]
    more = start + limit < len(msgs)
    return {
        "messages": page,
        "has_more": more,
        "pin_count": 0,
        "response_metadata": {"next_cursor": _history_cursor(start + limit) if more else ""},
    }


# -- chat -------------------------------------------------------------------------------------


def _resolve_target(ctx: Context, channel: str) -> Conversation:
    """The conversation for ``channel`` (a C/G/D id, or a user id meaning the bot's DM)."""
    ws = ctx.ws
    if channel in ws.conversations:
        return ws.conversations[channel]
    user = ws.users.get(channel)
    if user is None or user.is_bot:
        raise SlackError("channel_not_found")
    if user.deleted or not user.can_be_messaged:
        raise SlackError("channel_not_found")
    conv, _ = ws.open_im(user.id)
    return conv


def _content(args: dict[str, Any]) -> tuple[str, Any, Any]:
    text = args.get("text")
    markdown_text = args.get("markdown_text")
    if text not in (None, "") and markdown_text not in (None, ""):
        raise SlackError("markdown_text_conflict")
    body = str(text if text not in (None, "") else (markdown_text or ""))
    blocks = args.get("blocks")
    attachments = args.get("attachments")
    if body == "" and not blocks and not attachments:
        raise SlackError("no_text")
    if len(body) > MAX_TEXT:
        raise SlackError("msg_too_long")
    if blocks is not None:
        if not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format")
        errors = validate_message_blocks(blocks)
        if errors:
            raise SlackError("invalid_blocks", messages=errors, extra={"errors": errors})
        blocks = assign_ids({"blocks": copy.deepcopy(blocks)})["blocks"]
    if attachments is not None and not isinstance(attachments, list):
        raise SlackError("invalid_attachments")
    return body, blocks, attachments


def _check_postable(ctx: Context, conv: Conversation) -> None:
    if conv.is_archived:
        raise SlackError("is_archived")
    if conv.is_im:
        other = next((m for m in conv.members if m != ctx.ws.bot_user_id), None)
        user = ctx.ws.users.get(other) if other else None
        if user is not None and user.deleted:
            # A deactivated member's DM is archived in Slack.
            raise SlackError("is_archived")
    if conv.kind in {"channel", "private"} and not conv.bot_is_member:
        raise SlackError("not_in_channel")


def _chat_post_message(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    ws = ctx.ws
    conv = _resolve_target(ctx, str(args["channel"]))
    _check_postable(ctx, conv)
    text, blocks, attachments = _content(args)
    metadata = args.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and metadata["event_type"]
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_schema")
    msg = Message(
        channel=conv.id,
        ts=ws.next_ts(ctx.now),
        text=text,
        user=ws.bot_user_id,
        bot_id=ws.bot_id,
        blocks=blocks,
        attachments=attachments,
        thread_ts=_str(args, "thread_ts"),
        metadata=metadata,
    )
    conv.messages.append(msg)
    return {"channel": conv.id, "ts": msg.ts, "message": msg.to_api(ws.team_id, ws.app_id)}


def _own_message(
    ctx: Context, args: dict[str, Any], *, deleting: bool
) -> tuple[Conversation, Message]:
    conv = _conversation(ctx, str(args["channel"]))
    msg = conv.message(str(args["ts"]))
    if msg is None:
        raise SlackError("message_not_found")
    if msg.user != ctx.ws.bot_user_id:
        raise SlackError("cant_delete_message" if deleting else "cant_update_message")
    return conv, msg


def _chat_update(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    ws = ctx.ws
    conv, msg = _own_message(ctx, args, deleting=False)
    if conv.is_archived:
        raise SlackError("cant_update_message")
    text = args.get("text")
    blocks = args.get("blocks")
    attachments = args.get("attachments")
    if text is None and blocks is None and attachments is None:
        raise SlackError("no_text")
    if text is not None and len(str(text)) > MAX_TEXT:
        raise SlackError("msg_too_long")
    if blocks is not None:
        if not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format")
        errors = validate_message_blocks(blocks) if blocks else []
        if errors:
            raise SlackError("invalid_blocks", messages=errors, extra={"errors": errors})
        msg.blocks = assign_ids({"blocks": copy.deepcopy(blocks)})["blocks"] or None
    if text is not None:
        msg.text = str(text)
    if attachments is not None:
        if not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        msg.attachments = attachments or None
    msg.edited = True
    return {
        "channel": conv.id,
        "ts": msg.ts,
        "text": msg.text,
        "message": msg.to_api(ws.team_id, ws.app_id),
    }


def _chat_delete(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    conv, msg = _own_message(ctx, args, deleting=True)
    conv.messages.remove(msg)
    return {"channel": conv.id, "ts": msg.ts}


def _chat_post_ephemeral(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    ws = ctx.ws
    conv = _conversation(ctx, str(args["channel"]))
    _check_postable(ctx, conv)
    user_id = str(args["user"])
    user = ws.users.get(user_id)
    if user is None or user.deleted or user_id not in conv.members:
        raise SlackError("user_not_in_channel")
    text, blocks, attachments = _content(args)
    eph = Ephemeral(
        channel=conv.id,
        user=user_id,
        message_ts=ws.next_ts(ctx.now),
        text=text,
        blocks=blocks,
        attachments=attachments,
        thread_ts=_str(args, "thread_ts"),
    )
    conv.ephemerals.append(eph)
    return {"message_ts": eph.message_ts}


# -- views ------------------------------------------------------------------------------------


def _short_id() -> str:
    return secrets.token_urlsafe(4)[:5]


def _assign_element_id(el: Any) -> None:
    if isinstance(el, dict) and el.get("type") not in (None, "image") and not el.get("action_id"):
        el["action_id"] = _short_id()


def assign_ids(payload: dict[str, Any]) -> dict[str, Any]:
    """Give blocks and interactive elements without ids random ones, as Slack does; in place."""
    blocks = payload.get("blocks")
    if not isinstance(blocks, list):
        return payload
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if not block.get("block_id"):
            block["block_id"] = _short_id()
        kind = block.get("type")
        if kind == "input":
            _assign_element_id(block.get("element"))
        elif kind == "actions":
            for el in block.get("elements") or []:
                _assign_element_id(el)
        elif kind == "section" and "accessory" in block:
            _assign_element_id(block["accessory"])
    return payload


def _view_payload(args: dict[str, Any]) -> dict[str, Any]:
    view = args["view"]
    if not isinstance(view, dict):
        raise SlackError(
            "invalid_arguments", messages=["[ERROR] must be an object [json-pointer:/view]"]
        )
    if view_too_large(view):
        raise SlackError("view_too_large")
    errors = validate_view(view)
    if errors:
        raise SlackError("invalid_arguments", messages=errors)
    return assign_ids(copy.deepcopy(view))


def _exchange_trigger(ctx: Context, args: dict[str, Any]) -> Trigger:
    trigger_id = _str(args, "trigger_id") or _str(args, "interactivity_pointer")
    if trigger_id is None:
        raise SlackError(
            "invalid_arguments",
            messages=["[ERROR] missing required field: trigger_id [json-pointer:/trigger_id]"],
        )
    trig = ctx.ws.triggers.get(trigger_id)
    if trig is None or not TRIGGER_RE.match(trigger_id):
        raise SlackError("invalid_trigger_id")
    if trig.used:
        raise SlackError("exchanged_trigger_id")
    if ctx.trigger_ttl is not None and ctx.now - trig.created_at > ctx.trigger_ttl:
        raise SlackError("expired_trigger_id")
    trig.used = True
    return trig


def _check_external_id(ctx: Context, external_id: str, own: str | None = None) -> None:
    if not external_id:
        return
    for v in ctx.ws.views.values():
        if v.external_id == external_id and v.id != own and not v.closed:
            raise SlackError("duplicate_external_id")


def _new_view(
    ctx: Context,
    payload: dict[str, Any],
    user_id: str,
    root: str | None = None,
    previous: str | None = None,
) -> View:
    ws = ctx.ws
    vid = make_id("V")
    view = View(
        id=vid,
        team_id=ws.team_id,
        user_id=user_id,
        type=str(payload["type"]),
        payload=payload,
        hash=ws.new_hash(ctx.now),
        app_id=ws.app_id,
        bot_id=ws.bot_id,
        root_view_id=root or vid,
        previous_view_id=previous,
        external_id=str(payload.get("external_id") or ""),
    )
    ws.views[vid] = view
    return view


def _modal_only(payload: dict[str, Any]) -> None:
    if payload.get("type") != "modal":
        raise SlackError(
            "invalid_arguments",
            messages=["[ERROR] must be modal [json-pointer:/view/type]"],
        )


def _views_open(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    payload = _view_payload(args)
    _modal_only(payload)
    _check_external_id(ctx, str(payload.get("external_id") or ""))
    trig = _exchange_trigger(ctx, args)
    for old in ctx.ws.modal_stacks.get(trig.user_id, []):
        ctx.ws.views[old].closed = True
    view = _new_view(ctx, payload, trig.user_id)
    ctx.ws.modal_stacks[trig.user_id] = [view.id]
    return {"view": view.to_api()}


def _views_push(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    payload = _view_payload(args)
    _modal_only(payload)
    _check_external_id(ctx, str(payload.get("external_id") or ""))
    trig = _exchange_trigger(ctx, args)
    stack = ctx.ws.modal_stacks.get(trig.user_id, [])
    if not stack:
        raise SlackError("not_found")
    if len(stack) >= MAX_MODAL_STACK:
        raise SlackError("push_limit_reached")
    top = ctx.ws.views[stack[-1]]
    view = _new_view(ctx, payload, trig.user_id, root=top.root_view_id, previous=top.id)
    stack.append(view.id)
    return {"view": view.to_api()}


def _views_update(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    view_id = _str(args, "view_id")
    external_id = _str(args, "external_id")
    if view_id is None and external_id is None:
        raise SlackError(
            "invalid_arguments",
            messages=["[ERROR] missing required field: view_id or external_id"],
        )
    payload = _view_payload(args)
    target: View | None = None
    if view_id is not None:
        target = ctx.ws.views.get(view_id)
    else:
        target = next(
            (v for v in ctx.ws.views.values() if v.external_id == external_id and not v.closed),
            None,
        )
    if target is None or target.closed:
        raise SlackError("not_found")
    if payload.get("type") != target.type:
        raise SlackError(
            "invalid_arguments",
            messages=[f"[ERROR] must be {target.type} [json-pointer:/view/type]"],
        )
    wanted_hash = _str(args, "hash")
    if wanted_hash is not None and wanted_hash != target.hash:
        raise SlackError("hash_conflict")
    new_external = str(payload.get("external_id") or target.external_id)
    _check_external_id(ctx, new_external, own=target.id)
    target.payload = payload
    target.external_id = new_external
    target.hash = ctx.ws.new_hash(ctx.now)
    return {"view": target.to_api()}


def _views_publish(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    ws = ctx.ws
    user_id = str(args["user_id"])
    user = ws.users.get(user_id)
    if user is None or user.deleted or user.is_bot:
        raise SlackError(
            "invalid_arguments",
            messages=["[ERROR] invalid user_id [json-pointer:/user_id]"],
        )
    payload = _view_payload(args)
    if payload.get("type") != "home":
        raise SlackError(
            "invalid_arguments", messages=["[ERROR] must be home [json-pointer:/view/type]"]
        )
    wanted_hash = _str(args, "hash")
    existing_id = ws.home_views.get(user_id)
    if existing_id is not None:
        view = ws.views[existing_id]
        if wanted_hash is not None and wanted_hash != view.hash:
            raise SlackError("hash_conflict")
        view.payload = payload
        view.external_id = str(payload.get("external_id") or view.external_id)
        view.hash = ws.new_hash(ctx.now)
    else:
        if wanted_hash is not None:
            raise SlackError("hash_conflict")
        view = _new_view(ctx, payload, user_id)
        ws.home_views[user_id] = view.id
    return {"view": view.to_api()}


# -- the table --------------------------------------------------------------------------------

# -- files (the external upload flow) ------------------------------------------------------------

#: Largest upload the emulator accepts (Slack allows 1 GB).
MAX_UPLOAD = 50 * 1024 * 1024


def _files_get_upload_url(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Reserve a file id and an upload URL; the bytes are POSTed there, then completed."""
    try:
        length = int(str(args["length"]))
    except ValueError:
        raise SlackError(
            "invalid_arguments", messages=["[ERROR] length must be an integer"]
        ) from None
    if length <= 0 or length > MAX_UPLOAD:
        raise SlackError("file_upload_size_restricted")
    alt = _str(args, "alt_txt")
    if alt is not None and len(alt) > 1000:
        raise SlackError("alt_txt_too_large")
    file_id = make_id("F")
    ctx.ws.files[file_id] = {
        "filename": str(args["filename"]),
        "length": length,
        "alt_txt": alt,
        "content": None,
        "shared": False,
    }
    return {"upload_url": f"{ctx.base_url}upload/{file_id}", "file_id": file_id}


def receive_upload(ws: Workspace, file_id: str, raw: bytes) -> tuple[int, str]:
    """The POST of a file's bytes to its upload URL: (HTTP status, body) as Slack answers."""
    entry = ws.files.get(file_id)
    if entry is None or entry["shared"]:
        return 404, "not found"
    if len(raw) != entry["length"]:
        return 400, f"length {len(raw)} does not match the declared {entry['length']}"
    entry["content"] = raw
    return 200, f"OK - {len(raw)}"


def _files_complete_upload(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    """Finish uploads and (with ``channel_id`` or ``channels``) share them in one message."""
    raw = args["files"]
    try:
        files = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        raise SlackError("invalid_arguments", messages=["[ERROR] files is not JSON"]) from None
    if not isinstance(files, list) or not files or not all(isinstance(f, dict) for f in files):
        raise SlackError("invalid_arguments", messages=["[ERROR] files must be a list"])
    entries = []
    for f in files:
        entry = ctx.ws.files.get(str(f.get("id")))
        if entry is None or entry["content"] is None or entry["shared"]:
            raise SlackError("file_not_found")
        entries.append((str(f["id"]), str(f.get("title") or entry["filename"]), entry))
    target = _str(args, "channel_id") or _str(args, "channels")
    conv = None
    if target:
        if "," in target:
            raise SlackError("invalid_channel")
        conv = _resolve_target(ctx, target)
        _check_postable(ctx, conv)
    shared = []
    for file_id, title, entry in entries:
        entry["shared"] = True
        entry["title"] = title
        shared.append(
            {
                "id": file_id,
                "title": title,
                "name": entry["filename"],
                "size": entry["length"],
                "alt_txt": entry["alt_txt"],
            }
        )
    if conv is not None:
        comment = _str(args, "initial_comment") or ""
        blocks = None if comment else args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        msg = Message(
            channel=conv.id,
            ts=ctx.ws.next_ts(ctx.now),
            text=comment,
            user=ctx.ws.bot_user_id,
            bot_id=ctx.ws.bot_id,
            blocks=blocks,
            files=shared,
        )
        conv.messages.append(msg)
    return {"files": [{"id": s["id"], "title": s["title"]} for s in shared]}


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("auth.test", _auth_test),
        MethodSpec("team.info", _team_info),
        MethodSpec("users.info", _users_info, {"user": "user_not_found"}),
        MethodSpec("users.lookupByEmail", _users_lookup_by_email, {"email": "users_not_found"}),
        MethodSpec("users.list", _users_list),
        MethodSpec("conversations.open", _conversations_open),
        MethodSpec("conversations.info", _conversations_info, {"channel": "channel_not_found"}),
        MethodSpec(
            "conversations.create", _conversations_create, {"name": "invalid_name_required"}
        ),
        MethodSpec(
            "conversations.kick",
            _conversations_kick,
            {"channel": "channel_not_found"},
        ),
        MethodSpec(
            "conversations.invite",
            _conversations_invite,
            {"channel": "channel_not_found", "users": "no_user"},
        ),
        MethodSpec(
            "conversations.history", _conversations_history, {"channel": "channel_not_found"}
        ),
        MethodSpec("chat.postMessage", _chat_post_message, {"channel": "channel_not_found"}),
        MethodSpec(
            "chat.update",
            _chat_update,
            {"channel": "channel_not_found", "ts": "message_not_found"},
        ),
        MethodSpec(
            "chat.delete",
            _chat_delete,
            {"channel": "channel_not_found", "ts": "message_not_found"},
        ),
        MethodSpec(
            "chat.postEphemeral",
            _chat_post_ephemeral,
            {"channel": "channel_not_found", "user": "user_not_in_channel"},
        ),
        MethodSpec(
            "files.getUploadURLExternal",
            _files_get_upload_url,
            {"filename": "missing_argument", "length": "missing_argument"},
        ),
        MethodSpec(
            "files.completeUploadExternal", _files_complete_upload, {"files": "invalid_arguments"}
        ),
        MethodSpec("views.open", _views_open, {"view": "invalid_arguments"}),
        MethodSpec("views.push", _views_push, {"view": "invalid_arguments"}),
        MethodSpec("views.update", _views_update, {"view": "invalid_arguments"}),
        MethodSpec(
            "views.publish",
            _views_publish,
            {"user_id": "invalid_arguments", "view": "invalid_arguments"},
        ),
    )
}


def check_required(spec: MethodSpec, args: dict[str, Any]) -> None:
    """Raise Slack's error for the first missing required argument of ``spec``."""
    for name, error in spec.required.items():
        value = args.get(name)
        if value is None or value == "":
            messages = None
            if error == "invalid_arguments":
                messages = [f"[ERROR] missing required field: {name} [json-pointer:/{name}]"]
            raise SlackError(error, messages=messages)
