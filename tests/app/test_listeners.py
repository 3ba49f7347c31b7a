"""Listeners alone (imported and called with fakes), the value codec, and tampered values sent
through the real signed HTTP stack: answered 200, told plainly, nothing changed."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import pytest
from slack_bolt import BoltContext
from sqlalchemy import func, inspect, select

from peerbot.app import USER_ERROR_TEXT
from peerbot.clock import FrozenClock
from peerbot.config import Settings
from peerbot.services.asks import AcceptOutcome
from peerbot.services.pairs import CloseForm, Result, Role
from peerbot.slack import blocks, codec
from peerbot.slack.codec import BadValue, Snooze, SnoozeChoice
from peerbot.slack.deps import Deps
from peerbot.slack.listeners import asks as ask_listeners
from peerbot.slack.listeners import pairs as pair_listeners
from peerbot.slack.listeners.common import BAD_VALUE_TEXT
from peerbot.store.db import unit_of_work
from peerbot.store.models import Ask, Checkin, Commitment, Feedback, Offer, OutboxMessage, Pair
from tests.fixtures.app import START, Harness
from tests.journey.test_accountability import paired
from tests.journey.test_ask_accept import text_of

# --------------------------------------------------------------------------- fakes


@dataclass
class Recorder:
    """A stand-in for ``ack``, ``respond`` or one Web API method: records each call."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append({"args": args, **kwargs})


class FakeClient:
    """The WebClient methods the listeners use, recorded."""

    def __init__(self) -> None:
        self.views_open = Recorder()
        self.chat_postEphemeral = Recorder()


@dataclass
class FakeAsks:
    outcome: AcceptOutcome
    accepted: list[tuple[str, int, str]] = field(default_factory=list)

    def accept(self, team_id: str, offer_id: int, user_id: str) -> AcceptOutcome:
        self.accepted.append((team_id, offer_id, user_id))
        return self.outcome


@dataclass
class FakePairs:
    form: CloseForm
    asked: list[tuple[str, int, str]] = field(default_factory=list)

    def close_form(self, team_id: str, pair_id: int, user_id: str) -> CloseForm:
        self.asked.append((team_id, pair_id, user_id))
        return self.form


def make_deps(**services: Any) -> Deps:
    """Typed deps with fakes where a test needs a service, and nothing elsewhere."""
    return Deps(
        settings=Settings(),
        clock=FrozenClock(START),
        asks=services.get("asks", cast(Any, None)),
        helpers=services.get("helpers", cast(Any, None)),
        pairs=services.get("pairs", cast(Any, None)),
    )


def context(**extra: Any) -> BoltContext:
    return BoltContext({"team_id": "T1", "user_id": "U1", "enterprise_id": None, **extra})


# --------------------------------------------------------------------------- listeners alone


def test_accept_alone_answers_taken_through_respond() -> None:
    ack, respond, client = Recorder(), Recorder(), FakeClient()
    service = FakeAsks(AcceptOutcome.TAKEN)
    ask_listeners.accept(
        ack=cast(Any, ack),
        action={"action_id": "offer_accept", "value": "42"},
        context=context(),
        respond=cast(Any, respond),
        client=cast(Any, client),
        deps=make_deps(asks=service),
    )
    assert len(ack.calls) == 1
    assert service.accepted == [("T1", 42, "U1")]
    assert [c["text"] for c in respond.calls] == [ask_listeners.ACCEPT_REPLIES[AcceptOutcome.TAKEN]]
    assert respond.calls[0]["response_type"] == "ephemeral"
    assert client.chat_postEphemeral.calls == []


def test_accept_alone_paired_says_nothing() -> None:
    ack, respond, client = Recorder(), Recorder(), FakeClient()
    ask_listeners.accept(
        ack=cast(Any, ack),
        action={"value": "7"},
        context=context(),
        respond=cast(Any, respond),
        client=cast(Any, client),
        deps=make_deps(asks=FakeAsks(AcceptOutcome.PAIRED)),
    )
    assert len(ack.calls) == 1
    assert respond.calls == []


@pytest.mark.parametrize("value", [None, "", "abc", "-3", "0", "1.5", "99999999999999999999"])
def test_accept_alone_with_a_bad_value_acks_and_explains(value: str | None) -> None:
    ack, respond, client = Recorder(), Recorder(), FakeClient()
    service = FakeAsks(AcceptOutcome.PAIRED)
    action = {} if value is None else {"value": value}
    ask_listeners.accept(
        ack=cast(Any, ack),
        action=action,
        context=context(),
        respond=cast(Any, respond),
        client=cast(Any, client),
        deps=make_deps(asks=service),
    )
    assert len(ack.calls) == 1
    assert service.accepted == []
    assert [c["text"] for c in respond.calls] == [BAD_VALUE_TEXT]


