"""manifest.yml is valid for Slack and agrees with the code's listeners, both ways."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from peerbot.slack.listeners import COMMANDS, EVENTS
from tests.fixtures.shared import shared_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_manifest_validates_against_slacks_schema(manifest: dict[str, Any]) -> None:
    schema = json.loads(shared_path("slack", "manifest.schema.1.0.0.json").read_text())
    jsonschema.validate(manifest, schema)


def test_schema_rejects_a_broken_manifest(manifest: dict[str, Any]) -> None:
    """The validation above can fail: a command without a leading slash is refused."""
    schema = json.loads(shared_path("slack", "manifest.schema.1.0.0.json").read_text())
    broken = json.loads(json.dumps(manifest))
    broken["features"]["slash_commands"][0]["command"] = "peerhelp"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_every_manifest_command_has_a_listener_and_back(manifest: dict[str, Any]) -> None:
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert declared == set(COMMANDS)


def test_every_manifest_event_has_a_listener_and_back(manifest: dict[str, Any]) -> None:
    declared = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert declared == set(EVENTS)


def test_events_exist_in_slacks_reference(manifest: dict[str, Any]) -> None:
    events_dir = shared_path("slack", "api-ref", "events")
    for name in manifest["settings"]["event_subscriptions"]["bot_events"]:
        assert (events_dir / f"{name}.json").is_file(), f"{name} is not a Slack event"


def test_socket_mode_home_and_interactivity_on(manifest: dict[str, Any]) -> None:
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"]
    assert home["messages_tab_enabled"]


def test_bot_scopes_are_least_privilege(manifest: dict[str, Any]) -> None:
    """Only the scopes peerbot's calls need. History only of the bot's own DMs, group DMs and
    circle channels (the outbox confirms a post there after a crash); never of public
    channels, never channels:*; groups:* only for a circle's private channel."""
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes == {
        "commands",
        "chat:write",
        "im:write",
        "mpim:write",
        "users:read",
        "users:read.email",
        "im:history",
        "mpim:history",
        "groups:write",  # only peer circles of 9-10 (their private channel)
        "groups:history",  # and the after-crash check of a post there
        "files:write",
    }
    history = {"im:history", "mpim:history", "groups:history"}
    assert {s for s in scopes if s.endswith(":history")} == history
    assert not any(s.startswith("channels:") for s in scopes)
    assert {s for s in scopes if s.startswith("groups:")} == {"groups:write", "groups:history"}


def test_the_after_crash_check_can_read_every_conversation_peerbot_posts_in(
    manifest: dict[str, Any],
) -> None:
    """The outbox reads ``conversations.history`` to confirm a post whose outcome is unknown
    (``delivery.py``, ``_find_posted``) in each kind of conversation it posts in: a DM, a
    group DM, and a peer circle's private channel (circles of 9-10, ``ToChannel``). Each kind
    needs its own history scope; without it the read fails with ``missing_scope`` and the
    message is posted a second time."""
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    readable = {"DM": "im:history", "group DM": "mpim:history", "private channel": "groups:history"}
    for kind, scope in readable.items():
        assert scope in METHOD_SCOPES["conversations.history"]
        assert scope in scopes, f"conversations.history in a {kind} needs {scope}"


#: Bot-token scopes each Web API method accepts (any one of them, by conversation type), from
#: Slack's method reference pages (shared/slack/api-ref carries arguments and errors, not
#: scopes). A method peerbot starts calling must be added here, which makes its scope a choice.
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "auth.test": frozenset(),
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.delete": frozenset({"chat:write"}),
    "conversations.open": frozenset({"channels:manage", "groups:write", "im:write", "mpim:write"}),
    "conversations.create": frozenset({"channels:manage", "groups:write"}),
    "conversations.invite": frozenset(
        {"channels:manage", "groups:write", "im:write", "mpim:write"}
    ),
    "conversations.kick": frozenset({"channels:manage", "groups:write", "im:write", "mpim:write"}),
    "conversations.history": frozenset(
        {"channels:history", "groups:history", "im:history", "mpim:history"}
    ),
    "conversations.info": frozenset({"channels:read", "groups:read", "im:read", "mpim:read"}),
    "files.getUploadURLExternal": frozenset({"files:write"}),
    "files.completeUploadExternal": frozenset({"files:write"}),
    "team.info": frozenset({"team:read"}),
    "users.info": frozenset({"users:read"}),
    "users.list": frozenset({"users:read"}),
    "users.lookupByEmail": frozenset({"users:read.email"}),
    "views.open": frozenset(),
    "views.push": frozenset(),
    "views.update": frozenset(),
    "views.publish": frozenset(),
}

