"""Helper profiles through Slack: `/peerhelp helper`, App Home, field errors, pause, never-match."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from peerbot.store.db import unit_of_work
from peerbot.store.models import Offer, Person
from tests.fixtures.app import Harness
from tests.journey.test_ask_accept import text_of

ASK = "How do I give hard feedback to a senior engineer about behaviour in reviews?"
EXPERTISE = "Gave hard feedback to senior engineers about behaviour many times."


def open_profile(h: Harness, user: str) -> str:
    assert h.driver.slash_command("/peerhelp", user, "helper").status == 200
    h.settle()
    modal = h.emulator.top_modal(user)
    assert modal is not None
    assert modal["callback_id"] == "helper_profile"
    return str(modal["id"])


def profile_values(**over: object) -> dict[tuple[str, str], object]:
    values: dict[tuple[str, str], object] = {
        ("profile_opt_in", "profile_opt_in_input"): ["yes"],
        ("profile_expertise", "profile_expertise_input"): EXPERTISE,
        ("profile_topics", "profile_topics_select"): ["feedback", "conflict"],
        ("profile_other_topics", "profile_other_topics_input"): "Working with unions",
        ("profile_years", "profile_years_input"): "9",
        ("profile_capacity", "profile_capacity_select"): "3",
    }
    values.update({tuple(k.split("|")): v for k, v in over.items()})  # type: ignore[misc]
    return values


def test_sign_up_through_the_profile_modal(harness: Harness) -> None:
    h = harness
    helper = h.add_user("fiona")
    view_id = open_profile(h, helper)
    r = h.driver.view_submission(helper, view_id, profile_values())
    assert r.status == 200
    h.settle()
    home = h.emulator.home_view(helper)
    assert home is not None
    shown = "\n".join(b.get("text", {}).get("text", "") for b in home["blocks"] if b.get("text"))
    assert "available, helping 0 of 3" in shown
    assert "Giving hard feedback" in shown and "working with unions" in shown
    # Re-opening shows what was saved.
    view_id = open_profile(h, helper)
    view = h.emulator.view(view_id)
    assert view is not None
    years = next(b for b in view["blocks"] if b.get("block_id") == "profile_years")
    assert years["element"]["initial_value"] == "9"
    # And the helper is matched.
    asker = h.add_user("alex")
    h.ask(asker, ASK)
    assert len(h.dms(helper)) == 1


@pytest.mark.one_database  # the form is refused at its fields before anything is saved
def test_profile_field_errors(harness: Harness) -> None:
    h = harness
    helper = h.add_user("fiona")
    view_id = open_profile(h, helper)
    yesterday = (h.clock.now().date() - timedelta(days=1)).isoformat()
    r = h.driver.view_submission(
        helper,
        view_id,
        {
            **profile_values(),
            ("profile_years", "profile_years_input"): "nine",
            ("profile_pause", "profile_pause_date"): yesterday,
            ("profile_expertise", "profile_expertise_input"): "stuff",
        },
    )
    assert r.body["response_action"] == "errors"
    assert set(r.body["errors"]) == {"profile_years", "profile_pause", "profile_expertise"}
    assert h.emulator.view_is_open(view_id)


def test_paused_helper_is_not_asked_until_the_pause_ends(harness: Harness) -> None:
    h = harness
    helper = h.add_user("fiona")
    view_id = open_profile(h, helper)
    until = (h.clock.now().date() + timedelta(days=3)).isoformat()
    h.driver.view_submission(
        helper, view_id, {**profile_values(), ("profile_pause", "profile_pause_date"): until}
    )
    h.settle()
    # One DM: when the pause ends (by itself), with Resume now.
    (told,) = h.dms(helper)
    assert "You are paused as a helper" in text_of(told)
    asker = h.add_user("alex")
    h.ask(asker, ASK)
    assert h.dms(helper) == [told]  # no offer
    assert "no helper who matches your request is available" in text_of(h.dms(asker)[-1])
    h.clock.advance(timedelta(days=4))
    asker2 = h.add_user("bea")
    h.ask(asker2, ASK)
    assert len(h.dms(helper)) == 2  # resumed by itself: the offer


def test_never_match_and_reporting_line(harness: Harness) -> None:
    h = harness
    asker = h.add_user("alex")
    blocker = h.add_user("fiona")
    view_id = open_profile(h, blocker)
    h.driver.view_submission(
        blocker, view_id, {**profile_values(), ("profile_never", "profile_never_users"): [asker]}
    )
    h.settle()
    other = h.add_helper("gus", EXPERTISE)
    h.ask(asker, ASK)
    assert h.dms(blocker) == []
    assert len(h.dms(other)) == 1


def test_opt_out_stops_offers(harness: Harness) -> None:
    """The opted-out helper (the best match) hears nothing; the ask goes to the next helper."""
    h = harness
    helper = h.add_helper("fiona", EXPERTISE)
    other = h.add_helper("gus", "Coached new managers through their first difficult conversations.")
    view_id = open_profile(h, helper)
    values = profile_values()
    values[("profile_opt_in", "profile_opt_in_input")] = []
    h.driver.view_submission(helper, view_id, values)
    h.settle()
    h.ask(h.add_user("alex"), ASK)
    assert h.dms(helper) == []
    offers = h.dms(other)
    assert len(offers) == 1
    assert "looking for a peer" in text_of(offers[0])
    with unit_of_work(h.container.sessions) as s:
        offered = [o.helper_id for o in s.scalars(select(Offer))]
        gus = s.scalars(select(Person).where(Person.slack_user_id == other)).one()
    assert offered == [gus.id]


def test_opt_out_control_the_best_match_is_asked_first(harness: Harness) -> None:
    """The control for the test above: opted in, fiona is the one asked, not gus."""
    h = harness
    helper = h.add_helper("fiona", EXPERTISE)
    other = h.add_helper("gus", "Coached new managers through their first difficult conversations.")
    h.ask(h.add_user("alex"), ASK)
    assert len(h.dms(helper)) == 1
    assert h.dms(other) == []


def test_user_change_keeps_people_current(harness: Harness) -> None:
    """A helper deactivated in Slack is never offered an ask; a new time zone is picked up."""
    h = harness
    gone = h.add_helper("fiona", EXPERTISE)
    other = h.add_helper("gus", EXPERTISE + " Also coached new managers.")
    h.emulator.delete_user(gone)
    r = h.driver.event({"type": "user_change", "user": h.emulator.user(gone)})
    assert r.status == 200
    h.emulator.set_tz(other, "Asia/Kolkata")
    h.driver.event({"type": "user_change", "user": h.emulator.user(other)})
    # Somebody peerbot never saw: nothing is stored about them.
    stranger = h.add_user("zed")
    h.driver.event({"type": "user_change", "user": h.emulator.user(stranger)})
    h.settle()
    h.ask(h.add_user("alex"), ASK)
    assert h.dms(gone) == []
    assert len(h.dms(other)) == 1
    from sqlalchemy import select

    from peerbot.store.db import unit_of_work
    from peerbot.store.models import Person

    with unit_of_work(h.container.sessions) as s:
        people = {p.slack_user_id: p for p in s.scalars(select(Person))}
    assert people[gone].deleted is True
    assert people[other].tz == "Asia/Kolkata"
    assert stranger not in people
    # No conversations.open was wasted on the deactivated helper.
    assert not any(gone in str(c.args) for c in h.emulator.calls_to("chat.postMessage"))
