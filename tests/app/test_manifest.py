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
    """Only the scopes peerbot's calls need. History only of the bot's own DMs and group DMs
    (the outbox confirms a post there after a crash); never of channels, never channels:*;
    groups:write only to create a circle's private channel."""
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
        "files:write",
    }
    assert {s for s in scopes if s.endswith(":history")} == {"im:history", "mpim:history"}
    assert not any(s.startswith("channels:") for s in scopes)
    assert {s for s in scopes if s.startswith("groups:")} == {"groups:write"}
