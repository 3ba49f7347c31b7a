"""Slack outages and refusals during the journey (both databases): nothing is lost, nothing is
posted twice, and nobody is told something before it has happened."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from peerbot.services.metrics import MetricsService
from peerbot.store.db import unit_of_work
from peerbot.store.models import (
    Offer,
    OfferStatus,
    OutboxMessage,
    OutboxStatus,
    Pair,
    PairStatus,
    Person,
    Workspace,
)
from tests.fixtures.app import Harness
from tests.journey.test_ask_accept import text_of

CHALLENGE = "How do I give hard feedback to a senior engineer about their code reviews?"
INTRODUCED = ("group DM", "introduced")


def _ok_posts(h: Harness) -> Counter[str]:
    """Successful chat.postMessage calls per outbox tag (each message's own)."""
    return Counter(
        str(c.args["metadata"]["event_payload"]["key"])
        for c in h.emulator.calls_to("chat.postMessage")
        if c.ok
    )


def _told_introduced(h: Harness, user: str) -> list[str]:
    """Texts the person can see that speak of the group DM or the introduction."""
    return [text_of(m) for m in h.dms(user) if any(w in text_of(m) for w in INTRODUCED)]


@pytest.mark.parametrize("minutes", [30, 120], ids=["30-min", "2-hours"])
def test_an_outage_while_a_helper_accepts_delays_the_intro_and_nobody_is_told_early(
    harness: Harness, minutes: int
) -> None:
    h = harness
    helper = h.add_helper("fiona", "Gave hard feedback to senior engineers about behaviour.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    offer = h.dms(helper)[0]
    for method in ("conversations.open", "chat.postMessage", "chat.update"):
        h.emulator.inject_error(method, "internal_error", status=500, times=None)

    h.click(helper, offer, "offer_accept")
    for _ in range(minutes // 5):
        h.advance(timedelta(minutes=5))
        # While Slack is down nobody has been told they are introduced.
        assert _told_introduced(h, asker) == []
        assert _told_introduced(h, helper) == []
    with unit_of_work(h.container.sessions) as s:
        pair = s.scalars(select(Pair)).one()
        assert (pair.status, pair.channel_id) == (PairStatus.ACTIVE, None)
        waiting = s.scalars(select(OutboxMessage).where(OutboxMessage.notice == "intro")).one()
        assert waiting.status == OutboxStatus.PENDING  # not a dead letter

    h.emulator.clear_faults()
    h.advance(timedelta(minutes=10))  # the longest wait between two retries

    group = h.group_messages(asker, helper)
    assert len(group) == 1 and "meet" in text_of(group[0])
    assert all(n == 1 for n in _ok_posts(h).values()), _ok_posts(h)
    # The offer and the receipt say "introduced" only after the intro was posted.
    calls = h.emulator.calls
    intro_at = next(
        i
        for i, c in enumerate(calls)
        if c.method == "chat.postMessage" and c.ok and c.response["channel"] == group[0]["channel"]
    )
    told_at = [
        i
        for i, c in enumerate(calls)
        if c.method == "chat.update" and c.ok and any(w in str(c.args) for w in INTRODUCED)
    ]
    assert len(told_at) == 2  # the helper's offer and the asker's receipt
    assert min(told_at) > intro_at
    assert any("accepted and you are both in a new group DM" in t for t in h.texts(asker))


def test_a_group_dm_slack_refuses_fails_the_pair_tells_both_and_asks_another_peer(
    harness: Harness,
) -> None:
    h = harness
    fiona = h.add_helper("fiona", "Gave hard feedback to senior engineers about code reviews.")
    gus = h.add_helper("gus", "Coached senior engineers through hard feedback on reviews.")
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    first, second = h.first_offered(fiona, gus)
    h.emulator.inject_error("conversations.open", "restricted_action", status=200, times=None)

    h.click(first, h.dms(first)[0], "offer_accept")

    with unit_of_work(h.container.sessions) as s:
        pair = s.scalars(select(Pair)).one()
        assert pair.status == PairStatus.FAILED
    assert h.emulator.group_dm((asker, first)) is None
    assert "could not set up the group DM" in h.texts(asker)[-1]
    assert "released you" in h.texts(first)[-1]
    assert _told_introduced(h, asker) == [h.texts(asker)[-1]]  # only the failure notice
    # Back to matching: the next peer is asked, consent first.
    assert any("looking for a peer" in t for t in h.texts(second))

    h.emulator.clear_faults()
    h.click(second, h.dms(second)[-1], "offer_accept")
    group = h.group_messages(asker, second)
    assert len(group) == 1 and f"<@{second}>" in text_of(group[0])
    with unit_of_work(h.container.sessions) as s:
        statuses = sorted(p.status for p in s.scalars(select(Pair)))
        assert statuses == sorted([PairStatus.FAILED, PairStatus.ACTIVE])
    assert any(f"<@{second}> accepted and you are both" in t for t in h.texts(asker))
    assert all(n == 1 for n in _ok_posts(h).values())


def test_a_refused_token_pauses_the_workspace_blames_nobody_and_loses_nothing(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness
    helpers = [
        h.add_helper(name, f"{name} gave hard feedback to senior engineers.")
        for name in ("fiona", "gus", "hana")
    ]
    asker = h.add_user("alex")
    view_id = h.open_intake(asker)
    h.emulator.inject_error(None, "not_allowed_token_type", status=200, times=None)
    with caplog.at_level(logging.ERROR, logger="peerbot.services.outbox"):
        r = h.driver.view_submission(asker, view_id, {("challenge", "challenge_input"): CHALLENGE})
        assert r.status == 200
        h.settle()
        for _ in range(4):
            h.advance(timedelta(minutes=5))

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "SLACK_BOT_TOKEN" in errors[0].getMessage()
    with unit_of_work(h.container.sessions) as s:
        assert all(p.can_be_messaged for p in s.scalars(select(Person)))
        offers = s.scalars(select(Offer)).all()
        assert [o.status for o in offers] == [OfferStatus.PENDING]  # not skipped
        ws = s.get(Workspace, h.team)
        assert ws is not None and ws.sending_paused_reason == "not_allowed_token_type"
    paused = MetricsService(h.container.engine).counts().paused_workspaces
    assert paused == {"not_allowed_token_type": 1}

    h.emulator.clear_faults()
    h.advance(timedelta(minutes=5))
    offered = [u for u in helpers if any("looking for a peer" in t for t in h.texts(u))]
    assert len(offered) == 1
    assert any("we have your request" in t for t in h.texts(asker))
    assert all(n == 1 for n in _ok_posts(h).values())
    assert MetricsService(h.container.engine).counts().paused_workspaces == {}


def test_someone_marked_unreachable_is_looked_up_again_after_a_day(harness: Harness) -> None:
    h = harness
    fiona = h.add_helper("fiona", "Gave hard feedback to senior engineers.")
    with unit_of_work(h.container.sessions) as s:
        person = s.scalars(select(Person).where(Person.slack_user_id == fiona)).one()
        person.can_be_messaged = False
        person.last_dm_failure = "messages_tab_disabled"
        person.last_dm_failure_at = h.clock.now()
    h.advance(timedelta(hours=12))
    with unit_of_work(h.container.sessions) as s:
        assert not s.scalars(
            select(Person.can_be_messaged).where(Person.slack_user_id == fiona)
        ).one()
    h.advance(timedelta(hours=13))
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Person.can_be_messaged).where(Person.slack_user_id == fiona)).one()
    looked_up = [c for c in h.emulator.calls_to("users.info") if c.args.get("user") == fiona]
    assert looked_up


def test_an_asker_whose_receipt_never_arrived_still_hears_who_accepted(harness: Harness) -> None:
    h = harness
    helper = h.add_helper("fiona", "Gave hard feedback to senior engineers about behaviour.")
    asker = h.add_user("alex")
    view_id = h.open_intake(asker)
    h.driver.view_submission(asker, view_id, {("challenge", "challenge_input"): CHALLENGE})
    h.wait_for_listeners()
    with unit_of_work(h.container.sessions) as s:  # the receipt could never be delivered
        receipt = s.scalars(
            select(OutboxMessage).where(OutboxMessage.notice == "ask_received")
        ).one()
        receipt.status = OutboxStatus.DEAD
    h.settle()
    assert h.dms(asker) == []

    h.click(helper, h.dms(helper)[0], "offer_accept")

    told = h.texts(asker)
    assert len(told) == 1 and "accepted and you are both in a new group DM" in told[0]


def test_an_offer_slack_refuses_for_its_content_ends_the_ask_and_skips_nobody(
    harness: Harness,
) -> None:
    """The same message would be refused for every helper: no walk through all of them."""
    h = harness
    helpers = [
        h.add_helper(name, f"{name} gave hard feedback to senior engineers.")
        for name in ("fiona", "gus", "hana")
    ]
    asker = h.add_user("alex")
    h.emulator.inject_error("chat.postMessage", "invalid_blocks", status=200, times=1)

    h.ask(asker, CHALLENGE)

    assert all(h.dms(u) == [] for u in helpers)
    with unit_of_work(h.container.sessions) as s:
        assert [o.status for o in s.scalars(select(Offer))] == [OfferStatus.SKIPPED]
        assert all(p.can_be_messaged for p in s.scalars(select(Person)))
    told = h.texts(asker)
    assert any("Slack would not let us send your request" in t for t in told)