def test_without_a_response_url_the_reply_is_posted_ephemeral_in_the_channel() -> None:
    ack, client = Recorder(), FakeClient()
    ask_listeners.accept(
        ack=cast(Any, ack),
        action={"value": "42"},
        context=context(channel_id="D1"),
        respond=None,
        client=cast(Any, client),
        deps=make_deps(asks=FakeAsks(AcceptOutcome.NOT_YOURS)),
    )
    assert client.chat_postEphemeral.calls == [
        {
            "args": (),
            "channel": "D1",
            "user": "U1",
            "text": ask_listeners.ACCEPT_REPLIES[AcceptOutcome.NOT_YOURS],
        }
    ]


@pytest.mark.parametrize("role", [Role.ASKER, Role.HELPER])
def test_close_clicked_alone_opens_the_form_the_service_allows(role: Role) -> None:
    ack, respond, client = Recorder(), Recorder(), FakeClient()
    service = FakePairs(CloseForm(Result.OK, role))
    pair_listeners.close_clicked(
        ack=cast(Any, ack),
        body={"trigger_id": "trig"},
        action={"value": "5"},
        context=context(),
        respond=cast(Any, respond),
        client=cast(Any, client),
        deps=make_deps(pairs=service),
    )
    assert service.asked == [("T1", 5, "U1")]
    assert respond.calls == []
    assert client.views_open.calls == [
        {
            "args": (),
            "trigger_id": "trig",
            "view": blocks.build_close_modal(5, asker=role == Role.ASKER),
        }
    ]


def test_close_clicked_alone_refused_by_the_service() -> None:
    ack, respond, client = Recorder(), Recorder(), FakeClient()
    pair_listeners.close_clicked(
        ack=cast(Any, ack),
        body={"trigger_id": "trig"},
        action={"value": "5"},
        context=context(),
        respond=cast(Any, respond),
        client=cast(Any, client),
        deps=make_deps(pairs=FakePairs(CloseForm(Result.NOT_YOURS))),
    )
    assert client.views_open.calls == []
    assert [c["text"] for c in respond.calls] == [pair_listeners.REPLIES[Result.NOT_YOURS]]


def test_deps_survive_the_copy_bolt_makes_for_lazy_listeners() -> None:
    deps = make_deps()
    copied = copy.deepcopy(BoltContext({"deps": deps}).to_copyable())
    assert copied["deps"] is deps


# --------------------------------------------------------------------------- the codec


@pytest.mark.parametrize("id_codec", [codec.OFFER, codec.PAIR, codec.CHECKIN, codec.COMMITMENT])
def test_id_codec_round_trips(id_codec: codec.IdCodec) -> None:
    for row_id in (1, 42, codec.MAX_ID):
        assert id_codec.decode(id_codec.encode(row_id)) == row_id


@pytest.mark.parametrize(
    "value", [None, 5, "", " 5", "abc", "-1", "0", "1e3", "٣", "2147483648", "1:stop"]
)
def test_id_codec_refuses_what_is_not_an_id(value: object) -> None:
    with pytest.raises(BadValue):
        codec.PAIR.decode(value)


def test_snooze_codec() -> None:
    for choice in SnoozeChoice:
        value = codec.SNOOZE.encode(12, choice.value)
        assert codec.SNOOZE.decode(value) == Snooze(12, choice)
    for bad in (None, "", "12", "12:", "12:bogus", ":stop", "x:stop", "0:stop", "12:stop:1"):
        with pytest.raises(BadValue):
            codec.SNOOZE.decode(bad)


# --------------------------------------------------------------------------- over signed HTTP

TABLES = (Ask, Offer, Pair, Checkin, Commitment, Feedback)


def snapshot(h: Harness) -> dict[str, Any]:
    """Every row of the tables a click could change, and how many messages were enqueued."""
    out: dict[str, Any] = {}
    with unit_of_work(h.container.sessions) as s:
        for model in TABLES:
            cols = [c.key for c in inspect(model).mapper.column_attrs]
            rows = s.scalars(select(model).order_by(model.id)).all()
            out[model.__tablename__] = [tuple(getattr(r, c) for c in cols) for r in rows]
        out["outbox"] = s.scalar(select(func.count()).select_from(OutboxMessage))
    return out


def assert_refused_plainly(h: Harness, user: str, before: dict[str, Any], seen: int) -> None:
    """Nothing changed, no dialog opened, no error DM; the user was told in plain words."""
    assert snapshot(h) == before
    assert h.emulator.calls_to("views.open") == []
    assert all(USER_ERROR_TEXT not in text_of(m) for m in h.dms(user))
    replies = [e["text"] for e in h.emulator.ephemerals_to(user)]
    assert replies[seen:] == [BAD_VALUE_TEXT]


BAD_BUTTON_VALUES = ["", "abc", "-1", "0", "1 OR 1=1", "99999999999999999999"]


