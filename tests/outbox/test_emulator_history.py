"""The emulator's conversations.history, as the outbox's recovery uses it: ``oldest``/``latest``
ranges, ``include_all_metadata``, cursor pagination, and metadata checked on chat.postMessage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from peerbot.sandbox import SlackEmulator

META = {"event_type": "peerbot_outbox", "event_payload": {"key": "abc"}}


class _Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def timed() -> Iterator[tuple[SlackEmulator, WebClient, _Clock]]:
    clock = _Clock()
    with SlackEmulator(clock=clock) as emu:
        yield emu, WebClient(token=emu.bot_token, base_url=emu.api_url), clock


def test_metadata_only_with_include_all_metadata(
    timed: tuple[SlackEmulator, WebClient, _Clock],
) -> None:
    emu, client, _ = timed
    dm = emu.ensure_dm(emu.add_user("ada"))
    client.chat_postMessage(channel=dm, text="tagged", metadata=META)
    plain = client.conversations_history(channel=dm)["messages"]
    assert "metadata" not in plain[0]
    full = client.conversations_history(channel=dm, include_all_metadata=True)["messages"]
    assert full[0]["metadata"] == META


def test_oldest_latest_and_inclusive(timed: tuple[SlackEmulator, WebClient, _Clock]) -> None:
    emu, client, clock = timed
    dm = emu.ensure_dm(emu.add_user("ada"))
    ts = []
    for i in range(4):
        clock.t += 10
        ts.append(client.chat_postMessage(channel=dm, text=f"m{i}")["ts"])

    def texts(**kw: Any) -> list[str]:
        return [m["text"] for m in client.conversations_history(channel=dm, **kw)["messages"]]

    assert texts() == ["m3", "m2", "m1", "m0"]
    assert texts(oldest=ts[1]) == ["m3", "m2"]
    assert texts(oldest=ts[1], inclusive=True) == ["m3", "m2", "m1"]
    assert texts(oldest=ts[0], latest=ts[3]) == ["m2", "m1"]
    assert texts(oldest=str(clock.t + 1)) == []
    with pytest.raises(SlackApiError) as exc:
        client.conversations_history(channel=dm, oldest="yesterday")
    assert exc.value.response["error"] == "invalid_ts_oldest"


def test_cursor_pagination(timed: tuple[SlackEmulator, WebClient, _Clock]) -> None:
    emu, client, _ = timed
    dm = emu.ensure_dm(emu.add_user("ada"))
    for i in range(7):
        client.chat_postMessage(channel=dm, text=f"m{i}")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = client.conversations_history(channel=dm, limit=3, cursor=cursor)
        pages += 1
        seen += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] == bool(cursor)
        if not cursor:
            break
    assert pages == 3
    assert seen == [f"m{i}" for i in reversed(range(7))]
    with pytest.raises(SlackApiError) as exc:
        client.conversations_history(channel=dm, cursor="not-a-cursor")
    assert exc.value.response["error"] == "invalid_cursor"


def test_malformed_metadata_is_refused(timed: tuple[SlackEmulator, WebClient, _Clock]) -> None:
    emu, client, _ = timed
    dm = emu.ensure_dm(emu.add_user("ada"))
    bad_ones: list[dict[str, Any]] = [
        {"event_payload": {}},
        {"event_type": "x", "event_payload": "y"},
    ]
    for bad in bad_ones:
        with pytest.raises(SlackApiError) as exc:
            client.api_call("chat.postMessage", json={"channel": dm, "text": "t", "metadata": bad})
        assert exc.value.response["error"] == "invalid_metadata_schema"
    assert emu.messages(dm) == []
