"""The emulator through a real slack_sdk WebClient: Slack's error codes and the happy paths."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.request
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from peerbot.sandbox import SlackEmulator
from peerbot.sandbox.state import tz_offset_seconds


def _error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


def _modal(title: str = "Ask for help", n_blocks: int = 1, **extra: Any) -> dict[str, Any]:
    blocks = [
        {
            "type": "input",
            "block_id": f"b{i}",
            "label": {"type": "plain_text", "text": "Your challenge"},
            "element": {"type": "plain_text_input", "action_id": "a"},
        }
        for i in range(n_blocks)
    ]
    return {
        "type": "modal",
        "callback_id": "ask",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Send"},
        "blocks": blocks,
        **extra,
    }


def _home(text: str = "Welcome") -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


# -- methods and auth -------------------------------------------------------------------------


def test_unknown_method(slack_client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        slack_client.api_call("made.upMethod")
    assert _error(exc) == "unknown_method"
    assert exc.value.response.status_code == 404


def test_auth_test_answers_the_bot_identity(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    resp = slack_client.auth_test()
    assert resp["user_id"] == slack_emulator.bot_user_id
    assert resp["bot_id"] == slack_emulator.bot_id
    assert resp["team_id"] == slack_emulator.team_id


@pytest.mark.parametrize(
    ("token", "error"),
    [(None, "not_authed"), ("xoxb-not-a-real-one", "invalid_auth")],
)
def test_bad_token(slack_emulator: SlackEmulator, token: str | None, error: str) -> None:
    client = WebClient(token=token, base_url=slack_emulator.api_url)
    with pytest.raises(SlackApiError) as exc:
        client.auth_test()
    assert _error(exc) == error


def test_revoked_token(slack_emulator: SlackEmulator, slack_client: WebClient) -> None:
    slack_emulator.revoke_token(slack_emulator.bot_token)
    with pytest.raises(SlackApiError) as exc:
        slack_client.auth_test()
    assert _error(exc) == "token_revoked"


def test_token_as_form_parameter(slack_emulator: SlackEmulator) -> None:
    body = f"token={slack_emulator.bot_token}".encode()
    req = urllib.request.Request(
        slack_emulator.api_url + "auth.test",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.loads(resp.read())["ok"] is True


def test_team_info(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    assert slack_client.team_info()["team"]["id"] == slack_emulator.team_id


# -- users ------------------------------------------------------------------------------------


def test_users_info_computes_tz_offset(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    uid = slack_emulator.add_user("ada", email="ada@example.com", tz="Europe/Paris")
    user = slack_client.users_info(user=uid)["user"]
    assert user["tz"] == "Europe/Paris"
    assert user["tz_offset"] == tz_offset_seconds("Europe/Paris")
    assert user["tz_offset"] in (3600, 7200)
    assert user["profile"]["email"] == "ada@example.com"


def test_users_info_unknown_and_deleted(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    with pytest.raises(SlackApiError) as exc:
        slack_client.users_info(user="U00NOBODY")
    assert _error(exc) == "user_not_found"
    uid = slack_emulator.add_user("gone")
    slack_emulator.delete_user(uid)
    # Slack still describes a deactivated account, flagged deleted.
    assert slack_client.users_info(user=uid)["user"]["deleted"] is True
    slack_emulator.deleted_users_not_found = True
    with pytest.raises(SlackApiError) as exc:
        slack_client.users_info(user=uid)
    assert _error(exc) == "user_not_found"


def test_users_lookup_by_email(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    uid = slack_emulator.add_user("bo", email="Bo@Example.com")
    assert slack_client.users_lookupByEmail(email="bo@example.com")["user"]["id"] == uid
    with pytest.raises(SlackApiError) as exc:
        slack_client.users_lookupByEmail(email="nobody@example.com")
    assert _error(exc) == "users_not_found"
    slack_emulator.delete_user(uid)
    with pytest.raises(SlackApiError) as exc:
        slack_client.users_lookupByEmail(email="bo@example.com")
    assert _error(exc) == "users_not_found"


def test_users_list_paginates(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    made = {slack_emulator.add_user(f"user{i}") for i in range(5)}
    seen: list[str] = []
    pages = 0
    for page in slack_client.users_list(limit=2):
        pages += 1
        assert len(page["members"]) <= 2
        seen.extend(m["id"] for m in page["members"])
    assert pages == 3  # 5 users + the bot
    assert len(seen) == len(set(seen)) == 6
    assert made <= set(seen)
    with pytest.raises(SlackApiError) as exc:
        slack_client.users_list(cursor="bm90LWEtY3Vyc29y")
    assert _error(exc) == "invalid_cursor"


# -- conversations ----------------------------------------------------------------------------


def test_dm_open_is_stable(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    uid = slack_emulator.add_user("ada")
    first = slack_client.conversations_open(users=uid)
    assert first["channel"]["id"].startswith("D")
    assert "already_open" not in first.data
    again = slack_client.conversations_open(users=[uid], return_im=True)
    assert again["channel"]["id"] == first["channel"]["id"]
    assert again["already_open"] is True
    assert again["channel"]["is_im"] is True
    assert again["channel"]["user"] == uid
    by_channel = slack_client.conversations_open(channel=first["channel"]["id"])
    assert by_channel["channel"]["id"] == first["channel"]["id"]
    assert slack_emulator.dm_channel(uid) == first["channel"]["id"]


def test_group_dm_identity(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    a, b, c = (slack_emulator.add_user(n) for n in ("ada", "bo", "cy"))
    first = slack_client.conversations_open(users=f"{a},{b},{c}")["channel"]["id"]
    assert first.startswith("G")
    assert slack_client.conversations_open(users=[c, a, b])["channel"]["id"] == first
    assert slack_client.conversations_open(users=[a, b])["channel"]["id"] != first
    info = slack_client.conversations_info(channel=first)["channel"]
    assert info["is_mpim"] is True
    assert slack_emulator.group_dm([b, c, a]) == first
    assert set(slack_emulator.conversation(first)["members"]) == {
        a,
        b,
        c,
        slack_emulator.bot_user_id,
    }


def test_conversations_open_errors(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    nine = [slack_emulator.add_user(f"u{i}") for i in range(9)]
    with pytest.raises(SlackApiError) as exc:
        slack_client.conversations_open(users=nine)
    assert _error(exc) == "too_many_users"
    assert slack_client.conversations_open(users=nine[:8])["channel"]["id"].startswith("G")
    with pytest.raises(SlackApiError) as exc:
        slack_client.api_call("conversations.open", params={})
    assert _error(exc) == "users_list_not_supplied"
    with pytest.raises(SlackApiError) as exc:
        slack_client.conversations_open(users="U00NOBODY")
    assert _error(exc) == "user_not_found"
    with pytest.raises(SlackApiError) as exc:
        slack_client.conversations_open(channel="D00NOTHING")
    assert _error(exc) == "channel_not_found"


def test_conversations_open_deleted_user(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    uid = slack_emulator.add_user("gone", deleted=True)
    with pytest.raises(SlackApiError) as exc:
        slack_client.conversations_open(users=uid)
    assert _error(exc) == "user_disabled"


def test_user_who_cannot_be_messaged(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    uid = slack_emulator.add_user("guest", can_be_messaged=False)
    other = slack_emulator.add_user("host")
    with pytest.raises(SlackApiError) as exc:
        slack_client.conversations_open(users=uid)
    assert _error(exc) == "user_not_visible"
    with pytest.raises(SlackApiError) as exc:
        slack_client.conversations_open(users=[uid, other])
    assert _error(exc) == "user_not_visible"
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_postMessage(channel=uid, text="hello")
    assert _error(exc) == "channel_not_found"


# -- chat -------------------------------------------------------------------------------------


def test_post_without_channel(slack_client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        slack_client.api_call("chat.postMessage", json={"text": "hi"})
    assert _error(exc) == "channel_not_found"


def test_post_to_unknown_channel_and_no_text(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_postMessage(channel="C00NOWHERE", text="hi")
    assert _error(exc) == "channel_not_found"
    channel = slack_emulator.add_channel("general")
    with pytest.raises(SlackApiError) as exc:
        slack_client.api_call("chat.postMessage", json={"channel": channel})
    assert _error(exc) == "no_text"
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_postMessage(channel=channel, text="x" * 40_001)
    assert _error(exc) == "msg_too_long"
    outside = slack_emulator.add_channel("random", bot_is_member=False)
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_postMessage(channel=outside, text="hi")
    assert _error(exc) == "not_in_channel"


def test_post_to_deleted_users_dm(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    uid = slack_emulator.add_user("leaver")
    dm = slack_client.conversations_open(users=uid)["channel"]["id"]
    slack_emulator.delete_user(uid)
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_postMessage(channel=dm, text="still there?")
    assert _error(exc) == "is_archived"


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([_section("x" * 3001)], "/blocks/0/text/text"),
        ([_section("x")] * 51, "/blocks"),
        ([{"type": "bogus_block"}], "/blocks/0/type"),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
            "/blocks/0/fields",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "go",
                            "text": {"type": "plain_text", "text": "y" * 76},
                        }
                    ],
                }
            ],
            "/blocks/0/elements/0/text/text",
        ),
        ([{**_section("x"), "block_id": "b" * 256}], "/blocks/0/block_id"),
    ],
    ids=["section-3001", "51-blocks", "unknown-type", "11-fields", "button-76", "block-id-256"],
)
def test_invalid_blocks(
    slack_client: WebClient,
    slack_emulator: SlackEmulator,
    blocks: list[dict[str, Any]],
    pointer: str,
) -> None:
    uid = slack_emulator.add_user("ada")
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_postMessage(channel=uid, text="fallback", blocks=blocks)
    assert _error(exc) == "invalid_blocks"
    messages = exc.value.response["response_metadata"]["messages"]
    assert any(f"[json-pointer:{pointer}]" in m for m in messages), messages


def test_limits_are_inclusive(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    uid = slack_emulator.add_user("ada")
    ok = slack_client.chat_postMessage(
        channel=uid, text="fallback", blocks=[_section("x" * 3000)] + [_section("y")] * 49
    )
    assert ok["ok"] is True
    assert len(slack_emulator.messages_to(uid)[0]["blocks"]) == 50


def test_form_encoded_blocks(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    channel = slack_emulator.add_channel("general")
    resp = slack_client.api_call(
        "chat.postMessage",
        data={"channel": channel, "text": "t", "blocks": json.dumps([_section("hi")])},
    )
    assert resp["ok"] is True
    assert slack_emulator.calls_to("chat.postMessage")[-1].args["blocks"][0]["type"] == "section"
    with pytest.raises(SlackApiError) as exc:
        slack_client.api_call(
            "chat.postMessage", data={"channel": channel, "text": "t", "blocks": "[{not json"}
        )
    assert _error(exc) == "invalid_blocks_format"


def test_post_then_update_then_delete(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    uid = slack_emulator.add_user("ada")
    posted = slack_client.chat_postMessage(channel=uid, text="Offer", blocks=[_section("v1")])
    dm = posted["channel"]
    assert dm == slack_emulator.dm_channel(uid)
    assert posted["message"]["bot_id"] == slack_emulator.bot_id
    assert posted["message"]["blocks"][0]["block_id"]  # Slack assigns missing block ids
    updated = slack_client.chat_update(
        channel=dm, ts=posted["ts"], text="Accepted", blocks=[_section("v2")]
    )
    assert updated["ts"] == posted["ts"]
    [msg] = slack_emulator.messages_to(uid)
    assert msg["text"] == "Accepted"
    assert msg["blocks"][0]["text"]["text"] == "v2"
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_update(channel=dm, ts="1.000000", text="x")
    assert _error(exc) == "message_not_found"
    user_ts = slack_emulator.post_user_message(dm, uid, "mine")
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_update(channel=dm, ts=user_ts, text="hijack")
    assert _error(exc) == "cant_update_message"
    slack_client.chat_delete(channel=dm, ts=posted["ts"])
    assert [m["text"] for m in slack_emulator.messages(dm)] == ["mine"]


def test_post_ephemeral(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    ada, bo = slack_emulator.add_user("ada"), slack_emulator.add_user("bo")
    channel = slack_emulator.add_channel("general", members=[ada])
    resp = slack_client.chat_postEphemeral(channel=channel, user=ada, text="only you")
    assert resp["message_ts"]
    assert slack_emulator.ephemerals_to(ada)[0]["text"] == "only you"
    with pytest.raises(SlackApiError) as exc:
        slack_client.chat_postEphemeral(channel=channel, user=bo, text="nope")
    assert _error(exc) == "user_not_in_channel"


def test_history_and_info(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    channel = slack_emulator.add_channel("general")
    for i in range(3):
        slack_client.chat_postMessage(channel=channel, text=f"m{i}")
    history = slack_client.conversations_history(channel=channel)
    assert [m["text"] for m in history["messages"]] == ["m2", "m1", "m0"]
    assert slack_client.conversations_info(channel=channel)["channel"]["name"] == "general"
    with pytest.raises(SlackApiError) as exc:
        slack_client.conversations_info(channel="C00NOWHERE")
    assert _error(exc) == "channel_not_found"


# -- views ------------------------------------------------------------------------------------


def test_publish_home(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    uid = slack_emulator.add_user("ada")
    first = slack_client.views_publish(user_id=uid, view=_home("v1"))["view"]
    second = slack_client.views_publish(user_id=uid, view=_home("v2"), hash=first["hash"])["view"]
    assert second["id"] == first["id"]
    assert second["hash"] != first["hash"]
    home = slack_emulator.home_view(uid)
    assert home is not None
    assert home["blocks"][0]["text"]["text"] == "v2"
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_publish(user_id=uid, view=_home("v3"), hash=first["hash"])
    assert _error(exc) == "hash_conflict"
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_publish(user_id=uid, view=_modal())
    assert _error(exc) == "invalid_arguments"


def test_view_title_of_25_characters(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    uid = slack_emulator.add_user("ada")
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_open(
            trigger_id=slack_emulator.new_trigger_id(uid), view=_modal(title="t" * 25)
        )
    assert _error(exc) == "invalid_arguments"
    messages = exc.value.response["response_metadata"]["messages"]
    assert any("/view/title/text" in m for m in messages), messages
    assert slack_emulator.modal_stack(uid) == []
    ok = slack_client.views_open(
        trigger_id=slack_emulator.new_trigger_id(uid), view=_modal(title="t" * 24)
    )
    assert ok["ok"] is True


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        (_modal(n_blocks=101), "/view/blocks"),
        (_modal(private_metadata="m" * 3001), "/view/private_metadata"),
        (_modal(close={"type": "plain_text", "text": "c" * 25}), "/view/close/text"),
        ({k: v for k, v in _modal().items() if k != "submit"}, "/view"),
    ],
    ids=["101-blocks", "metadata-3001", "close-25", "input-without-submit"],
)
def test_invalid_views(
    slack_client: WebClient, slack_emulator: SlackEmulator, view: dict[str, Any], pointer: str
) -> None:
    uid = slack_emulator.add_user("ada")
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_open(trigger_id=slack_emulator.new_trigger_id(uid), view=view)
    assert _error(exc) == "invalid_arguments"
    messages = exc.value.response["response_metadata"]["messages"]
    assert any(f"[json-pointer:{pointer}]" in m for m in messages), messages


def test_open_push_update_modal(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    uid = slack_emulator.add_user("ada")
    root = slack_client.views_open(
        trigger_id=slack_emulator.new_trigger_id(uid), view=_modal("Step 1")
    )["view"]
    assert root["id"].startswith("V")
    assert root["root_view_id"] == root["id"]
    pushed = slack_client.views_push(
        trigger_id=slack_emulator.new_trigger_id(uid), view=_modal("Step 2")
    )["view"]
    assert pushed["previous_view_id"] == root["id"]
    assert [v["id"] for v in slack_emulator.modal_stack(uid)] == [root["id"], pushed["id"]]
    updated = slack_client.views_update(
        view_id=pushed["id"], hash=pushed["hash"], view=_modal("Step 2b")
    )["view"]
    assert updated["title"]["text"] == "Step 2b"
    top = slack_emulator.top_modal(uid)
    assert top is not None
    assert top["title"]["text"] == "Step 2b"
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_update(view_id=pushed["id"], hash=pushed["hash"], view=_modal("late"))
    assert _error(exc) == "hash_conflict"
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_update(view_id="V00NOTHING", view=_modal())
    assert _error(exc) == "not_found"
    slack_client.views_push(trigger_id=slack_emulator.new_trigger_id(uid), view=_modal("Step 3"))
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_push(
            trigger_id=slack_emulator.new_trigger_id(uid), view=_modal("Step 4")
        )
    assert _error(exc) == "push_limit_reached"


def test_update_by_external_id(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    uid = slack_emulator.add_user("ada")
    slack_client.views_open(
        trigger_id=slack_emulator.new_trigger_id(uid), view=_modal(external_id="ask-1")
    )
    resp = slack_client.views_update(external_id="ask-1", view=_modal("Changed"))
    assert resp["view"]["title"]["text"] == "Changed"


def test_trigger_ids(slack_client: WebClient, slack_emulator: SlackEmulator) -> None:
    uid = slack_emulator.add_user("ada")
    trigger = slack_emulator.new_trigger_id(uid)
    slack_client.views_open(trigger_id=trigger, view=_modal())
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_open(trigger_id=trigger, view=_modal())
    assert _error(exc) == "exchanged_trigger_id"
    with pytest.raises(SlackApiError) as exc:
        slack_client.views_open(trigger_id="12345.67890.abcdef", view=_modal())
    assert _error(exc) == "invalid_trigger_id"
    with pytest.raises(SlackApiError) as exc:
        slack_client.api_call("views.open", json={"view": _modal()})
    assert _error(exc) == "invalid_arguments"


def test_trigger_expiry_follows_the_clock() -> None:
    clock = FakeClock()
    with SlackEmulator(clock=clock) as emulator:
        client = WebClient(token=emulator.bot_token, base_url=emulator.api_url)
        uid = emulator.add_user("ada")
        trigger = emulator.new_trigger_id(uid)
        clock.t += 3.5
        with pytest.raises(SlackApiError) as exc:
            client.views_open(trigger_id=trigger, view=_modal())
        assert _error(exc) == "expired_trigger_id"
        emulator.trigger_ttl = None
        assert client.views_open(trigger_id=trigger, view=_modal())["ok"] is True


# -- rate limits and injected failures --------------------------------------------------------


def test_rate_limit_sliding_window() -> None:
    clock = FakeClock()
    with SlackEmulator(clock=clock) as emulator:
        client = WebClient(token=emulator.bot_token, base_url=emulator.api_url)
        emulator.set_rate_limit("auth.test", per_minute=2)
        client.auth_test()
        clock.t += 30
        client.auth_test()
        with pytest.raises(SlackApiError) as exc:
            client.auth_test()
        assert exc.value.response.status_code == 429
        assert _error(exc) == "ratelimited"
        assert exc.value.response.headers["Retry-After"] == "30"
        clock.t += 30.5
        assert client.auth_test()["ok"] is True
        assert client.users_list()["ok"] is True  # other methods are not limited


def test_retry_handler_recovers_from_429(
    slack_emulator: SlackEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(
        "slack_sdk.http_retry.builtin_handlers.time.sleep", lambda s: slept.append(s)
    )
    client = WebClient(
        token=slack_emulator.bot_token,
        base_url=slack_emulator.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)],
    )
    uid = slack_emulator.add_user("ada")
    slack_emulator.inject_error(
        "chat.postMessage", "ratelimited", status=429, times=2, retry_after=7
    )
    assert client.chat_postMessage(channel=uid, text="hello")["ok"] is True
    assert [c.status for c in slack_emulator.calls_to("chat.postMessage")] == [429, 429, 200]
    assert len(slept) == 2
    assert all(7 <= s < 8 for s in slept)
    assert len(slack_emulator.messages_to(uid)) == 1


def test_chaos_429_is_seeded(slack_emulator: SlackEmulator, slack_client: WebClient) -> None:
    slack_emulator.fail_with_429("auth.test", ratio=0.3, retry_after=2, seed=42)
    for _ in range(100):
        with contextlib.suppress(SlackApiError):
            slack_client.auth_test()
    calls = slack_emulator.calls_to("auth.test")
    limited = [c for c in calls if c.status == 429]
    assert all(c.error == "ratelimited" for c in limited)
    assert {c.status for c in calls} == {200, 429}
    assert 15 <= len(limited) <= 45
    slack_emulator.clear_faults()
    assert slack_client.auth_test()["ok"] is True


def test_injected_server_error_and_retry(
    slack_emulator: SlackEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("slack_sdk.http_retry.handler.time.sleep", lambda s: None)
    slack_emulator.inject_error("auth.test", "fatal_error", status=500, times=1)
    plain = WebClient(token=slack_emulator.bot_token, base_url=slack_emulator.api_url)
    with pytest.raises(SlackApiError) as exc:
        plain.auth_test()
    assert exc.value.response.status_code == 500
    assert _error(exc) == "fatal_error"
    slack_emulator.inject_error("auth.test", "internal_error", status=503, times=1)
    retrying = WebClient(
        token=slack_emulator.bot_token,
        base_url=slack_emulator.api_url,
        retry_handlers=[ServerErrorRetryHandler(max_retry_count=2)],
    )
    assert retrying.auth_test()["ok"] is True


# -- call records -----------------------------------------------------------------------------


def test_calls_are_recorded_with_decoded_args(
    slack_client: WebClient, slack_emulator: SlackEmulator
) -> None:
    uid = slack_emulator.add_user("ada")
    slack_client.chat_postMessage(channel=uid, text="t", blocks=[_section("hi")])
    with pytest.raises(SlackApiError):
        slack_client.chat_postMessage(channel="C00NOWHERE", text="t")
    ok, failed = slack_emulator.calls_to("chat.postMessage")
    assert ok.ok
    assert ok.args["blocks"][0]["text"]["text"] == "hi"
    assert ok.token == slack_emulator.bot_token
    assert "token" not in ok.args
    assert failed.error == "channel_not_found"
    slack_emulator.clear_calls()
    assert slack_emulator.calls == []


def test_concurrent_posts(slack_emulator: SlackEmulator) -> None:
    channel = slack_emulator.add_channel("general")

    def post(n: int) -> None:
        client = WebClient(token=slack_emulator.bot_token, base_url=slack_emulator.api_url)
        for i in range(10):
            client.chat_postMessage(channel=channel, text=f"{n}-{i}")

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    messages = slack_emulator.messages(channel)
    assert len(messages) == 80
    assert len({m["ts"] for m in messages}) == 80
    assert len(slack_emulator.wait_for_call("chat.postMessage", count=80, timeout=1)) == 80


def test_wait_for_call_times_out(slack_emulator: SlackEmulator) -> None:
    with pytest.raises(TimeoutError):
        slack_emulator.wait_for_call("chat.postMessage", timeout=0.05)
