"""Programme settings: validation, the audit log, the lookups the running code uses, and what
is left of an admin who is forgotten (both databases)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from peerbot.services.asks import MatchPolicy
from peerbot.services.programme_settings import (
    audit_log,
    change,
    checkin_plan,
    effective,
    forget_admin,
    helper_approval,
    match_policy,
    parse,
)
from peerbot.store.models import AdminDigest, AdminLink, ProgrammeSetting

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
DEFAULTS = {"offer_timeout_working_hours": 4.0, "max_offers_per_ask": 3, "parallel_offers": 1}


def test_parse() -> None:
    assert parse("max_offers_per_ask", " 5 ") == (5, None)
    assert parse("max_offers_per_ask", "11") == (None, "between 1 and 10")
    assert parse("max_offers_per_ask", "lots") == (None, "a whole number")
    assert parse("offer_timeout_working_hours", "2.5") == (2.5, None)
    assert parse("checkin_cadence", "daily") == (None, "one of weekly, biweekly")
    assert parse("helper_approval", "admin") == ("admin", None)
    assert parse("nope", "1") == (None, "unknown setting")


def test_changes_are_logged_and_read_by_the_lookups(db_session: Session) -> None:
    base = MatchPolicy(offer_timeout_working_hours=4.0, max_offers=3, parallel=1)
    assert match_policy(db_session, "T1", base) is base
    assert checkin_plan(db_session, "T1") == ("weekly", time(10))
    assert helper_approval(db_session, "T1") == "open"

    changes, errors = change(
        db_session, "T1", "UADM", {"max_offers_per_ask": "x", "parallel_offers": "2"}, DEFAULTS, NOW
    )
    assert changes == [] and errors == {"max_offers_per_ask": "a whole number"}
    assert effective(db_session, "T1", DEFAULTS)["parallel_offers"] == 1  # nothing half-saved

    changes, errors = change(
        db_session,
        "T1",
        "UADM",
        {"parallel_offers": "2", "max_offers_per_ask": "3", "checkin_hour": "14",
         "checkin_cadence": "biweekly", "helper_approval": "admin"},
        DEFAULTS,
        NOW,
    )  # fmt: skip
    assert errors == {}
    assert {c.key for c in changes} == {
        "parallel_offers", "checkin_hour", "checkin_cadence", "helper_approval"
    }  # unchanged max_offers_per_ask is not logged  # fmt: skip
    policy = match_policy(db_session, "T1", base)
    assert (policy.parallel, policy.max_offers) == (2, 3)
    assert checkin_plan(db_session, "T1") == ("biweekly", time(14))
    assert helper_approval(db_session, "T1") == "admin"
    assert match_policy(db_session, "T2", base) is base  # other workspaces untouched

    change(db_session, "T1", "UOTHER", {"parallel_offers": "1"}, DEFAULTS, NOW)
    log = audit_log(db_session, "T1")
    assert (log[0].key, log[0].old, log[0].new, log[0].by) == ("parallel_offers", 2, 1, "UOTHER")
    assert len(log) == 5


def test_a_forgotten_admin_leaves_no_id(db_session: Session) -> None:
    change(db_session, "T1", "UADM", {"parallel_offers": "2"}, DEFAULTS, NOW)
    db_session.add_all(
        [
            AdminLink(token_id="x", team_id="T1", user_id="UADM", expires_at=NOW),
            AdminDigest(team_id="T1", user_id="UADM", week_start=date(2026, 11, 16), sent_at=NOW),
        ]
    )
    db_session.flush()
    forget_admin(db_session, "T1", "UADM")
    assert db_session.scalars(select(AdminLink)).all() == []
    assert db_session.scalars(select(AdminDigest)).all() == []
    assert db_session.scalars(select(ProgrammeSetting.updated_by)).all() == ["forgotten"]
    assert [c.by for c in audit_log(db_session, "T1")] == ["forgotten"]
    assert effective(db_session, "T1", DEFAULTS)["parallel_offers"] == 2


def test_working_hours_circles_and_retention(db_session: Session) -> None:
    from peerbot.domain.schedule import WorkingHours
    from peerbot.services.circles import CirclePolicy
    from peerbot.services.programme_settings import (
        circle_policy,
        retention_days,
        retention_overrides,
        working_hours,
    )

    assert parse("working_start_hour", "4") == (None, "between 5 and 12")
    assert parse("working_end_hour", "23") == (None, "between 13 and 22")
    assert parse("circle_target_size", "11") == (None, "between 4 and 10")
    assert parse("retention_days", "29") == (None, "between 30 and 3650")
    base = CirclePolicy(every_weeks=4, length_weeks=6, target_size=6)
    assert working_hours(db_session, "T1") == WorkingHours()
    assert circle_policy(db_session, "T1", base) is base
    assert retention_days(db_session, "T1", 365) == 365

    # valid alone, not together: at the field that breaks the rule, nothing stored
    short = {"working_start_hour": "10", "working_end_hour": "13"}
    _, errors = change(db_session, "T1", "UADM", short, DEFAULTS, NOW)
    assert errors == {"working_end_hour": "an end at least 4 hours after the start (10:00)"}
    _, errors = change(db_session, "T1", "UADM", {"working_start_hour": "11"}, DEFAULTS, NOW)
    assert errors == {"working_start_hour": "working hours that include the check-in hour (10:00)"}
    assert retention_overrides(db_session) == {} and audit_log(db_session, "T1") == []

    changes, errors = change(
        db_session,
        "T1",
        "UADM",
        {"working_start_hour": "11", "working_end_hour": "19", "checkin_hour": "11",
         "circle_every_weeks": "2", "circle_target_size": "5", "retention_days": "90"},
        DEFAULTS,
        NOW,
    )  # fmt: skip
    assert errors == {} and len(changes) == 6
    assert working_hours(db_session, "T1") == WorkingHours(time(11), time(19))
    policy = match_policy(
        db_session, "T1", MatchPolicy(offer_timeout_working_hours=4.0, max_offers=3, parallel=1)
    )
    assert policy.working_hours == WorkingHours(time(11), time(19))
    assert circle_policy(db_session, "T1", base) == CirclePolicy(
        every_weeks=2, length_weeks=6, target_size=5
    )
    assert retention_days(db_session, "T1", 365) == 90
    assert retention_overrides(db_session) == {"T1": 90}
    assert working_hours(db_session, "T2") == WorkingHours()  # other workspaces untouched