#: Where the app's own code is (the emulator and the demo's transcript only name methods).
_NOT_CALLERS = ("sandbox/", "demo.py")


def _api_ref_methods() -> set[str]:
    methods = shared_path("slack", "api-ref", "methods")
    return {p.stem for p in methods.glob("*/*.json") if not p.parent.name.startswith("_")}


def _web_client_methods(attr: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The Web API methods ``WebClient.<attr>`` calls (``files_upload_v2`` calls two)."""
    import inspect
    import re

    from slack_sdk import WebClient

    fn = getattr(WebClient, attr, None)
    if not callable(fn) or attr in seen or attr.startswith("_"):
        return set()
    src = inspect.getsource(fn)
    out = set(re.findall(r'api_call\(\s*"([^"]+)"', src))
    for inner in re.findall(r"self\.([a-z]\w+)\(", src):
        if inner != "api_call":
            out |= _web_client_methods(inner, seen | {attr})
    return out


def called_methods() -> dict[str, set[str]]:
    """Every Web API method peerbot's code calls -> the files calling it: method names given to
    the gateway (``call``, ``_lookup``) and ``WebClient`` methods called on a client."""
    import ast

    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "peerbot").rglob("*.py")):
        rel = path.relative_to(ROOT / "peerbot").as_posix()
        if rel.startswith(_NOT_CALLERS):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            names: set[str] = set()
            if node.func.attr in {"call", "_lookup", "api_call"}:
                names = {
                    a.value
                    for a in node.args
                    if isinstance(a, ast.Constant) and isinstance(a.value, str) and "." in a.value
                }
            else:
                names = _web_client_methods(node.func.attr)
            for name in names:
                found.setdefault(name, set()).add(f"{rel}:{node.lineno}")
    return found


def test_the_code_calls_only_real_methods_each_covered_by_a_declared_scope(
    manifest: dict[str, Any],
) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    called = called_methods()
    assert {"chat.postMessage", "conversations.open", "views.open"} <= called.keys()
    assert called.keys() <= _api_ref_methods(), "not a Slack Web API method"
    unknown = called.keys() - METHOD_SCOPES.keys()
    assert not unknown, f"add the bot scopes of {unknown} to METHOD_SCOPES (called at {called})"
    for method in sorted(called):
        needed = METHOD_SCOPES[method]
        assert not needed or needed & scopes, (
            f"{method} (called at {sorted(called[method])}) needs one of {sorted(needed)}; "
            "manifest.yml declares none of them"
        )


def test_every_declared_scope_is_used(manifest: dict[str, Any]) -> None:
    """The other direction: no bot scope that no call, event or command needs."""
    events_dir = shared_path("slack", "api-ref", "events")
    used = {s for m in called_methods() for s in METHOD_SCOPES.get(m, ())}
    for name in manifest["settings"]["event_subscriptions"]["bot_events"]:
        used |= set(json.loads((events_dir / f"{name}.json").read_text()).get("scopes") or [])
    if manifest["features"].get("slash_commands"):
        used.add("commands")
    declared = set(manifest["oauth_config"]["scopes"]["bot"])
    assert declared <= used, f"declared and needed by nothing: {declared - used}"


def test_the_scope_check_can_fail(manifest: dict[str, Any]) -> None:
    """Without files:write the digest's chart upload is caught; a scope nothing needs too."""
    called = called_methods()
    assert "files.completeUploadExternal" in called
    without = set(manifest["oauth_config"]["scopes"]["bot"]) - {"files:write"}
    assert not METHOD_SCOPES["files.completeUploadExternal"] & without
    used = {s for m in called for s in METHOD_SCOPES.get(m, ())}
    assert "team:read" not in used and "reactions:write" not in used


def test_no_shortcut_or_options_load_declared_or_handled(manifest: dict[str, Any]) -> None:
    """Interactivity is on for buttons and dialogs; no shortcut or external-select options are
    declared, and no listener waits for one (it would never be called)."""
    import re

    assert "shortcuts" not in manifest["features"]
    assert "message_menu_options_url" not in manifest["settings"]["interactivity"]
    source = "\n".join(p.read_text() for p in (ROOT / "peerbot" / "slack").rglob("*.py"))
    assert not re.search(r"\bapp\.(shortcut|global_shortcut|message_shortcut|options)\(", source)
    assert re.search(r"\bapp\.(action|view)\(", source)


def test_every_read_method_the_gateway_lists_is_called() -> None:
    """``READ_METHODS`` (sent as query parameters) names only methods peerbot calls."""
    from peerbot.slack.gateway import READ_METHODS

    assert set(called_methods()) >= READ_METHODS, READ_METHODS - set(called_methods())
