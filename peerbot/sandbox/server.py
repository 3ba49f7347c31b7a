"""The strict Slack Web API emulator: an HTTP server on loopback with a stateful workspace.

Usage::

    with SlackEmulator() as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        uid = slack.add_user("ada", email="ada@example.com")
        client.chat_postMessage(channel=uid, text="hi")
        assert slack.messages_to(uid)[0]["text"] == "hi"
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from peerbot.sandbox.blockkit import validate_view
from peerbot.sandbox.faults import Faults
from peerbot.sandbox.methods import (
    METHODS,
    Context,
    SlackError,
    assign_ids,
    check_required,
    decode_json_fields,
    receive_upload,
)
from peerbot.sandbox.state import (
    Conversation,
    Ephemeral,
    Message,
    Trigger,
    User,
    Workspace,
    make_id,
)

DEFAULT_BOT_TOKEN = "xoxb-0000000000-peerbot-sandbox"


@dataclass(frozen=True)
class Call:
    """One request the emulator answered (Web API method or ``response_url``)."""

    method: str
    args: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: float
    token: str | None = None

    @property
    def ok(self) -> bool:
        """Whether Slack would have answered ``ok: true``."""
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        """The error code of a failed call."""
        err = self.response.get("error")
        return str(err) if err is not None else None


@dataclass
class _OAuthApp:
    """The emulated app's OAuth credentials and what it has handed out."""

    client_id: str = ""
    client_secret: str = ""
    redirect_uri: str = ""
    rotation: bool = False
    expires_in: int = 43200
    #: code -> (workspaces, organisation of an org-wide install, scopes)
    codes: dict[str, tuple[list[str], str | None, str]] = field(default_factory=dict)
    #: refresh token -> (workspaces, organisation)
    refresh_tokens: dict[str, tuple[list[str], str | None]] = field(default_factory=dict)
    #: bot token -> organisation, for org-wide installs
    org_tokens: dict[str, str] = field(default_factory=dict)


