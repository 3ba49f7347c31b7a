"""Programme settings beyond the offer ones, through the emulator: an admin changes the working
hours, the circle rounds or the retention period in the settings modal, and the next ask,
check-in, round or retention run uses the new value; bad combinations are answered at their
field; a member's forged change is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from peerbot.domain.ports import Embedder
from peerbot.domain.privacy import is_redacted
from peerbot.slack import admin_blocks as ab
from peerbot.store.db import unit_of_work
from peerbot.store.models import Ask, AskStatus, Checkin, CheckinKind, Circle, Offer
from tests.fixtures.app import Harness, make_harness
from tests.journey.test_accountability import CHALLENGE, paired
from tests.journey.test_circles import join

LA = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def h(engine: Engine, db_url: str, real_embedder: Embedder) -> Iterator[Harness]:
    """The app with a dashboard address (as in the other admin tests)."""
    yield from make_harness(
        engine, db_url, real_embedder, admin_base_url="https://peerbot.example.com"
    )


def submit(h: Harness, user: str, values: dict[str, str]) -> Any:
    """``user`` opens Programme settings from App Home (as an admin would) and submits
    ``values`` (setting key → text); returns the submission's answer."""
    admin = h.users.get("ada") or h.add_user("ada", is_admin=True)
    assert h.driver.app_home_opened(admin).status == 200
    h.settle()
    home = h.emulator.home_view(admin)
    assert home is not None
    assert h.driver.block_action(admin, ab.ADMIN_SETTINGS, view_id=home["id"]).status == 200
    h.settle()
    modal = h.emulator.top_modal(admin)
    assert modal is not None and modal["callback_id"] == ab.ADMIN_SETTINGS_CALLBACK
    state = {(f"ps_{k}", "value"): v for k, v in values.items()}
    r = h.driver.view_submission(user, modal["id"], state, apply_response=False)
    assert r.status == 200
    h.settle()
    return r


def settings(h: Harness) -> dict[str, Any]:
    from peerbot.app import build_programme_admin

    return dict(build_programme_admin(h.container, http_mode=True).settings(h.team))


def test_working_hours_move_answer_windows_checkins_and_nudges(h: Harness) -> None:
    ada = h.add_user("ada", is_admin=True)
    # A working day that leaves the check-in hour (10:00, submitted with the modal's other
    # fields) outside is refused at the check-in hour's field.
    r = submit(h, ada, {"working_start_hour": "12", "working_end_hour": "20"})
    assert r.body == {
        "response_action": "errors",
        "errors": {"ps_checkin_hour": "Please enter an hour inside working hours, from 12 to 19."},
    }
    r = submit(h, ada, {"working_start_hour": "12", "working_end_hour": "14"})
    assert r.body["errors"] == {
        "ps_working_end_hour": "Please enter an end at least 4 hours after the start (12:00)."
    }
    assert settings(h)["working_start_hour"] == 9  # nothing half-saved
    r = submit(h, ada, {"working_start_hour": "12", "working_end_hour": "20", "checkin_hour": "13"})
    assert r.body is None or r.body.get("response_action") != "errors", r.body
    assert (settings(h)["working_start_hour"], settings(h)["working_end_hour"]) == (12, 20)

    # The next ask (Monday 09:00 in Los Angeles): the helper's 4 working hours start at noon.
    asker, _helper = paired(h)
    with unit_of_work(h.container.sessions) as s:
        offer = s.scalars(select(Offer)).one()
        assert offer.expires_at is not None
        assert offer.expires_at.astimezone(LA).time() == time(16, 0)  # 12:00 + 4 h, not 13:00
        checkin = s.scalars(select(Checkin).where(Checkin.kind == CheckinKind.ASKER)).one()
        first = checkin.due_at
        assert first.astimezone(LA).time() == time(13, 0)
        monthly = s.scalars(select(Checkin).where(Checkin.kind == CheckinKind.HELPER_MONTHLY)).one()
        assert monthly.due_at.astimezone(LA).time() == time(12, 0)  # 10:00 is before the day

    # The server was down: the tick runs at 20:30 their time, after the working day; the
    # check-in waits for 12:00 the next weekday (not 09:00).
    late = datetime.combine(first.astimezone(LA).date(), time(20, 30), tzinfo=LA)
    h.clock.advance(late - h.clock.now())
    assert h.container.pairs.run_due() == 0
    with unit_of_work(h.container.sessions) as s:
        waiting = s.get_one(Checkin, checkin.id)
        assert waiting.sent_at is None
        assert waiting.due_at.astimezone(LA).time() == time(12, 0)
        assert waiting.due_at.astimezone(LA).date() > late.date()
        moved = waiting.due_at
    h.clock.advance(moved - h.clock.now())
    assert h.container.pairs.run_due() == 1
    h.settle()
    assert h.dms(asker)  # the check-in reached the asker


