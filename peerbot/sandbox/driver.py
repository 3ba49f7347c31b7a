"""A driver that calls an app's HTTP endpoint exactly as Slack does, signed with the secret.

It sends slash commands (form-encoded), interactions (``payload=`` JSON: ``block_actions``,
``view_submission``, ``view_closed``) and Events API callbacks (JSON, with redelivery headers),
minting trigger ids and response URLs with the :class:`~peerbot.sandbox.server.SlackEmulator`, and
applies a view submission's ``response_action`` to the emulator's modal stack.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode

from peerbot.sandbox.server import SlackEmulator

STALE_SECONDS = 5 * 60 + 1
DEFAULT_VERIFICATION_TOKEN = "sandbox-verification-token"

_VALUE_TYPES = frozenset({"plain_text_input", "email_text_input", "url_text_input", "number_input"})
_SINGLE_OPTION_TYPES = frozenset({"static_select", "external_select", "radio_buttons"})
_MULTI_OPTION_TYPES = frozenset({"checkboxes", "multi_static_select", "multi_external_select"})
_SIMPLE_KEYS = {
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
}
_INITIAL_KEYS = {
    "datepicker": "initial_date",
    "timepicker": "initial_time",
    "datetimepicker": "initial_date_time",
    "users_select": "initial_user",
    "multi_users_select": "initial_users",
    "conversations_select": "initial_conversation",
    "multi_conversations_select": "initial_conversations",
    "channels_select": "initial_channel",
    "multi_channels_select": "initial_channels",
}
_STATELESS = frozenset({"button", "overflow", "image", "workflow_button"})


class DriverResponse(NamedTuple):
    """What the app answered: HTTP status, headers (lower-case names), parsed body."""

    status: int
    headers: dict[str, str]
    body: Any


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature: ``v0=`` + HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _find_options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _option(element: dict[str, Any], value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if element.get("type", "").endswith("external_select"):
        return {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}
    for opt in _find_options(element):
        if opt.get("value") == value:
            return copy.deepcopy(opt)
    raise ValueError(f"no option with value {value!r} in element {element.get('action_id')!r}")


def element_state(element: dict[str, Any], value: Any, *, given: bool) -> dict[str, Any]:
    """The ``state.values`` entry Slack sends for ``element`` holding ``value``.

    When ``given`` is false the element's initial value (or null) is used, as Slack does.
    """
    kind = str(element.get("type"))
    out: dict[str, Any] = {"type": kind}
    if kind in _VALUE_TYPES:
        v = value if given else element.get("initial_value")
        out["value"] = None if v is None else str(v)
    elif kind in _SINGLE_OPTION_TYPES:
        if given:
            out["selected_option"] = None if value is None else _option(element, value)
        else:
            out["selected_option"] = copy.deepcopy(element.get("initial_option"))
    elif kind in _MULTI_OPTION_TYPES:
        if given:
            values = [] if value is None else list(value)
            out["selected_options"] = [_option(element, v) for v in values]
        else:
            out["selected_options"] = copy.deepcopy(element.get("initial_options") or [])
    elif kind in _SIMPLE_KEYS:
        key = _SIMPLE_KEYS[kind]
        if given:
            out[key] = list(value) if key.endswith("s") and value is not None else value
        else:
            default: Any = [] if key.endswith("s") else None
            out[key] = copy.deepcopy(element.get(_INITIAL_KEYS[kind], default))
    elif kind == "rich_text_input":
        v = value if given else element.get("initial_value")
        if isinstance(v, str):
            v = {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "text", "text": v}],
                    }
                ],
            }
        out["rich_text_value"] = v
    else:
        out["value"] = value
    return out


def _stateful_elements(blocks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for block in blocks:
        bid = str(block.get("block_id", ""))
        kind = block.get("type")
        if kind == "input" and isinstance(block.get("element"), dict):
            found.append((bid, block["element"]))
        elif kind == "actions":
            for el in block.get("elements") or []:
                if isinstance(el, dict) and el.get("type") not in _STATELESS:
                    found.append((bid, el))
        elif (
            kind == "section"
            and isinstance(block.get("accessory"), dict)
            and block["accessory"].get("type") not in _STATELESS
        ):
            found.append((bid, block["accessory"]))
    return found


def build_state(
    blocks: list[dict[str, Any]], values: Mapping[tuple[str, str], Any] | None
) -> dict[str, Any]:
    """``{"values": {block_id: {action_id: entry}}}`` for ``blocks`` filled from ``values``."""
    given = dict(values or {})
    state: dict[str, dict[str, Any]] = {}
    for bid, el in _stateful_elements(blocks):
        aid = str(el.get("action_id", ""))
        key = (bid, aid)
        state.setdefault(bid, {})[aid] = element_state(el, given.get(key), given=key in given)
        given.pop(key, None)
    if given:
        raise KeyError(f"no input element for {sorted(given)}")
    return {"values": state}


def _find_element(
    blocks: list[dict[str, Any]], action_id: str, block_id: str | None
) -> tuple[str, dict[str, Any]] | None:
    for block in blocks:
        bid = str(block.get("block_id", ""))
        if block_id is not None and bid != block_id:
            continue
        candidates: list[Any] = []
        if block.get("type") == "actions":
            candidates = list(block.get("elements") or [])
        elif block.get("type") == "section":
            candidates = [block.get("accessory")]
        elif block.get("type") == "input":
            candidates = [block.get("element")]
        for el in candidates:
            if isinstance(el, dict) and el.get("action_id") == action_id:
                return bid, el
    return None


@dataclasses.dataclass(frozen=True)
class SlackDriver:
    """Sends Slack's requests to an app's HTTP endpoint(s), signed like Slack signs them.

    ``url`` is the app's endpoint (Bolt's ``/slack/events`` takes all three kinds); pass
    ``commands_url`` / ``interactions_url`` when the app splits them. :meth:`tampered`,
    :meth:`stale` and :meth:`unsigned` give drivers for security tests.
    """

    url: str
    signing_secret: str
    emulator: SlackEmulator
    commands_url: str | None = None
    interactions_url: str | None = None
    verification_token: str = DEFAULT_VERIFICATION_TOKEN
    bad_signature: bool = False
    timestamp_offset: int = 0
    signed: bool = True
    timeout: float = 10.0
    clock: Callable[[], float] = time.time

    # -- variants for security tests ----------------------------------------------------------

    def tampered(self) -> SlackDriver:
        """A driver whose signatures are made with a wrong secret."""
        return dataclasses.replace(self, bad_signature=True)

    def stale(self, seconds: int = STALE_SECONDS) -> SlackDriver:
        """A driver whose ``X-Slack-Request-Timestamp`` is ``seconds`` old (correctly signed)."""
        return dataclasses.replace(self, timestamp_offset=-seconds)

    def unsigned(self) -> SlackDriver:
        """A driver that sends no signature headers."""
        return dataclasses.replace(self, signed=False)

    # -- transport ----------------------------------------------------------------------------

    def send(
        self,
        url: str,
        body: bytes,
        content_type: str,
        extra_headers: Mapping[str, str] | None = None,
    ) -> DriverResponse:
        """POST ``body`` to ``url`` with Slack's headers; answer the app's response."""
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "Accept": "application/json,*/*",
        }
        if self.signed:
            ts = str(int(self.clock()) + self.timestamp_offset)
            secret = self.signing_secret + ("-wrong" if self.bad_signature else "")
            headers["X-Slack-Request-Timestamp"] = ts
            headers["X-Slack-Signature"] = sign(secret, ts, body)
        headers.update(extra_headers or {})
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                status = int(resp.status)
                resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                raw = resp.read()
        except urllib.error.HTTPError as err:
            status = int(err.code)
            resp_headers = {k.lower(): v for k, v in err.headers.items()}
            raw = err.read()
        return DriverResponse(status, resp_headers, _parse_body(raw))

    def _form(self, url: str, fields: Mapping[str, str]) -> DriverResponse:
        return self.send(url, urlencode(fields).encode(), "application/x-www-form-urlencoded")

    def _interaction(self, payload: dict[str, Any]) -> DriverResponse:
        body = {"payload": json.dumps(payload, separators=(",", ":"))}
        return self._form(self.interactions_url or self.url, body)

    # -- common shapes ------------------------------------------------------------------------

    def _user(self, user_id: str) -> dict[str, Any]:
        info = self.emulator.user(user_id)
        return {
            "id": user_id,
            "username": info["name"],
            "name": info["name"],
            "team_id": self.emulator.team_id,
        }

    def _team(self) -> dict[str, Any]:
        team: dict[str, Any] = {"id": self.emulator.team_id, "domain": self.emulator.team_domain}
        if self.emulator.enterprise_id:
            team["enterprise_id"] = self.emulator.enterprise_id
        return team

    def _enterprise(self) -> dict[str, Any] | None:
        org = self.emulator.enterprise_id
        return {"id": org, "name": org} if org else None

    def _base_payload(self, kind: str, user_id: str) -> dict[str, Any]:
        return {
            "type": kind,
            "user": self._user(user_id),
            "api_app_id": self.emulator.app_id,
            "token": self.verification_token,
            "team": self._team(),
            "enterprise": self._enterprise(),
            "is_enterprise_install": self.emulator.org_wide,
        }

    # -- slash commands -----------------------------------------------------------------------

    def slash_command(
        self,
        command: str,
        user_id: str,
        text: str = "",
        *,
        channel_id: str | None = None,
        channel_name: str | None = None,
    ) -> DriverResponse:
        """Send ``/command text`` typed by ``user_id`` (in their DM with the app by default)."""
        channel = channel_id or self.emulator.ensure_dm(user_id)
        if channel_name is None:
            channel_name = "directmessage" if channel.startswith("D") else "channel"
        fields = {
            "token": self.verification_token,
            "team_id": self.emulator.team_id,
            "team_domain": self.emulator.team_domain,
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": self.emulator.user(user_id)["name"],
            "command": command if command.startswith("/") else "/" + command,
            "text": text,
            "api_app_id": self.emulator.app_id,
            "is_enterprise_install": "true" if self.emulator.org_wide else "false",
            **(
                {"enterprise_id": self.emulator.enterprise_id}
                if self.emulator.enterprise_id
                else {}
            ),
            "response_url": self.emulator.new_response_url(user_id, channel),
            "trigger_id": self.emulator.new_trigger_id(user_id),
        }
        return self._form(self.commands_url or self.url, fields)

    # -- block actions ------------------------------------------------------------------------

    def block_action(
        self,
        user_id: str,
        action_id: str,
        *,
        value: Any = None,
        block_id: str | None = None,
        channel_id: str | None = None,
        message_ts: str | None = None,
        view_id: str | None = None,
        values: Mapping[tuple[str, str], Any] | None = None,
    ) -> DriverResponse:
        """Click / pick ``action_id`` in a message (``channel_id`` + ``message_ts``) or a view.

        The element is looked up in the message or view to fill its type and block id; ``value``
        is a button's value (default: the button's own), an option value for selects, a date for
        a datepicker, and so on. ``values`` fills the view's ``state`` like a submission.
        """
        payload = self._base_payload("block_actions", user_id)
        payload["trigger_id"] = self.emulator.new_trigger_id(user_id)
        if view_id is not None:
            view = self.emulator.view(view_id)
            if view is None:
                raise KeyError(f"no view {view_id}")
            blocks = view["blocks"]
            view["state"] = build_state(blocks, values)
            payload["container"] = {"type": "view", "view_id": view_id}
            payload["view"] = view
        elif channel_id is not None and message_ts is not None:
            message = next(
                (m for m in self.emulator.messages(channel_id) if m["ts"] == message_ts), None
            )
            if message is None:
                raise KeyError(f"no message {message_ts} in {channel_id}")
            blocks = message.get("blocks") or []
            payload["container"] = {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": False,
            }
            conv = self.emulator.conversation(channel_id)
            payload["channel"] = {"id": channel_id, "name": conv.get("name", "directmessage")}
            payload["message"] = message
            payload["state"] = build_state(blocks, values)
            payload["response_url"] = self.emulator.new_response_url(user_id, channel_id)
        else:
            raise ValueError("give view_id, or channel_id and message_ts")
        found = _find_element(blocks, action_id, block_id)
        if found is None:
            raise KeyError(f"no element with action_id {action_id!r}")
        bid, element = found
        payload["actions"] = [self._action(bid, element, value)]
        return self._interaction(payload)

    def _action(self, block_id: str, element: dict[str, Any], value: Any) -> dict[str, Any]:
        kind = str(element.get("type"))
        action: dict[str, Any] = {
            "type": kind,
            "action_id": element.get("action_id"),
            "block_id": block_id,
            "action_ts": f"{self.clock():.6f}",
        }
        if kind == "button":
            action["text"] = element.get("text")
            v = value if value is not None else element.get("value")
            if v is not None:
                action["value"] = str(v)
            if "style" in element:
                action["style"] = element["style"]
        elif kind == "overflow":
            action["selected_option"] = _option(element, value)
        else:
            state = element_state(element, value, given=value is not None)
            state.pop("type", None)
            action.update(state)
        return action

    # -- views --------------------------------------------------------------------------------

    def view_submission(
        self,
        user_id: str,
        view_id: str,
        values: Mapping[tuple[str, str], Any] | None = None,
        *,
        apply_response: bool = True,
    ) -> DriverResponse:
        """Submit the modal ``view_id`` with inputs ``{(block_id, action_id): value}``.

        Afterwards the emulator's modal stack follows the app's answer: empty body closes this
        view, ``clear`` closes all, ``update`` replaces it, ``push`` pushes, ``errors`` keeps it.
        """
        view = self.emulator.view(view_id)
        if view is None:
            raise KeyError(f"no view {view_id}")
        if not self.emulator.view_is_open(view_id):
            raise ValueError(f"view {view_id} is not open")
        view["state"] = build_state(view["blocks"], values)
        payload = self._base_payload("view_submission", user_id)
        payload["trigger_id"] = self.emulator.new_trigger_id(user_id)
        payload["view"] = view
        payload["response_urls"] = []
        resp = self._interaction(payload)
        if apply_response and resp.status == 200:
            self._apply_response_action(user_id, view_id, resp.body)
        return resp

    def _apply_response_action(self, user_id: str, view_id: str, body: Any) -> None:
        action = body.get("response_action") if isinstance(body, dict) else None
        if action in (None, ""):
            self.emulator.close_view(view_id)
        elif action == "clear":
            self.emulator.close_view(view_id, clear=True)
        elif action == "update":
            self.emulator.replace_view(view_id, body["view"])
        elif action == "push":
            self.emulator.push_view(user_id, body["view"])
        elif action != "errors":
            raise ValueError(f"unknown response_action {action!r}")

    def view_closed(
        self, user_id: str, view_id: str, *, is_cleared: bool = False
    ) -> DriverResponse | None:
        """The user closes the modal; sent to the app only if the view has ``notify_on_close``."""
        view = self.emulator.view(view_id)
        if view is None:
            raise KeyError(f"no view {view_id}")
        self.emulator.close_view(view_id, clear=is_cleared)
        if not view.get("notify_on_close"):
            return None
        view["state"] = build_state(view["blocks"], None)
        payload = self._base_payload("view_closed", user_id)
        payload["view"] = view
        payload["is_cleared"] = is_cleared
        return self._interaction(payload)

    # -- events -------------------------------------------------------------------------------

    def event_envelope(
        self, event: Mapping[str, Any], event_id: str | None = None
    ) -> dict[str, Any]:
        """The ``event_callback`` envelope Slack wraps ``event`` in."""
        now = self.clock()
        inner = dict(event)
        inner.setdefault("event_ts", f"{now:.6f}")
        return {
            "token": self.verification_token,
            "team_id": self.emulator.team_id,
            "context_team_id": self.emulator.team_id,
            "context_enterprise_id": self.emulator.enterprise_id,
            "api_app_id": self.emulator.app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": self.emulator.enterprise_id,
                    "team_id": self.emulator.team_id,
                    "user_id": self.emulator.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": self.emulator.org_wide,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_hex(16),
        }

    def send_envelope(
        self,
        envelope: Mapping[str, Any],
        *,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> DriverResponse:
        """POST an Events API body; with ``retry_num`` it is a redelivery (same event_id)."""
        headers: dict[str, str] = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        body = json.dumps(envelope, separators=(",", ":")).encode()
        return self.send(self.url, body, "application/json", headers)

    def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> DriverResponse:
        """Deliver one event (``{"type": "app_home_opened", ...}``) in an envelope."""
        envelope = self.event_envelope(event, event_id)
        return self.send_envelope(envelope, retry_num=retry_num, retry_reason=retry_reason)

    def app_home_opened(self, user_id: str, *, tab: str = "home") -> DriverResponse:
        """The user opens the app's Home (or Messages) tab."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self.emulator.ensure_dm(user_id),
            "tab": tab,
        }
        home = self.emulator.home_view(user_id)
        if home is not None and tab == "home":
            event["view"] = home
        return self.event(event)

    def message_im(self, user_id: str, text: str) -> DriverResponse:
        """The user writes ``text`` in their DM with the app (recorded in the emulator too)."""
        channel = self.emulator.ensure_dm(user_id)
        ts = self.emulator.post_user_message(channel, user_id, text)
        event = {
            "type": "message",
            "user": user_id,
            "text": text,
            "ts": ts,
            "channel": channel,
            "channel_type": "im",
            "event_ts": ts,
            "team": self.emulator.team_id,
        }
        return self.event(event)

    def url_verification(self, challenge: str | None = None) -> DriverResponse:
        """Slack's endpoint check; the app must echo ``challenge``."""
        body = {
            "token": self.verification_token,
            "challenge": challenge or secrets.token_urlsafe(24),
            "type": "url_verification",
        }
        return self.send(self.url, json.dumps(body).encode(), "application/json")


def _parse_body(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