def test_tampered_offer_buttons_answer_200_and_change_nothing(harness: Harness) -> None:
    h = harness
    helper = h.add_helper("fiona", "Gave hard feedback to senior engineers about behaviour.")
    h.ask(h.add_user("alex"), "How do I give hard feedback to a senior engineer?")
    offer = h.dms(helper)[0]
    before = snapshot(h)
    h.emulator.clear_calls()
    seen = 0
    for action_id in ("offer_accept", "offer_pass"):
        for value in BAD_BUTTON_VALUES:
            r = h.driver.block_action(
                helper, action_id, value=value, channel_id=offer["channel"], message_ts=offer["ts"]
            )
            assert r.status == 200, (action_id, value, r)
            h.settle()
            assert_refused_plainly(h, helper, before, seen)
            seen += 1
    # The real button still works afterwards.
    h.click(helper, offer, "offer_accept")
    with unit_of_work(h.container.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Pair)) == 1


def test_tampered_pair_buttons_answer_200_and_change_nothing(harness: Harness) -> None:
    h = harness
    asker, _helper = paired(h)
    for _ in range(8):
        h.advance(timedelta(days=1))
    checkin = h.dms(asker)[-1]
    assert "quick check-in" in text_of(checkin)
    before = snapshot(h)
    h.emulator.clear_calls()
    seen = len(h.emulator.ephemerals_to(asker))
    clicks: list[tuple[str, Any]] = [
        (action_id, value)
        for action_id in (
            "checkin_answer_done",
            "checkin_answer_stuck",
            "pair_add_commitment",
            "checkin_close",
        )
        for value in BAD_BUTTON_VALUES
    ]
    clicks += [
        ("pair_snooze", {"text": {"type": "plain_text", "text": "x"}, "value": value})
        for value in ("", "abc", "1", "1:bogus", "x:stop", "99999999999999999999:stop")
    ]
    for action_id, value in clicks:
        r = h.driver.block_action(
            asker, action_id, value=value, channel_id=checkin["channel"], message_ts=checkin["ts"]
        )
        assert r.status == 200, (action_id, value, r)
        h.settle()
        assert_refused_plainly(h, asker, before, seen)
        seen += 1


def asker_commitment_message(h: Harness, asker: str) -> dict[str, Any]:
    """The asker's receipt once paired: in their own DM, with Add a commitment."""
    return next(m for m in h.dms(asker) if "pair_add_commitment" in str(m.get("blocks")))


def test_tampered_modal_metadata_is_ignored(harness: Harness) -> None:
    h = harness
    asker, _helper = paired(h)
    receipt = asker_commitment_message(h, asker)
    h.click(asker, receipt, "pair_add_commitment")
    modal = h.emulator.top_modal(asker)
    assert modal is not None
    tampered = blocks.build_commitment_modal(1)
    tampered["private_metadata"] = "abc"
    h.emulator.replace_view(str(modal["id"]), tampered)
    before = snapshot(h)
    r = h.driver.view_submission(
        asker, str(modal["id"]), {("commitment_text", "commitment_text_input"): "Talk to Sam"}
    )
    assert r.status == 200
    h.settle()
    assert snapshot(h) == before
    assert all(USER_ERROR_TEXT not in text_of(m) for m in h.dms(asker))


# --------------------------------------------------------------------------- permissions


def test_only_the_asker_may_open_the_commitment_form(harness: Harness) -> None:
    h = harness
    asker, helper = paired(h)
    # The helper has no such button anywhere (the intro has none); a hand-made click on the
    # asker's is refused.
    assert not any(
        "pair_add_commitment" in str(m.get("blocks"))
        for m in [*h.dms(helper), *h.group_messages(asker, helper)]
    )
    receipt = asker_commitment_message(h, asker)
    h.emulator.clear_calls()
    h.click(helper, receipt, "pair_add_commitment")
    assert h.emulator.calls_to("views.open") == []
    assert [e["text"] for e in h.emulator.ephemerals_to(helper)] == [
        pair_listeners.REPLIES[Result.NOT_YOURS]
    ]
    with unit_of_work(h.container.sessions) as s:
        pair_id = s.scalars(select(Pair)).one().id
    pairs = h.container.pairs
    assert pairs.may_add_commitment(h.team, pair_id, asker) == Result.OK
    assert pairs.may_add_commitment(h.team, pair_id, helper) == Result.NOT_YOURS
    assert pairs.may_add_commitment(h.team, pair_id + 1, asker) == Result.NOT_YOURS
    assert pairs.may_add_commitment("TOTHER", pair_id, asker) == Result.NOT_YOURS
    assert pairs.close_form(h.team, pair_id, asker) == CloseForm(Result.OK, Role.ASKER)
    assert pairs.close_form(h.team, pair_id, helper) == CloseForm(Result.OK, Role.HELPER)
    assert pairs.close_form(h.team, pair_id, "UNOBODY") == CloseForm(Result.NOT_YOURS)
    # The helper opens the helper's close-out form.
    h.click(helper, h.group_messages(asker, helper)[0], "pair_close")
    modal = h.emulator.top_modal(helper)
    assert modal is not None
    assert modal["callback_id"] == "pair_close_feedback"
    assert modal["private_metadata"] == codec.PAIR.encode(pair_id)
    block_ids = {b.get("block_id") for b in modal["blocks"]}
    assert "close_reflection" in block_ids
    assert "close_outcome" not in block_ids
