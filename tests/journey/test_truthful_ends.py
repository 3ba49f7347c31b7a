"""Ends told truly, through real Bolt request handling and the Slack emulator, on both
databases: a request still waiting after "Tell me when someone can" (in App Home, and when its
asker leaves), a closed pairing's old buttons, and leaving a circle."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from peerbot.store.db import unit_of_work
from peerbot.store.models import Ask, AskStatus
from tests.fixtures.app import Harness
from tests.journey.test_accountability import last_with
from tests.journey.test_follow_through import CHALLENGE, FEEDBACK_EXPERT
from tests.journey.test_privacy import _deactivate


def _waiting_ask(h: Harness) -> str:
    """An asker whose request nobody could take, waiting after "Tell me when someone can"."""
    asker = h.add_user("alex")
    h.ask(asker, CHALLENGE)
    h.click(asker, last_with(h.dms(asker), "We are sorry"), "ask_wait_for_helper")
    return asker


def test_a_waiting_request_of_someone_who_left_slack_is_offered_to_nobody(
    harness: Harness,
) -> None:
    """Someone deactivated in Slack has what is in progress ended: that includes a request
    still waiting after it went unmet, which a helper opting in later must not be offered."""
    h = harness
    asker = _waiting_ask(h)
    _deactivate(h, asker)
    with unit_of_work(h.container.sessions) as s:
        ask = s.scalars(select(Ask)).one()
        assert ask.status == AskStatus.CANCELLED and ask.waiting_until is None
    helper = h.add_helper("fiona", FEEDBACK_EXPERT)
    h.advance(timedelta(minutes=1))
    assert h.dms(helper) == []
