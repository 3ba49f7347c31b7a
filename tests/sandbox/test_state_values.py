"""The driver's ``state.values`` builder, element type by element type (pure, no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from peerbot.sandbox.driver import build_state

OPTS = [
    {"text": {"type": "plain_text", "text": "One"}, "value": "1"},
    {"text": {"type": "plain_text", "text": "Two"}, "value": "2"},
]


def _input(block_id: str, element: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": block_id},
        "element": {"action_id": "a", **element},
    }


BLOCKS = [
    _input("text", {"type": "plain_text_input", "initial_value": "draft"}),
    _input("num", {"type": "number_input", "is_decimal_allowed": False}),
    _input("radio", {"type": "radio_buttons", "options": OPTS}),
    _input("select", {"type": "static_select", "option_groups": [{"options": OPTS}]}),
    _input("multi", {"type": "multi_static_select", "options": OPTS}),
    _input("date", {"type": "datepicker", "initial_date": "2030-01-01"}),
    _input("time", {"type": "timepicker"}),
    _input("user", {"type": "users_select"}),
    _input("users", {"type": "multi_users_select"}),
    _input("conv", {"type": "conversations_select"}),
    {"type": "section", "text": {"type": "mrkdwn", "text": "x"}},
    {
        "type": "actions",
        "block_id": "acts",
        "elements": [
            {"type": "button", "action_id": "b", "text": {"type": "plain_text", "text": "B"}},
            {"type": "static_select", "action_id": "s", "options": OPTS},
        ],
    },
]


def test_every_element_type() -> None:
    values = build_state(
        BLOCKS,
        {
            ("num", "a"): 3,
            ("radio", "a"): "2",
            ("select", "a"): "1",
            ("multi", "a"): ["1", "2"],
            ("time", "a"): "09:30",
            ("user", "a"): "U1",
            ("users", "a"): ["U1", "U2"],
            ("conv", "a"): "C1",
            ("acts", "s"): "2",
        },
    )["values"]
    assert values["text"]["a"] == {"type": "plain_text_input", "value": "draft"}
    assert values["num"]["a"] == {"type": "number_input", "value": "3"}
    assert values["radio"]["a"]["selected_option"]["text"]["text"] == "Two"
    assert values["select"]["a"]["selected_option"]["value"] == "1"
    assert [o["value"] for o in values["multi"]["a"]["selected_options"]] == ["1", "2"]
    assert values["date"]["a"]["selected_date"] == "2030-01-01"
    assert values["time"]["a"]["selected_time"] == "09:30"
    assert values["user"]["a"]["selected_user"] == "U1"
    assert values["users"]["a"]["selected_users"] == ["U1", "U2"]
    assert values["conv"]["a"]["selected_conversation"] == "C1"
    assert values["acts"] == {"s": {"type": "static_select", "selected_option": OPTS[1]}}


def test_untouched_inputs_are_null() -> None:
    values = build_state(BLOCKS, None)["values"]
    assert values["num"]["a"]["value"] is None
    assert values["radio"]["a"]["selected_option"] is None
    assert values["multi"]["a"]["selected_options"] == []
    assert values["users"]["a"]["selected_users"] == []


def test_unknown_keys_and_options_fail_loudly() -> None:
    with pytest.raises(KeyError):
        build_state(BLOCKS, {("text", "missing"): "x"})
    with pytest.raises(ValueError, match="no option"):
        build_state(BLOCKS, {("radio", "a"): "3"})
