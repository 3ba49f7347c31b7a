"""Block Kit for helper profiles and App Home. Pure builders."""

from __future__ import annotations

from typing import Any

from peerbot.domain.limits import MAX_EXPERTISE
from peerbot.domain.profiles import MAX_CAPACITY
from peerbot.domain.topics import TOPICS, topic_label
from peerbot.services.helpers import HomeData, ProfileView
from peerbot.slack import ids
from peerbot.slack.blocks import _input, _plain
from peerbot.slack.limits import MAX_OPTION_TEXT, MAX_OPTION_VALUE
from peerbot.slack.privacy_blocks import privacy_blocks
from peerbot.slack.text import truncate, truncate_escaped

_STATUS = {"matching": "finding a peer", "offered": "asked a peer, waiting", "open": "received"}

#: App Home lists at most this many open asks and this many pairs (then "and N more"), so that
#: the home's own blocks, around both lists, always fit Slack's 100 (``MAX_VIEW_BLOCKS``).
HOME_LIST_MAX = 40


def _option(value: str, label: str) -> dict[str, Any]:
    return {
        "text": _plain(truncate(label, MAX_OPTION_TEXT)),
        "value": value[:MAX_OPTION_VALUE],
    }


def build_profile_modal(p: ProfileView | None) -> dict[str, Any]:
    """The helper profile: opt in, expertise, topics, years, function, capacity, pause, never."""
    builtin = {k for k, _ in TOPICS}
    chosen = [t for t in (p.topics if p else []) if t in builtin]
    others = [t for t in (p.topics if p else []) if t not in builtin]
    opt_in_option = _option("yes", "I'm happy to be asked to help peers")
    topic_options = [_option(k, label) for k, label in TOPICS]
    capacity_options = [_option(str(n), str(n)) for n in range(0, MAX_CAPACITY + 1)]
    topics_el: dict[str, Any] = {
        "type": "multi_static_select",
        "action_id": ids.PROFILE_TOPICS[1],
        "options": topic_options,
        "placeholder": _plain("Pick topics"),
    }
    if chosen:
        topics_el["initial_options"] = [o for o in topic_options if o["value"] in chosen]
    opt_el: dict[str, Any] = {
        "type": "checkboxes",
        "action_id": ids.PROFILE_OPT_IN[1],
        "options": [opt_in_option],
    }
    if p is None or p.opted_in:
        opt_el["initial_options"] = [opt_in_option]
    capacity = str(p.capacity if p else 2)
    pause_el: dict[str, Any] = {"type": "datepicker", "action_id": ids.PROFILE_PAUSE[1]}
    if p and p.paused_until:
        pause_el["initial_date"] = p.paused_until.date().isoformat()
    never_el: dict[str, Any] = {"type": "multi_users_select", "action_id": ids.PROFILE_NEVER[1]}
    if p and p.never_match:
        never_el["initial_users"] = p.never_match
    years = _input(
        *ids.PROFILE_YEARS,
        "Years managing people",
        multiline=False,
        optional=True,
        initial=str(p.years_managing) if p and p.years_managing is not None else "",
        max_length=3,
    )
    return {
        "type": "modal",
        "callback_id": ids.PROFILE_CALLBACK,
        "title": _plain("Your helper profile"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": ids.PROFILE_OPT_IN[0],
                "optional": True,
                "label": _plain("Help other managers"),
                "element": opt_el,
            },
            _input(
                *ids.PROFILE_EXPERTISE,
                "Situations you have handled as a manager",
                multiline=True,
                optional=True,
                initial=p.expertise if p else "",
                placeholder="e.g. turned around a struggling team after a re-org; coached two "
                "first-time managers; handled a PIP that ended well",
                max_length=MAX_EXPERTISE,
            ),
            {
                "type": "input",
                "block_id": ids.PROFILE_TOPICS[0],
                "optional": True,
                "label": _plain("Topics you can help with"),
                "element": topics_el,
            },
            _input(
                *ids.PROFILE_OTHER_TOPICS,
                "Other topics (comma separated)",
                multiline=False,
                optional=True,
                initial=", ".join(others),
                max_length=300,
            ),
            years,
            _input(
                *ids.PROFILE_FUNCTION,
                "Your function or department",
                multiline=False,
                optional=True,
                initial=p.function if p else "",
                max_length=120,
            ),
            {
                "type": "input",
                "block_id": ids.PROFILE_CAPACITY[0],
                "label": _plain("Most people you will help at once"),
                "element": {
                    "type": "static_select",
                    "action_id": ids.PROFILE_CAPACITY[1],
                    "options": capacity_options,
                    "initial_option": next(o for o in capacity_options if o["value"] == capacity),
                },
            },
            {
                "type": "input",
                "block_id": ids.PROFILE_PAUSE[0],
                "optional": True,
                "label": _plain("Pause until (you resume by yourself)"),
                "element": pause_el,
            },
            {
                "type": "input",
                "block_id": ids.PROFILE_NEVER[0],
                "optional": True,
                "label": _plain("Never match me with"),
                "element": never_el,
                "hint": _plain("Private: nobody is told."),
            },
        ],
    }


