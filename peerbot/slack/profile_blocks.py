"""Block Kit for helper profiles and App Home. Pure builders."""

from __future__ import annotations

from typing import Any

from peerbot.domain.limits import MAX_EXPERTISE
from peerbot.domain.profiles import MAX_CAPACITY
from peerbot.domain.schedule import zone
from peerbot.domain.topics import TOPICS, topic_label
from peerbot.domain.wording import counted
from peerbot.services.helpers import HomeData, ProfileView
from peerbot.services.journey import History, LivePair, OpenRequest
from peerbot.slack import codec, copy, ids
from peerbot.slack.blocks import _input, _plain, withdraw_button
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
    if p is None or p.opted_in or p.awaiting_approval:  # awaiting: they said yes
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
                "label": _plain("Pause until (then available again by itself)"),
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


#: App Home's history lists at most this many requests and pairs, and this many offers.
HISTORY_MAX = 20
OFFERS_MAX = 10

_PAIR_STATUS = {"active": "active", "paused": "paused: no answers to the check-ins"}


def _section(text: str, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if accessory:
        block["accessory"] = accessory
    return block


def _home_button(
    text: str, action_id: str, value: str | None = None, style: str | None = None
) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "text": _plain(text)}
    if value is not None:
        button["value"] = value
    if style:
        button["style"] = style
    return button


def _withdraw_button(ask_id: int, *, still_waiting: bool = False) -> dict[str, Any]:
    """App Home's Withdraw for an open request (see :func:`withdraw_button`); one that still
    waits for a newly available helper has nobody asked to tell."""
    done = (
        "We stop waiting for a helper and nobody will be asked."
        if still_waiting
        else "Nobody else will be asked, and a peer who has it waiting is told it was withdrawn."
    )
    return withdraw_button(ask_id, f"{done} You can ask again any time.", label="Withdraw")


def _open_request(r: OpenRequest, tz_name: str | None) -> list[dict[str, Any]]:
    """One of the person's requests: what it says, where it stands, and what they can do
    (Edit request while it is being looked for; Withdraw either way)."""
    if r.waiting_until is not None:
        day = r.waiting_until.astimezone(zone(tz_name))
        status = (
            f"nobody was free; until {day:%a %d %b} we ask a matching helper as soon as one "
            "becomes available"
        )
        elements = [_withdraw_button(r.ask_id, still_waiting=True)]
    else:
        status = _STATUS.get(r.status, r.status)
        elements = [
            _home_button("Edit request", ids.ASK_EDIT, codec.ASK.encode(r.ask_id)),
            _withdraw_button(r.ask_id),
        ]
    return [
        _section(f"• {truncate_escaped(r.challenge, 200)}\n_{status}_"),
        {"type": "actions", "block_id": f"open_ask_{r.ask_id}", "elements": elements},
    ]


def welcome_text(
    max_offers: int = 3,
    at_once: int = 1,
    urgent_at_once: int | None = None,
    *,
    helper_button: str = "Become a helper",
) -> str:
    """The first-contact welcome: what peerbot does, who sees what, how to ask, how to help
    (``helper_button``: the label of the helper button below, as this person sees it)."""
    return (
        "*Welcome!* peerbot finds you an experienced manager who has faced what you are facing, "
        "and introduces you two for a short conversation.\n"
        "• *Ask:* press *Ask for help* (or type `/peerhelp` anywhere) and describe the "
        "situation.\n"
        f"• *Who sees what:* {copy.who_sees(max_offers, at_once, urgent_at_once)} "
        "You can keep your name hidden until one accepts.\n"
        f"• *Help others:* press *{helper_button}* below; you choose how many conversations "
        "at once, and can pause any time.\n"
        "Type `/peerhelp help` for every command."
    )


UNREACHABLE_TEXT = (
    ":warning: *We could not reach you by DM* when we last tried, so for now you are not "
    "offered anyone's request. We check again by ourselves within a day; if your workspace "
    "limits DMs from apps, ask its admins to allow peerbot."
)


def _pair_line(p: LivePair, tz_name: str | None) -> tuple[str, dict[str, Any] | None]:
    """One pair: who with, about what, its status; the asker's Resume check-ins when they are
    off (stopped, snoozed or paused)."""
    role = f"helping <@{p.other}>" if p.helping else f"with <@{p.other}>"
    if p.status == "paused":
        status = _PAIR_STATUS["paused"]
    elif p.checkins_stopped:
        status = "active, check-ins stopped"
    elif p.snoozed_until is not None:
        day = p.snoozed_until.astimezone(zone(tz_name))
        status = f"active, check-ins snoozed until {day:%a %d %b}"
    else:
        status = "active"
    off = p.status == "paused" or p.checkins_stopped or p.snoozed_until is not None
    button = (
        _home_button("Resume check-ins", ids.PAIR_RESUME_CHECKINS, codec.PAIR.encode(p.pair_id))
        if off and not p.helping
        else None
    )
    return f"• {role}: {truncate_escaped(p.challenge, 200)}\n_{status}_", button


