"""Topics picked in the intake reach the helper who helped on that topic before (issue 17)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from peerbot.domain.topics import topic_label
from peerbot.services.people import upsert_person
from peerbot.store.db import unit_of_work
from peerbot.store.models import Ask, AskStatus, Pair, PairStatus, Person, Urgency
from tests.fixtures.app import Harness
from tests.journey.test_ask_accept import text_of

#: Both helpers say the same; each helped once, on the same words, at the same time. Only the
#: topic of the ask they helped on differs, so only the topic can tell them apart.
SAME_EXPERTISE = "Ten years managing engineering teams; glad to think through any people question."
PAST_TEXT = "Could we talk something through this week?"
PAST_TOPIC = {"olga": "onboarding", "carl": "compensation"}
NEW_TEXT = "I would like a second opinion on a plan I am making for next month."


def _past_helps(h: Harness, helpers: dict[str, str]) -> None:
    at = h.clock.now() - timedelta(days=14)
    with unit_of_work(h.container.sessions) as s:
        asker = upsert_person(s, h.team, "UPAST", at)
        for name, topic in PAST_TOPIC.items():
            helper = s.scalars(select(Person).where(Person.slack_user_id == helpers[name])).one()
            ask = Ask(
                team_id=h.team,
                asker_id=asker.id,
                challenge=PAST_TEXT,
                urgency=Urgency.NORMAL,
                anonymous=False,
                status=AskStatus.CLOSED,
                topics=[topic],
                created_at=at,
                updated_at=at,
            )
            s.add(ask)
            s.flush()
            s.add(
                Pair(
                    team_id=h.team,
                    ask_id=ask.id,
                    helper_id=helper.id,
                    asker_id=asker.id,
                    status=PairStatus.CLOSED,
                    created_at=at + timedelta(hours=1),
                    closed_at=at + timedelta(days=7),
                )
            )


@pytest.mark.parametrize("expected", ["olga", "carl"])
def test_an_ask_tagged_with_a_topic_reaches_the_helper_who_helped_on_it(
    harness: Harness, expected: str
) -> None:
    helpers = {name: harness.add_helper(name, SAME_EXPERTISE) for name in PAST_TOPIC}
    _past_helps(harness, helpers)
    topic = PAST_TOPIC[expected]
    asker = harness.add_user("alex")
    view_id = harness.open_intake(asker)
    modal = harness.emulator.view(view_id)
    assert modal is not None
    field = next(b for b in modal["blocks"] if b.get("block_id") == "ask_topics")
    assert field["optional"] is True
    assert topic in [o["value"] for o in field["element"]["options"]]
    r = harness.driver.view_submission(
        asker,
        view_id,
        {
            ("challenge", "challenge_input"): NEW_TEXT,
            ("ask_topics", "ask_topics_select"): [topic],
        },
    )
    assert r.status == 200
    harness.settle()
    chosen, _other = harness.first_offered(helpers["olga"], helpers["carl"])
    assert chosen == helpers[expected]
    # The offer says why, truthfully: one past help on an ask with that topic.
    offer = text_of(harness.dms(chosen)[0])
    assert f"Helped on 1 ask about '{topic_label(topic)}'" in offer
    with unit_of_work(harness.container.sessions) as s:
        stored = s.scalars(select(Ask).where(Ask.challenge == NEW_TEXT)).one()
        assert stored.topics == [topic]


def test_an_ask_without_picked_topics_stores_none(harness: Harness) -> None:
    """Topics are optional: none picked, none stored (the automatic label stands in)."""
    harness.add_helper("olga", SAME_EXPERTISE)
    asker = harness.add_user("alex")
    assert harness.ask(asker, NEW_TEXT).status == 200
    with unit_of_work(harness.container.sessions) as s:
        stored = s.scalars(select(Ask).where(Ask.challenge == NEW_TEXT)).one()
        assert stored.topics is None
        assert stored.topic  # the automatic label, as before
