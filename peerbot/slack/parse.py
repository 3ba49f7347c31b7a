"""Reading Slack payloads into domain inputs. Pure functions over dicts."""

from __future__ import annotations

from datetime import date
from typing import Any

from peerbot.domain.asks import AskInput, clean_text
from peerbot.domain.profiles import ProfileInput
from peerbot.domain.topics import TOPIC_LABELS
from peerbot.slack import ids

#: Intake field → block id, for answering errors at the field.
ASK_FIELD_BLOCKS = {
    "challenge": ids.CHALLENGE[0],
    "desired_result": ids.DESIRED_RESULT[0],
    "obstacles": ids.OBSTACLES[0],
    "urgency": ids.URGENCY[0],
}


def state_value(view: dict[str, Any], block_action: tuple[str, str]) -> Any:
    """The submitted value of one input element, whatever its type (None when absent)."""
    block_id, action_id = block_action
    element = ((view.get("state") or {}).get("values") or {}).get(block_id, {}).get(action_id)
    if not element:
        return None
    kind = element.get("type")
    if kind in ("static_select", "radio_buttons", "external_select"):
        opt = element.get("selected_option")
        return opt.get("value") if opt else None
    if kind in ("checkboxes", "multi_static_select"):
        return [o.get("value") for o in element.get("selected_options") or []]
    if kind == "datepicker":
        return element.get("selected_date")
    if kind == "users_select":
        return element.get("selected_user")
    if kind == "multi_users_select":
        return list(element.get("selected_users") or [])
    return element.get("value")


def parse_intake(view: dict[str, Any]) -> AskInput:
    """The ask as typed into the intake modal, cleaned."""
    anonymity = state_value(view, ids.ANONYMITY) or []
    return AskInput(
        challenge=clean_text(state_value(view, ids.CHALLENGE)),
        desired_result=clean_text(state_value(view, ids.DESIRED_RESULT)),
        obstacles=clean_text(state_value(view, ids.OBSTACLES)),
        urgency=state_value(view, ids.URGENCY) or "normal",
        anonymous="anonymous" in anonymity,
        excluded=tuple(str(u) for u in (state_value(view, ids.EXCLUDED) or [])),
        manager=state_value(view, ids.MANAGER) or None,
        # Built-in topics only: any other value (a forged payload) is dropped.
        topics=tuple(t for t in state_value(view, ids.ASK_TOPICS) or [] if t in TOPIC_LABELS),
    )


#: Profile field → block id, for answering errors at the field.
PROFILE_FIELD_BLOCKS = {
    "expertise": ids.PROFILE_EXPERTISE[0],
    "years_managing": ids.PROFILE_YEARS[0],
    "capacity": ids.PROFILE_CAPACITY[0],
    "paused_until": ids.PROFILE_PAUSE[0],
    "topics": ids.PROFILE_TOPICS[0],
}


def parse_profile(view: dict[str, Any]) -> tuple[ProfileInput, dict[str, str]]:
    """The profile modal's values, and field errors for values that do not parse."""
    errors: dict[str, str] = {}
    years_raw = clean_text(state_value(view, ids.PROFILE_YEARS))
    years: int | None = None
    if years_raw:
        try:
            years = int(years_raw)
        except ValueError:
            errors["years_managing"] = "Please enter a whole number of years, e.g. 4."
    pause_raw = state_value(view, ids.PROFILE_PAUSE)
    topics = list(state_value(view, ids.PROFILE_TOPICS) or [])
    other = clean_text(state_value(view, ids.PROFILE_OTHER_TOPICS))
    topics += [t for t in (x.strip() for x in other.split(",")) if t]
    return (
        ProfileInput(
            opted_in="yes" in (state_value(view, ids.PROFILE_OPT_IN) or []),
            expertise=clean_text(state_value(view, ids.PROFILE_EXPERTISE)),
            topics=tuple(topics),
            years_managing=years,
            function=clean_text(state_value(view, ids.PROFILE_FUNCTION)),
            capacity=int(state_value(view, ids.PROFILE_CAPACITY) or 2),
            paused_until=date.fromisoformat(pause_raw) if pause_raw else None,
            never_match=tuple(state_value(view, ids.PROFILE_NEVER) or []),
        ),
        errors,
    )