def _history_blocks(h: History) -> list[dict[str, Any]]:
    """Open requests (with Edit request and Withdraw), live pairs with status, offers waiting,
    the last closed ones."""
    blocks: list[dict[str, Any]] = [_section("*Your open requests*")]
    for r in h.open_requests[:HISTORY_MAX]:
        blocks.extend(_open_request(r, h.tz))
    if not h.open_requests:
        blocks.append(_context("None right now."))
    blocks.append(_section("*Your pairs*"))
    for p in h.pairs[:HISTORY_MAX]:
        text, button = _pair_line(p, h.tz)
        blocks.append(_section(text, button))
    if not h.pairs:
        blocks.append(_context("None right now."))
    if h.offers:
        blocks.append(_section("*Waiting for your answer* (Accept or Pass in your DM)"))
        for o in h.offers[:OFFERS_MAX]:
            due = (
                f"answer by {o.expires_at.astimezone(zone(h.tz)):%a %d %b, %H:%M}"
                if o.expires_at
                else "waiting"
            )
            blocks.append(_section(f"• {truncate_escaped(o.challenge, 200)}\n_{due}_"))
    if h.closed:
        lines = []
        for c in h.closed:
            role = f"helped <@{c.other}>" if c.helping else f"with <@{c.other}>"
            when = f" ({c.closed_at.astimezone(zone(h.tz)):%d %b})" if c.closed_at else ""
            lines.append(f"• {role}{when}: {truncate_escaped(c.challenge, 80)}")
        blocks.append(_section("*Recently closed*\n" + "\n".join(lines)))
    return blocks


def build_home(
    data: HomeData,
    history: History | None = None,
    *,
    welcome: bool = False,
    max_offers: int = 3,
    at_once: int = 1,
    urgent_at_once: int | None = None,
    circle_weeks: int = 6,
) -> dict[str, Any]:
    """App Home: a welcome the first time, ask for help, the person's history (open requests
    with Withdraw, pairs with their status, offers waiting, the last closed ones), their data
    and their helper profile (with Resume now while paused); peer circles run
    ``circle_weeks`` weeks (the workspace's setting)."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain("Peer help for managers")}]
    helper_text, button = _helper_section(data.profile)
    if welcome:
        blocks.append(
            _section(welcome_text(max_offers, at_once, urgent_at_once, helper_button=button))
        )
    blocks.append(
        _section(
            "Stuck on a hard conversation, a hire or a re-org? Describe it and "
            "we introduce you to an experienced manager who has faced the same thing.",
            _home_button("Ask for help", ids.HOME_ASK, style="primary"),
        )
    )
    if history is not None and history.unreachable:
        blocks.append(_section(UNREACHABLE_TEXT))
    blocks.append({"type": "divider"})
    if history is not None:
        blocks.extend(_history_blocks(history))
    else:
        blocks.extend(_legacy_lists(data))
    blocks.append({"type": "divider"})
    blocks.append(
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "*Peer circles*\nA small group of managers working on similar things, "
                f"meeting weekly for {counted(circle_weeks, 'week')}: join the next round, see "
                "your place, or leave.",
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
    paused = p is not None and p.opted_in and p.paused_until is not None
    blocks.append(_section(helper_text, _home_button(button, ids.HOME_EDIT_PROFILE)))
    if paused:
        blocks.append(
            {
                "type": "actions",
                "block_id": "helper_pause",
                "elements": [_home_button("Resume now", ids.HELPER_RESUME_NOW, "resume")],
            }
        )
    return {"type": "home", "blocks": blocks}


def _helper_section(p: ProfileView | None) -> tuple[str, str]:
    """App Home's helper section for profile ``p``: its text and its button's label."""
    if p is not None and p.awaiting_approval:
        text = (
            "*Your helper profile*: waiting for the people who run the programme to approve "
            "it; you are not asked to help until then."
        )
        return text, "Edit profile"
    if p is None or not p.opted_in:
        text = (
            "*Help other managers*\nIf you have managed people for a while, sign up to be "
            "asked, at most as often as you choose."
        )
        return text, "Become a helper"
    state = (
        f"paused until {p.paused_until:%d %b}, then available again by itself"
        if p.paused_until
        else f"available, helping {p.active_pairs} of {p.capacity}"
    )
    topics = ", ".join(topic_label(t) for t in p.topics) or "no topics yet"
    return f"*Your helper profile*: {state}\n{truncate_escaped(topics, 500)}", "Edit profile"


def _legacy_lists(data: HomeData) -> list[dict[str, Any]]:
    """Open asks and pairs from :class:`HomeData` alone (no history service)."""
    blocks: list[dict[str, Any]] = [_section("*Your open requests*")]
    if data.open_asks:
        for _ask_id, challenge, status in data.open_asks[:HOME_LIST_MAX]:
            blocks.append(
                _section(f"• {truncate_escaped(challenge, 200)}\n_{_STATUS.get(status, status)}_")
            )
        _more(blocks, len(data.open_asks))
    else:
        blocks.append(_context("None right now."))
    blocks.append(_section("*Your pairs*"))
    if data.pairs:
        for _pair_id, other, challenge, helping in data.pairs[:HOME_LIST_MAX]:
            role = f"helping <@{other}>" if helping else f"with <@{other}>"
            blocks.append(_section(f"• {role}: {truncate_escaped(challenge, 200)}"))
        _more(blocks, len(data.pairs))
    else:
        blocks.append(_context("None right now."))
    return blocks


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _more(blocks: list[dict[str, Any]], total: int) -> None:
    """Note the items of a list past :data:`HOME_LIST_MAX` that App Home does not show."""
    if total > HOME_LIST_MAX:
        blocks.append(_context(f"…and {total - HOME_LIST_MAX} more."))