@dataclass
class _ResponseUrl:
    id: str
    user_id: str
    channel_id: str
    uses: int = 0
    posts: list[dict[str, Any]] = field(default_factory=list)
    ws: Workspace | None = None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: SlackEmulator


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def do_GET(self) -> None:
        """Serve a Web API method called with GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Serve a Web API method or a response_url called with POST."""
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        status, headers, body = self.server.emulator.handle_http(
            self.command, url.path, url.query, dict(self.headers.items()), raw
        )
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class SlackEmulator:
    """A strict, stateful Slack Web API on loopback, for tests and the offline demo.

    Thread-safe: every request and every helper runs under one lock. ``clock`` (epoch seconds)
    drives message timestamps, trigger expiry and rate-limit windows; pass a fake one to move time
    without sleeping. ``trigger_ttl`` is Slack's 3 s trigger-id lifetime (None: never expire).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        team_id: str = "T0PEERBOT",
        team_name: str = "Peerbot Sandbox",
        domain: str = "peerbot-sandbox",
        bot_token: str = DEFAULT_BOT_TOKEN,
        bot_name: str = "peerbot",
        trigger_ttl: float | None = 3.0,
        clock: Callable[[], float] = time.time,
        deleted_users_not_found: bool = False,
    ) -> None:
        self._host = host
        self._port = port
        self._clock = clock
        self.trigger_ttl = trigger_ttl
        self.deleted_users_not_found = deleted_users_not_found
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._ws = Workspace(team_id=team_id, team_name=team_name, domain=domain, bot_name=bot_name)
        self._tokens: dict[str, str] = {bot_token: "bot"}
        self._revoked: set[str] = set()
        #: Several workspaces (each with its own bot token) and Enterprise Grid organisations;
        #: this object speaks for the first, :meth:`team` gives one speaking for another.
        self._root = self
        self._teams: dict[str, Workspace] = {team_id: self._ws}
        self._token_teams: dict[str, list[str]] = {bot_token: [team_id]}
        self._expired: set[str] = set()
        self.org_wide = False
        self._oauth = _OAuthApp()
        self._latency: dict[str, float] = {}
        self.bot_token = bot_token
        self._calls: list[Call] = []
        self._faults = Faults()
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> SlackEmulator:
        """Bind the port (0: a free one) and serve in a daemon thread."""
        if self._server is not None:
            return self
        server = _HTTPServer((self._host, self._port), _Handler)
        server.emulator = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="slack-emulator", kwargs={"poll_interval": 0.05}
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._root._server is not None

    @property
    def port(self) -> int:
        """The bound port (after start())."""
        server = self._root._server
        if server is None:
            raise RuntimeError("the emulator is not started")
        return int(server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/``."""
        return f"http://{self._host}:{self.port}/"

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT/api/``: pass it to ``WebClient(base_url=...)``."""
        return self.base_url + "api/"

    # -- workspace identity -------------------------------------------------------------------

    @property
    def team_id(self) -> str:
        """The workspace id."""
        return self._ws.team_id

    @property
    def enterprise_id(self) -> str | None:
        """The workspace's Enterprise Grid organisation (None outside Grid)."""
        return self._ws.enterprise_id

    @property
    def team_domain(self) -> str:
        """The workspace domain."""
        return self._ws.domain

    @property
    def team_name(self) -> str:
        """The workspace name."""
        return self._ws.team_name

    @property
    def bot_user_id(self) -> str:
        """The app's bot user id."""
        return self._ws.bot_user_id

    @property
    def bot_id(self) -> str:
        """The app's bot id (``B...``)."""
        return self._ws.bot_id

    @property
    def app_id(self) -> str:
        """The app id (``A...``)."""
        return self._ws.app_id

    def now(self) -> float:
        """The emulator's clock."""
        return self._clock()

    # -- tokens -------------------------------------------------------------------------------

    def add_token(self, token: str) -> None:
        """Accept another bot token."""
        with self._lock:
            self._tokens[token] = "bot"
            self._revoked.discard(token)

    def revoke_token(self, token: str) -> None:
        """Answer ``token_revoked`` for ``token`` from now on."""
        with self._lock:
            self._revoked.add(token)

    def expire_token(self, token: str) -> None:
        """Answer ``token_expired`` for ``token`` from now on (a rotating token past its time)."""
        with self._lock:
            self._expired.add(token)

    # -- several workspaces, Enterprise Grid, OAuth ---------------------------------------------

    def add_team(
        self,
        team_id: str,
        team_name: str | None = None,
        *,
        enterprise_id: str | None = None,
        bot_token: str | None = None,
    ) -> SlackEmulator:
        """Add another workspace (in organisation ``enterprise_id`` if given) and answer an
        emulator object speaking for it (same server, its own users, DMs and bot user). With
        ``bot_token`` the workspace accepts that token at once; otherwise it gets one by an
        OAuth install (:meth:`enable_oauth`)."""
        with self._lock:
            if team_id in self._teams:
                raise ValueError(f"team {team_id} exists")
            suffix = team_id.removeprefix("T")[:9]
            ws = Workspace(
                team_id=team_id,
                team_name=team_name or team_id,
                domain=team_id.lower(),
                app_id=self._ws.app_id,
                bot_id=f"B{suffix}",
                bot_user_id=f"U{suffix}BOT",
                bot_name=self._ws.bot_name,
                enterprise_id=enterprise_id,
            )
            self._teams[team_id] = ws
            if bot_token:
                self._grant(bot_token, [team_id])
            return self.team(team_id)

    def team(self, team_id: str) -> SlackEmulator:
        """An emulator object speaking for workspace ``team_id`` (state and server shared)."""
        with self._lock:
            ws = self._teams[team_id]
            view = copy.copy(self._root)
            view._ws = ws
            view.bot_token = self._team_token(team_id) or ""
            view.org_wide = any(
                t in self._oauth.org_tokens
                for t, teams in self._token_teams.items()
                if team_id in teams and t not in self._revoked
            )
            return view

    def _team_token(self, team_id: str) -> str | None:
        live = [
            t
            for t, teams in self._token_teams.items()
            if team_id in teams and t not in self._revoked and t not in self._expired
        ]
        return live[-1] if live else None

    def _grant(self, token: str, teams: list[str]) -> None:
        self._tokens[token] = "bot"
        self._token_teams[token] = list(teams)
        self._revoked.discard(token)

    def enable_oauth(
        self,
        client_id: str,
        client_secret: str,
        *,
        rotation: bool = False,
        expires_in: int = 43200,
        redirect_uri: str = "",
    ) -> None:
        """Accept OAuth installs of app ``client_id``: ``GET /oauth/v2/authorize`` redirects to
        the app (``redirect_uri`` unless the app names one) with a code, ``oauth.v2.access``
        exchanges it for a bot token of the workspace
        (or organisation) chosen. With ``rotation`` tokens expire after ``expires_in`` seconds
        and come with a refresh token (``grant_type=refresh_token`` gives a new pair)."""
        with self._lock:
            self._oauth.client_id = client_id
            self._oauth.client_secret = client_secret
            self._oauth.rotation = rotation
            self._oauth.expires_in = expires_in
            self._oauth.redirect_uri = redirect_uri

    def authorize_url(self) -> str:
        """Slack's install page on this emulator (``SLACK_OAUTH_AUTHORIZE_URL``)."""
        return self.base_url + "oauth/v2/authorize"

    def uninstall(self, token: str | None = None) -> None:
        """The app was removed: its token (default: this workspace's) stops working."""
        with self._lock:
            self._revoked.add(token or self.bot_token)

    def _authorize(self, query: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        """The install page, approved at once: redirect to ``redirect_uri`` with a code for the
        workspace named by ``team`` (or, org-wide, the organisation named by ``enterprise``)."""
        q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        with self._lock:
            if q.get("client_id") != self._oauth.client_id or not self._oauth.client_id:
                return 400, {}, {"ok": False, "error": "invalid_client_id"}
            redirect = q.get("redirect_uri") or self._oauth.redirect_uri
            if not redirect:
                return 400, {}, {"ok": False, "error": "bad_redirect_uri"}
            enterprise = q.get("enterprise")
            if enterprise:
                teams = [t for t, ws in self._teams.items() if ws.enterprise_id == enterprise]
            else:
                team = q.get("team") or self._ws.team_id
                teams = [team] if team in self._teams else []
            if not teams:
                return 400, {}, {"ok": False, "error": "team_not_found"}
            code = secrets.token_hex(12)
            self._oauth.codes[code] = (teams, enterprise, q.get("scope", ""))
        sep = "&" if "?" in redirect else "?"
        location = f"{redirect}{sep}code={code}&state={q.get('state', '')}"
        return 302, {"Location": location}, {"ok": True, "redirect": location}

    def _oauth_access(
        self, args: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """``oauth.v2.access``: a code (install) or a refresh token (rotation) for tokens."""
        import base64

        client_id, client_secret = args.get("client_id"), args.get("client_secret")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, client_secret = (
                    base64.b64decode(auth[6:].strip()).decode().partition(":")
                )
            except ValueError:
                client_id = None
        with self._changed:
            now = self._clock()
            oauth = self._oauth
            try:
                if not oauth.client_id or client_id != oauth.client_id:
                    raise SlackError("invalid_client_id")
                if client_secret != oauth.client_secret:
                    raise SlackError("bad_client_secret")
                if args.get("grant_type") == "refresh_token":
                    body = self._refresh(str(args.get("refresh_token") or ""))
                else:
                    body = self._exchange(str(args.get("code") or ""))
            except SlackError as exc:
                status, body = exc.status, exc.body()
            else:
                status = 200
            safe = {k: v for k, v in args.items() if k not in ("client_secret", "code")}
            self._calls.append(
                Call("oauth.v2.access", safe, status, copy.deepcopy(body), now, token=None)
            )
            self._changed.notify_all()
            return status, {}, body

    def _issue(self, teams: list[str], enterprise: str | None) -> dict[str, Any]:
        oauth = self._oauth
        n = secrets.token_hex(6)
        token = f"xoxe.xoxb-{n}" if oauth.rotation else f"xoxb-{n}"
        self._grant(token, teams)
        if enterprise:
            oauth.org_tokens[token] = enterprise
        out: dict[str, Any] = {"access_token": token, "token_type": "bot"}
        if oauth.rotation:
            refresh = f"xoxe-1-{secrets.token_hex(8)}"
            oauth.refresh_tokens[refresh] = (teams, enterprise)
            out |= {"refresh_token": refresh, "expires_in": oauth.expires_in}
        return out

    def _exchange(self, code: str) -> dict[str, Any]:
        found = self._oauth.codes.pop(code, None)
        if found is None:
            raise SlackError("invalid_code")
        teams, enterprise, scope = found
        ws = self._teams[teams[0]]
        installer = next(
            (u.id for u in ws.users.values() if not u.is_bot and not u.deleted), "U0INSTALLER"
        )
        org = ws.enterprise_id
        return {
            "ok": True,
            **self._issue(teams, enterprise),
            "scope": scope,
            "bot_user_id": ws.bot_user_id,
            "app_id": ws.app_id,
            "team": None if enterprise else {"id": ws.team_id, "name": ws.team_name},
            "enterprise": {"id": org, "name": org} if org else None,
            "authed_user": {"id": installer},
            "is_enterprise_install": bool(enterprise),
        }

    def _refresh(self, refresh_token: str) -> dict[str, Any]:
        found = self._oauth.refresh_tokens.get(refresh_token)
        if found is None:
            raise SlackError("invalid_refresh_token")
        teams, enterprise = found
        ws = self._teams[teams[0]]
        return {
            "ok": True,
            **self._issue(teams, enterprise),
            "team": None if enterprise else {"id": ws.team_id, "name": ws.team_name},
            "enterprise": {"id": ws.enterprise_id} if ws.enterprise_id else None,
            "is_enterprise_install": bool(enterprise),
        }

    # -- building state -----------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        email: str | None = None,
        tz: str = "America/Los_Angeles",
        deleted: bool = False,
        can_be_messaged: bool = True,
        is_admin: bool = False,
        real_name: str | None = None,
        *,
        user_id: str | None = None,
        is_bot: bool = False,
    ) -> str:
        """Add a member; answer its id (``U...``)."""
        with self._lock:
            uid = user_id or make_id("U")
            if uid in self._ws.users:
                raise ValueError(f"user {uid} exists")
            self._ws.users[uid] = User(
                id=uid,
                team_id=self._ws.team_id,
                name=name,
                real_name=real_name if real_name is not None else name.replace(".", " ").title(),
                email=email if email is not None else f"{name}@{self._ws.domain}.example.com",
                tz=tz,
                deleted=deleted,
                is_bot=is_bot,
                is_admin=is_admin,
                can_be_messaged=can_be_messaged,
                bot_id=make_id("B") if is_bot else None,
            )
            return uid

    def delete_user(self, user_id: str) -> None:
        """Deactivate a member (``deleted: true``)."""
        with self._lock:
            self._user(user_id).deleted = True

    def reactivate_user(self, user_id: str) -> None:
        """Reactivate a deactivated member."""
        with self._lock:
            self._user(user_id).deleted = False

    def set_can_be_messaged(self, user_id: str, value: bool) -> None:
        """Allow or forbid the bot to open a DM with the member."""
        with self._lock:
            self._user(user_id).can_be_messaged = value

    def set_tz(self, user_id: str, tz: str) -> None:
        """Change a member's time zone."""
        with self._lock:
            self._user(user_id).tz = tz

    def add_channel(
        self,
        name: str,
        members: Iterable[str] = (),
        *,
        is_private: bool = False,
        bot_is_member: bool = True,
        is_archived: bool = False,
    ) -> str:
        """Add a channel; answer its id (``C...``)."""
        with self._lock:
            member_list = list(dict.fromkeys(members))
            if bot_is_member and self._ws.bot_user_id not in member_list:
                member_list.append(self._ws.bot_user_id)
            conv = Conversation(
                id=make_id("C"),
                kind="private" if is_private else "channel",
                name=name,
                members=member_list,
                bot_is_member=bot_is_member,
                is_archived=is_archived,
            )
            self._ws.conversations[conv.id] = conv
            return conv.id

    def post_user_message(self, channel: str, user_id: str, text: str) -> str:
        """Record a message a member wrote (not the bot); answer its ts."""
        with self._changed:
            conv = self._conv(channel)
            msg = Message(
                channel=conv.id,
                ts=self._ws.next_ts(self._clock()),
                text=text,
                user=user_id,
                bot_id=None,
            )
            conv.messages.append(msg)
            self._changed.notify_all()
            return msg.ts

    def ensure_dm(self, user_id: str) -> str:
        """The id of the bot's DM with ``user_id``, opened if needed (no API call recorded)."""
        with self._lock:
            self._user(user_id)
            conv, _ = self._ws.open_im(user_id)
            return conv.id

    def new_trigger_id(self, user_id: str) -> str:
        """Mint a trigger id for an interaction by ``user_id`` (format ``123.456.abcdef``)."""
        with self._lock:
            now = self._clock()
            tid = f"{int(now * 1000) % 10**10}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
            self._ws.triggers[tid] = Trigger(id=tid, user_id=user_id, created_at=now)
            return tid

    def new_response_url(self, user_id: str, channel_id: str) -> str:
        """A ``response_url`` this emulator serves; posts to it are recorded as calls."""
        with self._lock:
            rid = secrets.token_hex(12)
            self._response_urls[rid] = _ResponseUrl(rid, user_id, channel_id, ws=self._ws)
            return f"{self.base_url}response/{rid}"

    # -- reading state ------------------------------------------------------------------------

    def user(self, user_id: str) -> dict[str, Any]:
        """The member as ``users.info`` would answer it."""
        with self._lock:
            return self._user(user_id).to_api(self._clock())

    def user_ids(self) -> list[str]:
        """Ids of all members (bot included)."""
        with self._lock:
            return list(self._ws.users)

    def dm_channel(self, user_id: str) -> str | None:
        """The id of the bot's DM with ``user_id``, if opened."""
        with self._lock:
            conv = self._ws.im_with(user_id)
            return conv.id if conv else None

    def group_dm(self, user_ids: Iterable[str]) -> str | None:
        """The id of the bot's group DM with exactly ``user_ids``, if opened."""
        with self._lock:
            wanted = {u for u in user_ids if u != self._ws.bot_user_id}
            conv = self._ws.mpim_with(wanted)
            return conv.id if conv else None

    def conversation(self, channel_id: str) -> dict[str, Any]:
        """The conversation as ``conversations.info`` would answer it, plus ``members``."""
        with self._lock:
            conv = self._conv(channel_id)
            return {**conv.to_api(self._ws.bot_user_id), "members": list(conv.members)}

    def file(self, file_id: str) -> dict[str, Any] | None:
        """An uploaded file: filename, length, alt_txt, content (bytes), shared, title."""
        with self._lock:
            entry = self._ws.files.get(file_id)
            return dict(entry) if entry is not None else None

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages in a conversation, oldest first, as they stand now (after updates)."""
        with self._lock:
            conv = self._conv(channel_id)
            return [copy.deepcopy(m.to_api(self.team_id, self.app_id)) for m in conv.messages]

    def messages_to(self, user_or_channel: str) -> list[dict[str, Any]]:
        """Messages in a channel, or in the bot's DM with a user (empty when none)."""
        with self._lock:
            if user_or_channel in self._ws.conversations:
                return self.messages(user_or_channel)
            conv = self._ws.im_with(user_or_channel)
            return self.messages(conv.id) if conv else []

    def ephemerals_to(self, user_id: str, channel_id: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages shown to ``user_id`` (in ``channel_id`` only, when given)."""
        with self._lock:
            out: list[dict[str, Any]] = []
            for conv in self._ws.conversations.values():
                if channel_id is not None and conv.id != channel_id:
                    continue
                for e in conv.ephemerals:
                    if e.user == user_id:
                        out.append(
                            {
                                "channel": e.channel,
                                "user": e.user,
                                "message_ts": e.message_ts,
                                "text": e.text,
                                "blocks": copy.deepcopy(e.blocks),
                                "attachments": copy.deepcopy(e.attachments),
                                "thread_ts": e.thread_ts,
                            }
                        )
            return out

    def responses_to(self, response_url: str) -> list[dict[str, Any]]:
        """Bodies posted to a ``response_url`` minted by :meth:`new_response_url`."""
        with self._lock:
            rid = response_url.rstrip("/").rsplit("/", 1)[-1]
            entry = self._response_urls.get(rid)
            return copy.deepcopy(entry.posts) if entry else []

    def view(self, view_id: str) -> dict[str, Any] | None:
        """The view (modal or home) as Slack answers it, with ``state`` empty; None if unknown."""
        with self._lock:
            v = self._ws.views.get(view_id)
            return copy.deepcopy(v.to_api()) if v else None

    def view_user(self, view_id: str) -> str | None:
        """The member who sees the view."""
        with self._lock:
            v = self._ws.views.get(view_id)
            return v.user_id if v else None

    def view_is_open(self, view_id: str) -> bool:
        """Whether the modal is on its user's stack (home views: whether published)."""
        with self._lock:
            v = self._ws.views.get(view_id)
            return v is not None and not v.closed

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The App Home view published for ``user_id``, if any."""
        with self._lock:
            vid = self._ws.home_views.get(user_id)
            return self.view(vid) if vid else None

    def modal_stack(self, user_id: str) -> list[dict[str, Any]]:
        """The modals open for ``user_id``, root first."""
        with self._lock:
            return [
                copy.deepcopy(self._ws.views[vid].to_api())
                for vid in self._ws.modal_stacks.get(user_id, [])
            ]

    def top_modal(self, user_id: str) -> dict[str, Any] | None:
        """The modal ``user_id`` currently sees, if any."""
        stack = self.modal_stack(user_id)
        return stack[-1] if stack else None

    # -- view lifecycle (used by the driver after view_submission / view_closed) --------------

    def close_view(self, view_id: str, *, clear: bool = False) -> None:
        """Close the modal ``view_id`` (and those above it); ``clear`` closes the whole stack."""
        with self._changed:
            v = self._ws.views.get(view_id)
            if v is None:
                return
            stack = self._ws.modal_stacks.get(v.user_id, [])
            if clear:
                cut = 0
            elif view_id in stack:
                cut = stack.index(view_id)
            else:
                cut = len(stack)
            for vid in stack[cut:]:
                self._ws.views[vid].closed = True
            del stack[cut:]
            v.closed = True
            self._changed.notify_all()

    def replace_view(self, view_id: str, payload: dict[str, Any]) -> None:
        """Replace a modal's content (``response_action: update``) after validating it."""
        errors = validate_view(payload)
        if errors:
            raise ValueError(f"invalid view in response_action update: {errors}")
        with self._changed:
            v = self._ws.views[view_id]
            v.payload = assign_ids(copy.deepcopy(payload))
            v.hash = self._ws.new_hash(self._clock())
            self._changed.notify_all()

    def push_view(self, user_id: str, payload: dict[str, Any]) -> str:
        """Push a modal (``response_action: push``); answer the new view id."""
        errors = validate_view(payload)
        if errors:
            raise ValueError(f"invalid view in response_action push: {errors}")
        trigger = self.new_trigger_id(user_id)
        with self._changed:
            args = {"trigger_id": trigger, "view": copy.deepcopy(payload)}
            body = METHODS["views.push"].handler(self._ctx(), args)
            self._changed.notify_all()
            return str(body["view"]["id"])

    # -- calls --------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every call answered so far, oldest first (a copy)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """Calls of one method."""
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def clear_calls(self) -> None:
        """Forget recorded calls."""
        with self._lock:
            self._calls.clear()

    def wait_for_call(
        self,
        method: str,
        *,
        predicate: Callable[[Call], bool] | None = None,
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[Call]:
        """Block until ``count`` calls of ``method`` (matching ``predicate``) were answered."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [
                    c
                    for c in self._calls
                    if c.method == method and (predicate is None or predicate(c))
                ]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{count} call(s) to {method} not seen within {timeout}s")
                self._changed.wait(left)

    # -- faults -------------------------------------------------------------------------------

    def set_rate_limit(self, method: str, per_minute: int | None) -> None:
        """Sliding-window limit: more than ``per_minute`` calls in 60 s get HTTP 429."""
        with self._lock:
            self._faults.set_rate_limit(method, per_minute)

    def fail_with_429(
        self,
        method: str | None = None,
        ratio: float = 0.3,
        retry_after: int = 1,
        seed: int | None = None,
    ) -> None:
        """Answer a random share of calls (of ``method``, or of all) with 429 + Retry-After."""
        with self._lock:
            self._faults.fail_with_429(method, ratio, retry_after, seed)

    def inject_error(
        self,
        method: str | None = None,
        error: str = "fatal_error",
        *,
        status: int = 500,
        times: int | None = 1,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``times`` calls (None: every call) with ``{"ok": false, error}``."""
        with self._lock:
            self._faults.inject(method, error, status, times, retry_after)

    def set_latency(self, method: str, seconds: float) -> None:
        """Answer ``method`` only after ``seconds`` (a slow Slack; other calls go on meanwhile)."""
        with self._lock:
            if seconds > 0:
                self._latency[method] = seconds
            else:
                self._latency.pop(method, None)

    def clear_faults(self) -> None:
        """Remove rate limits and injected failures."""
        with self._lock:
            self._faults.clear()

    # -- HTTP ---------------------------------------------------------------------------------

    def handle_http(
        self, verb: str, path: str, query: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Answer one HTTP request: (status, extra headers, JSON body)."""
        lower = {k.lower(): v for k, v in headers.items()}
        if path == "/oauth/v2/authorize" and verb == "GET":
            return self._authorize(query)
        if path.startswith("/response/") and verb == "POST":
            return self._handle_response_url(path.removeprefix("/response/"), raw)
        if path.startswith("/upload/") and verb == "POST":
            with self._changed:
                status, text = receive_upload(self._ws, path.removeprefix("/upload/"), raw)
                self._changed.notify_all()
            return status, {}, {"ok": status == 200, "detail": text}
        if not path.startswith("/api/"):
            return 404, {}, {"ok": False, "error": "unknown_method"}
        method = path.removeprefix("/api/").strip("/")
        args: dict[str, Any] = {
            k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()
        }
        ctype = lower.get("content-type", "").split(";")[0].strip().lower()
        body_error: str | None = None
        if raw:
            if ctype == "application/json":
                try:
                    decoded = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    body_error = "invalid_json"
                else:
                    if isinstance(decoded, dict):
                        args.update(decoded)
                    else:
                        body_error = "invalid_json"
            elif ctype in ("application/x-www-form-urlencoded", ""):
                try:
                    form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
                except UnicodeDecodeError:
                    body_error = "invalid_charset"
                else:
                    args.update({k: v[-1] for k, v in form.items()})
            else:
                body_error = "invalid_form_data"
        delay = self._latency.get(method)
        if delay:
            time.sleep(delay)
        if method == "oauth.v2.access" and body_error is None:
            return self._oauth_access(args, lower)
        token = args.pop("token", None)
        auth = lower.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        return self._answer(method, args, token, body_error)

    def _answer(
        self, method: str, args: dict[str, Any], token: str | None, body_error: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._changed:
            now = self._clock()
            status = 200
            headers: dict[str, str] = {}
            try:
                spec = METHODS.get(method)
                if spec is None:
                    raise SlackError("unknown_method", status=404, extra={"req_method": method})
                self._faults.before_auth(method)
                if body_error is not None:
                    raise SlackError(body_error)
                if not token:
                    raise SlackError("not_authed")
                if token in self._revoked:
                    raise SlackError("token_revoked")
                if token in self._expired:
                    raise SlackError("token_expired")
                if token not in self._tokens:
                    raise SlackError("invalid_auth")
                self._faults.after_auth(method, now)
                decode_json_fields(args, method)
                check_required(spec, args)
                ctx = self._ctx(now, self._ws_for(token, args))
                body: dict[str, Any] = {"ok": True, **spec.handler(ctx, args)}
                if method == "auth.test":
                    body |= self._auth_extra(token, ctx.ws)
                body = copy.deepcopy(body)
            except SlackError as exc:
                status = exc.status
                headers = dict(exc.headers)
                body = exc.body()
            self._calls.append(
                Call(
                    method=method,
                    args=copy.deepcopy(args),
                    status=status,
                    response=copy.deepcopy(body),
                    at=now,
                    token=token,
                )
            )
            self._changed.notify_all()
            return status, headers, body

    def _handle_response_url(
        self, rid: str, raw: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._changed:
            now = self._clock()
            entry = self._response_urls.get(rid.strip("/"))
            try:
                payload = json.loads(raw.decode("utf-8")) if raw else {}
            except (UnicodeDecodeError, json.JSONDecodeError):
                payload = None
            if entry is None:
                status, body = 404, {"ok": False, "error": "expired_url"}
            elif not isinstance(payload, dict):
                status, body = 400, {"ok": False, "error": "invalid_payload"}
            elif entry.uses >= 5:
                # Slack allows five responses within 30 minutes.
                status, body = 404, {"ok": False, "error": "used_url"}
            else:
                entry.uses += 1
                entry.posts.append(payload)
                status, body = 200, {"ok": True}
                self._apply_response(entry, payload)
            self._calls.append(
                Call(
                    method="response_url",
                    args=copy.deepcopy(payload) if isinstance(payload, dict) else {},
                    status=status,
                    response=body,
                    at=now,
                )
            )
            self._changed.notify_all()
            return status, {}, body

    def _apply_response(self, entry: _ResponseUrl, payload: dict[str, Any]) -> None:
        ws = entry.ws or self._ws
        conv = ws.conversations.get(entry.channel_id)
        if conv is None:
            return
        now = self._clock()
        text = str(payload.get("text") or "")
        blocks = payload.get("blocks")
        if payload.get("response_type") == "in_channel":
            conv.messages.append(
                Message(
                    channel=conv.id,
                    ts=ws.next_ts(now),
                    text=text,
                    user=ws.bot_user_id,
                    bot_id=ws.bot_id,
                    blocks=blocks if isinstance(blocks, list) else None,
                )
            )
        else:
            conv.ephemerals.append(
                Ephemeral(
                    channel=conv.id,
                    user=entry.user_id,
                    message_ts=ws.next_ts(now),
                    text=text,
                    blocks=blocks if isinstance(blocks, list) else None,
                )
            )

    # -- internals ----------------------------------------------------------------------------

    def _ws_for(self, token: str, args: dict[str, Any]) -> Workspace:
        """The workspace a call is made in: the token's, or for an organisation's token the
        workspace of the user or conversation it names."""
        teams = self._token_teams.get(token) or [self._ws.team_id]
        if len(teams) > 1:
            named: set[str] = set()
            for k in ("user", "user_id", "channel", "users", "trigger_id", "view_id"):
                if args.get(k):
                    named |= set(str(args[k]).split(","))
            for t in teams:
                ws = self._teams[t]
                spaces = (ws.users, ws.conversations, ws.triggers, ws.views)
                if any(n in space for n in named for space in spaces):
                    return ws
        return self._teams[teams[0]]

    def _auth_extra(self, token: str, ws: Workspace) -> dict[str, Any]:
        org = self._oauth.org_tokens.get(token)
        return {"enterprise_id": ws.enterprise_id, "is_enterprise_install": bool(org)}

    def _ctx(self, now: float | None = None, ws: Workspace | None = None) -> Context:
        return Context(
            ws=ws or self._ws,
            now=self._clock() if now is None else now,
            trigger_ttl=self.trigger_ttl,
            deleted_users_not_found=self.deleted_users_not_found,
            base_url=self.base_url,
        )

    def _user(self, user_id: str) -> User:
        user = self._ws.users.get(user_id)
        if user is None:
            raise KeyError(f"no user {user_id}")
        return user

    def _conv(self, channel_id: str) -> Conversation:
        conv = self._ws.conversations.get(channel_id)
        if conv is None:
            raise KeyError(f"no conversation {channel_id}")
        return conv