def build_home(data: HomeData) -> dict[str, Any]:
    """App Home: ask for help, my open asks, my pairs, and my helper profile."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain("Peer help for managers")},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "Stuck on a hard conversation, a hire or a re-org? Describe it and "
                "we introduce you to an experienced manager who has faced the same thing.",
            },
            "accessory": {
                "type": "button",
                "action_id": ids.HOME_ASK,
                "style": "primary",
                "text": _plain("Ask for help"),
            },
        },
        {"type": "divider"},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Your open requests*"}},
    ]
    if data.open_asks:
        for _ask_id, challenge, status in data.open_asks[:HOME_LIST_MAX]:
            blocks.append(
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": f"• {truncate_escaped(challenge, 200)}\n"
                        f"_{_STATUS.get(status, status)}_",
                    },
                }
            )
        _more(blocks, len(data.open_asks))
    else:
        blocks.append(_context("None right now."))
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Your pairs*"}})
    if data.pairs:
        for _pair_id, other, challenge, helping in data.pairs[:HOME_LIST_MAX]:
            role = f"helping <@{other}>" if helping else f"with <@{other}>"
            blocks.append(
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": f"• {role}: {truncate_escaped(challenge, 200)}",
                    },
                }
            )
        _more(blocks, len(data.pairs))
    else:
        blocks.append(_context("None right now."))
    blocks.append({"type": "divider"})
    blocks.append(
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "*Peer circles*\nA small group of managers working on similar things, "
                "meeting weekly for six weeks: join the next round, see your place, or leave.",
            },
            "accessory": {
                "type": "button",
                "action_id": "circle_join_open",
                "value": "home",
                "text": _plain("Peer circles"),
            },
        }
    )
    blocks.append({"type": "divider"})
    blocks.extend(privacy_blocks(data.retention_days))
    blocks.append({"type": "divider"})
    p = data.profile
    if p is None or not p.opted_in:
        helper_text = (
            "*Help other managers*\nIf you have managed people for a while, sign up to be "
            "asked, at most as often as you choose."
        )
        button = "Become a helper"
    else:
        state = (
            f"paused until {p.paused_until:%d %b}"
            if p.paused_until
            else f"available, helping {p.active_pairs} of {p.capacity}"
        )
        topics = ", ".join(topic_label(t) for t in p.topics) or "no topics yet"
        helper_text = f"*Your helper profile*: {state}\n{truncate_escaped(topics, 500)}"
        button = "Edit profile"
    blocks.append(
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": helper_text},
            "accessory": {
                "type": "button",
                "action_id": ids.HOME_EDIT_PROFILE,
                "text": _plain(button),
            },
        }
    )
    return {"type": "home", "blocks": blocks}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _more(blocks: list[dict[str, Any]], total: int) -> None:
    """Note the items of a list past :data:`HOME_LIST_MAX` that App Home does not show."""
    if total > HOME_LIST_MAX:
        blocks.append(_context(f"…and {total - HOME_LIST_MAX} more."))
