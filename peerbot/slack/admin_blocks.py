"""Block Kit of the programme view in Slack: the admin section of App Home and its modals.

Shown only to programme admins; no question text and no asker names (figures only; breakdowns
of fewer than 5 people say so). Helper names appear in helper management, which is for admins.
"""

from __future__ import annotations

from typing import Any

from peerbot.domain.wording import counted
from peerbot.services.programme import Figures
from peerbot.services.programme_admin import AdminHome
from peerbot.slack.text import escape_mrkdwn, one_line

Block = dict[str, Any]

ADMIN_DASHBOARD = "admin_dashboard_link"
ADMIN_SETTINGS = "admin_settings_open"
ADMIN_SETTINGS_CALLBACK = "admin_settings"
ADMIN_INVITE = "admin_invite_helpers"
ADMIN_INVITE_CALLBACK = "admin_invite"
ADMIN_HELPER = "admin_helper_action"
INVITE_USERS = ("invite_users", "invite_users_select")
SETTING_ACTION = "value"
#: Helpers listed in App Home (the dashboard lists them all).
HELPERS_SHOWN = 15

HELPER_ACTION_LABEL = {
    "approve": "Approve",
    "pause": "Pause",
    "resume": "Resume",
    "remove": "Remove",
}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:75], "emoji": True}


def _md(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{round(v * 100)}%"


def _hours(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.1f} h" if v < 48 else f"{v / 24:.1f} days"


def glance_fields(f: Figures) -> list[str]:
    """This month's figures as short lines."""
    outcomes = ", ".join(f"{k}: {v}" for k, v in f.outcomes.items()) or "none yet"
    return [
        f"*Asks:* {f.asks}",
        f"*Matched:* {_pct(f.match_rate)}",
        f"*Ask to intro (median):* {_hours(f.median_hours_to_intro)}",
        f"*Offers accepted:* {_pct(f.acceptance_rate)}",
        f"*Check-ins answered:* {_pct(f.checkin_completion)}",
        f"*Mean rating:* {'–' if f.mean_rating is None else f'{f.mean_rating:.1f} / 5'}",
        f"*Outcomes:* {outcomes}",
        f"*Unmet asks:* {f.unmet}",
    ]


def _helper_options(state: str) -> list[str]:
    if state == "awaiting approval":
        return ["approve", "remove"]
    if state == "active":
        return ["pause", "remove"]
    if state == "paused":
        return ["resume", "remove"]
    return []


def admin_home_blocks(data: AdminHome) -> list[Block]:
    """The admin section appended to an admin's App Home."""
    blocks: list[Block] = [
        {"type": "divider"},
        {"type": "header", "text": _plain("Programme (admins only)")},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*This month at a glance*"},
            "fields": [{"type": "mrkdwn", "text": t} for t in glance_fields(data.month)],
        },
    ]
    buttons: list[Block] = [
        {"type": "button", "action_id": ADMIN_SETTINGS, "text": _plain("Programme settings")}
    ]
    if data.dashboard:
        buttons.insert(
            0,
            {
                "type": "button",
                "action_id": ADMIN_DASHBOARD,
                "style": "primary",
                "text": _plain("Open the dashboard"),
            },
        )
    blocks.append({"type": "actions", "block_id": "admin_buttons", "elements": buttons})
    blocks.append(_md("*Largest supply gaps*"))
    if not data.gaps:
        blocks.append(_md("_No supply gaps: every topic has helpers and no ask went unmet._"))
    for gap in data.gaps:
        blocks.append(
            {
                "type": "section",
                "block_id": f"gap_{len(blocks)}",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{escape_mrkdwn(one_line(gap.label, 80))}*: "
                    f"{counted(gap.unmet, 'unmet ask')}, {counted(gap.helpers, 'helper')}",
                },
                "accessory": {
                    "type": "button",
                    "action_id": ADMIN_INVITE,
                    "value": gap.topic[:150],
                    "text": _plain("Invite helpers"),
                },
            }
        )
    blocks.append(_md(f"*Helpers* ({len(data.helpers)})"))
    for h in data.helpers[:HELPERS_SHOWN]:
        block: Block = {
            "type": "section",
            "block_id": f"helper_{h.user_id}",
            "text": {
                "type": "mrkdwn",
                "text": f"<@{h.user_id}> · {h.state} · {h.active_pairs} of {h.capacity} "
                "conversations",
            },
        }
        options = _helper_options(h.state)
        if options:
            block["accessory"] = {
                "type": "overflow",
                "action_id": ADMIN_HELPER,
                "options": [
                    {"text": _plain(HELPER_ACTION_LABEL[o]), "value": f"{o}:{h.user_id}"}
                    for o in options
                ],
            }
        blocks.append(block)
    if len(data.helpers) > HELPERS_SHOWN:
        blocks.append(_md(f"_…and {len(data.helpers) - HELPERS_SHOWN} more on the dashboard._"))
    return blocks