def test_circle_rounds_follow_the_workspace_settings(h: Harness) -> None:
    ada = h.add_user("ada", is_admin=True)
    users = [h.add_user(f"c{i}", tz="Europe/London") for i in range(8)]
    for uid in users:
        join(h, uid, "Running effective one-to-ones with my reports", "Engineering")
    h.advance(timedelta(weeks=1, hours=1))
    with unit_of_work(h.container.sessions) as s:
        assert s.scalars(select(Circle)).all() == []  # the default: a round every 4 weeks

    r = submit(h, ada, {"circle_every_weeks": "0"})
    assert r.body["errors"] == {"ps_circle_every_weeks": "Please enter between 1 and 52."}
    r = submit(
        h,
        ada,
        {"circle_every_weeks": "1", "circle_length_weeks": "2", "circle_target_size": "4"},
    )
    assert r.body is None or r.body.get("response_action") != "errors", r.body

    h.advance(timedelta(hours=1))  # the next tick forms the round, under the new settings
    with unit_of_work(h.container.sessions) as s:
        circles = s.scalars(select(Circle)).all()
        assert len(circles) == 2, "target 4: eight people make two circles"
        for c in circles:
            assert c.ends_at - c.starts_at == timedelta(weeks=2)


def test_retention_is_per_workspace_and_told_truthfully(h: Harness) -> None:
    ada = h.add_user("ada", is_admin=True)
    sam = h.add_user("sam")
    h.add_helper("fiona", "Gave hard feedback to senior engineers about behaviour.")
    h.ask(sam, CHALLENGE)
    with unit_of_work(h.container.sessions) as s:  # the ask ended 40 days ago
        ask = s.scalars(select(Ask)).one()
        ask.status, ask.closed_at = AskStatus.CANCELLED, h.clock.now() - timedelta(days=40)
    privacy = h.container.privacy
    assert privacy.apply_retention().asks_redacted == 0  # the default: 365 days

    # a member's forged change is refused
    r = submit(h, sam, {"retention_days": "30"})
    assert r.body["response_action"] == "errors"
    assert settings(h)["retention_days"] == 365
    r = submit(h, ada, {"retention_days": "7"})
    assert r.body["errors"] == {"ps_retention_days": "Please enter between 30 and 3650."}
    r = submit(h, ada, {"retention_days": "30"})
    assert r.body is None or r.body.get("response_action") != "errors", r.body

    # people are told the workspace's period, and the next retention run uses it
    told = h.driver.slash_command("/peerhelp", sam, "privacy")
    assert "30 days" in str(told.body) and "365 days" not in str(told.body)
    assert privacy.apply_retention().asks_redacted == 1
    with unit_of_work(h.container.sessions) as s:
        assert is_redacted(s.scalars(select(Ask)).one().challenge)

    from peerbot.app import build_programme_admin

    log = build_programme_admin(h.container, http_mode=True).audit(h.team, ada)
    assert [(c.key, c.old, c.new, c.by) for c in log] == [("retention_days", 365, 30, ada)]


def test_circle_texts_follow_the_workspace_size_and_length(h: Harness) -> None:
    """App Home and the join dialog describe circles as this workspace forms them: a target of
    10 makes circles of 4–10, and a length of 8 weeks is said as such."""
    ada = h.add_user("ada", is_admin=True)
    sam = h.add_user("sam")
    r = submit(h, ada, {"circle_length_weeks": "8", "circle_target_size": "10"})
    assert r.body is None or r.body.get("response_action") != "errors", r.body
    assert h.driver.app_home_opened(sam).status == 200
    h.settle()
    home = json.dumps(h.emulator.home_view(sam))
    assert "meeting weekly for 8 weeks" in home and "six weeks" not in home
    assert h.driver.slash_command("/peerhelp", sam, "circle").status == 200
    h.settle()
    modal = json.dumps(h.emulator.top_modal(sam), ensure_ascii=False)
    assert "small groups (4–10)" in modal and "(4–8)" not in modal
