"""The shape every Slack request must have before Bolt sees it.

Slack always sends a workspace and a user with an interaction, a type with an event, a list of
actions with a click. A signed body without them is malformed (a bug or a hand-made request):
Bolt's own middleware and peerbot's listeners assume the shape, so such a body would end in a
500 and a traceback. :func:`malformed` names what is missing; the web layer answers 400.
"""

from __future__ import annotations

from typing import Any

_INTERACTIONS = frozenset(
    {
        "block_actions",
        "block_suggestion",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
    }
)


def _has_nul(value: Any) -> bool:
    """Whether a NUL character stands anywhere in ``value`` (keys and strings, nested)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _is_str(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _optional(body: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> str | None:
    if key in body and body[key] is not None and not isinstance(body[key], kind):
        return f"{key} has the wrong type"
    return None


def _url(value: Any) -> bool:
    return value in (None, "") or (
        isinstance(value, str) and value.startswith(("https://", "http://"))
    )


def _enterprise(body: dict[str, Any]) -> str | None:
    org = body.get("enterprise")
    if org is not None and not isinstance(org, (str, dict)):
        return "enterprise has the wrong type"
    return None


def _command(body: dict[str, Any]) -> str | None:
    for key in ("command", "user_id", "team_id"):
        if not _is_str(body.get(key)):
            return f"command without {key}"
    if not _url(body.get("response_url")):
        return "response_url is not a URL"
    return None


def _state(view: dict[str, Any]) -> str | None:
    state = view.get("state")
    if state is None:
        return None
    if not isinstance(state, dict):
        return "view.state is not an object"
    values = state.get("values")
    if values is None:
        return None
    if not isinstance(values, dict):
        return "view.state.values is not an object"
    for block in values.values():
        if not isinstance(block, dict) or not all(isinstance(v, dict) for v in block.values()):
            return "view.state.values holds something that is not an element's state"
        for element in block.values():
            if not _element_ok(element):
                return "an element's state has the wrong type"
    return None


def _option_ok(option: Any) -> bool:
    return isinstance(option, dict) and isinstance(option.get("value"), str)


def _element_ok(element: dict[str, Any]) -> bool:
    """Each key Slack fills in an element's state has the type Slack gives it."""
    for key in ("value", "selected_date", "selected_user", "selected_time"):
        if element.get(key) is not None and not isinstance(element[key], str):
            return False
    option = element.get("selected_option")
    if option is not None and not _option_ok(option):
        return False
    options = element.get("selected_options")
    if options is not None and not (
        isinstance(options, list) and all(_option_ok(o) for o in options)
    ):
        return False
    users = element.get("selected_users")
    return users is None or (isinstance(users, list) and all(isinstance(u, str) for u in users))


def _interaction(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    if not isinstance(user, dict) or not _is_str(user.get("id")):
        return "interaction without user.id"
    team = body.get("team")
    if not (isinstance(team, dict) and _is_str(team.get("id"))) and not _is_str(
        user.get("team_id")
    ):
        return "interaction without a team"
    for key, expected in (
        ("container", dict),
        ("channel", dict),
        ("message", dict),
        ("view", dict),
        ("trigger_id", str),
        ("response_urls", list),
    ):
        problem = _optional(body, key, expected)
        if problem:
            return problem
    if not _url(body.get("response_url")):
        return "response_url is not a URL"
    kind = body.get("type")
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "block_actions without actions"
        for action in actions:
            if not isinstance(action, dict) or not _is_str(action.get("action_id")):
                return "an action without action_id"
            if _optional(action, "selected_option", dict):
                return "action.selected_option is not an object"
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict) or not _is_str(view.get("callback_id")):
            return "view without callback_id"
        if _optional(view, "private_metadata", str):
            return "view.private_metadata is not text"
        return _state(view)
    view = body.get("view")
    if isinstance(view, dict):
        return _state(view)
    return None


def _event(body: dict[str, Any]) -> str | None:
    event = body.get("event")
    if not isinstance(event, dict) or not _is_str(event.get("type")):
        return "event_callback without event.type"
    if not _is_str(body.get("team_id")):
        return "event_callback without team_id"
    auths = body.get("authorizations")
    if auths is not None and (
        not isinstance(auths, list) or not all(isinstance(a, dict) for a in auths)
    ):
        return "authorizations is not a list of objects"
    if event["type"] == "app_home_opened" and not _is_str(event.get("user")):
        return "app_home_opened without user"
    if event["type"] == "user_change":
        user = event.get("user")
        if not isinstance(user, dict) or not _is_str(user.get("id")):
            return "user_change without user.id"
        if not _user_ok(user):
            return "user_change with a field of the wrong type"
    return None


def _user_ok(user: dict[str, Any]) -> bool:
    """The fields peerbot reads from a Slack user object have Slack's types."""
    texts = ("name", "real_name", "tz", "display_name", "email")
    if any(user.get(k) is not None and not isinstance(user[k], str) for k in texts):
        return False
    if any(
        user.get(k) is not None and not isinstance(user[k], bool) for k in ("deleted", "is_bot")
    ):
        return False
    profile = user.get("profile")
    if profile is None:
        return True
    return isinstance(profile, dict) and not any(
        profile.get(k) is not None and not isinstance(profile[k], str) for k in texts
    )


def malformed(body: dict[str, Any]) -> str | None:
    """Why a parsed Slack request cannot be one Slack sent, or None when its shape is right.

    Kinds peerbot does not know pass (Bolt answers them 404); url_verification needs its
    challenge.
    """
    if _has_nul(body):
        # Slack never sends a NUL character; PostgreSQL cannot store one in text.
        return "a NUL character in a value"
    problem = _enterprise(body)
    if problem:
        return problem
    kind = body.get("type")
    if kind is None and "command" in body:
        return _command(body)
    if kind == "url_verification":
        return (
            None if isinstance(body.get("challenge"), str) else "url_verification without challenge"
        )
    if kind == "event_callback":
        return _event(body)
    if kind in _INTERACTIONS:
        return _interaction(body)
    return None