def settings_modal(data: AdminHome) -> dict[str, Any]:
    """Programme settings: one input per setting, filled with the current value."""
    blocks: list[Block] = [
        _md(
            "These apply to the whole workspace from the next ask (or pair, check-in, "
            "circle round, retention run, sign-up). "
            "Each change is logged with your name."
        )
    ]
    for key, spec in data.specs.items():
        current = data.settings.get(key)
        element: dict[str, Any]
        if spec.choices:
            options = [{"text": _plain(c), "value": c} for c in spec.choices]
            element = {"type": "static_select", "action_id": SETTING_ACTION, "options": options}
            if current in spec.choices:
                element["initial_option"] = {"text": _plain(str(current)), "value": current}
        else:
            shown = f"{current:g}" if isinstance(current, float) else str(current)
            element = {
                "type": "plain_text_input",
                "action_id": SETTING_ACTION,
                "initial_value": shown,
            }
        block: Block = {
            "type": "input",
            "block_id": f"ps_{key}",
            "label": _plain(spec.label),
            "element": element,
        }
        hint = spec.help or (
            f"{spec.low:g} to {spec.high:g}" if spec.low is not None and spec.high else ""
        )
        if hint:
            block["hint"] = _plain(hint)
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": ADMIN_SETTINGS_CALLBACK,
        "title": _plain("Programme settings"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "blocks": blocks,
    }


def settings_values(view: dict[str, Any]) -> dict[str, str]:
    """The submitted settings, by key."""
    out: dict[str, str] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        if not block_id.startswith("ps_"):
            continue
        v = actions.get(SETTING_ACTION) or {}
        if v.get("type") == "static_select":
            chosen = (v.get("selected_option") or {}).get("value")
        else:
            chosen = v.get("value")
        if chosen is not None:
            out[block_id[3:]] = str(chosen)
    return out


def invite_modal(topic: str, label: str) -> dict[str, Any]:
    """Pick people to invite as helpers on ``topic`` (through the consent flow)."""
    return {
        "type": "modal",
        "callback_id": ADMIN_INVITE_CALLBACK,
        "private_metadata": topic[:150],
        "title": _plain("Invite helpers"),
        "submit": _plain("Send invitations"),
        "close": _plain("Cancel"),
        "blocks": [
            _md(
                f"Who could help fellow managers with *{escape_mrkdwn(one_line(label, 80))}*? "
                "Each person gets a DM saying the people who run the programme suggested them, "
                "with *Yes, I'll help* / *Not now*; nobody is asked to help before saying yes."
            ),
            {
                "type": "input",
                "block_id": INVITE_USERS[0],
                "label": _plain("People to invite"),
                "element": {
                    "type": "multi_users_select",
                    "action_id": INVITE_USERS[1],
                    "max_selected_items": 20,
                },
            },
        ],
    }


def message_modal(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something."""
    return {
        "type": "modal",
        "title": _plain(title[:24]),
        "close": _plain("Close"),
        "blocks": [_md(text)],
    }


def link_modal(url: str) -> dict[str, Any]:
    """The one-time dashboard link."""
    return {
        "type": "modal",
        "title": _plain("Programme dashboard"),
        "close": _plain("Close"),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Your sign-in link works *once*, for *10 minutes*. Don't share it.",
                },
                "accessory": {
                    "type": "button",
                    "action_id": "admin_dashboard_open",
                    "url": url,
                    "style": "primary",
                    "text": _plain("Open the dashboard"),
                },
            }
        ],
    }
