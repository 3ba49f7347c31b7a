"""Programme settings, stored per workspace by its admins, with environment values as defaults.

The running code reads them through small lookups (:func:`match_policy`, :func:`checkin_plan`,
:func:`working_hours`, :func:`circle_policy`, :func:`retention_days`, :func:`helper_approval`)
at the moment it acts, so a change takes effect on the next ask, the next pair, the next check-in,
the next circle round, the next retention run, the next sign-up. Every change is logged with
who made it, the old and the new value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from peerbot.domain.schedule import WorkingHours
from peerbot.store.models import ProgrammeSetting, ProgrammeSettingChange, Workspace

if TYPE_CHECKING:
    from peerbot.services.asks import MatchPolicy
    from peerbot.services.circles import CirclePolicy


@dataclass(frozen=True)
class Spec:
    """One setting: its label, type and allowed values."""

    key: str
    label: str
    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""


SPECS: dict[str, Spec] = {
    s.key: s
    for s in (
        Spec("offer_timeout_working_hours", "Hours a helper has to answer", float, 1, 80,
             help="working hours, in the helper's time zone"),
        Spec("max_offers_per_ask", "Helpers asked per request", int, 1, 10),
        Spec("parallel_offers", "Helpers asked at once", int, 1, 2),
        Spec("checkin_cadence", "Check-in cadence", str, choices=("weekly", "biweekly")),
        Spec("checkin_hour", "Check-in hour (asker's time)", int, 5, 21,
             help="inside working hours"),
        Spec("working_start_hour", "Working day starts at (hour)", int, 5, 12,
             help="each person's own time zone, Monday to Friday: offers' answer windows, "
                  "check-ins and nudges count and fall in working hours"),
        Spec("working_end_hour", "Working day ends at (hour)", int, 13, 22,
             help="at least 4 hours after the start"),
        Spec("helper_approval", "New helpers", str, choices=("open", "admin"),
             help="open: anyone who signs up; admin: an admin approves each new helper"),
        Spec("circle_every_weeks", "Weeks between circle rounds", int, 1, 52),
        Spec("circle_length_weeks", "Weeks a circle runs", int, 2, 26),
        Spec("circle_target_size", "People per circle", int, 4, 10),
        Spec("retention_days", "Days a request's text is kept after it ends", int, 30, 3650,
             help="then the text is redacted; people are told this period"),
    )
}  # fmt: skip

#: Defaults of the settings that have no environment variable.
BUILT_IN: dict[str, Any] = {
    "checkin_cadence": "weekly",
    "checkin_hour": 10,
    "helper_approval": "open",
    "working_start_hour": 9,
    "working_end_hour": 17,
}

#: The shortest working day an admin may set, in hours.
MIN_WORKING_DAY = 4


def defaults_from(settings: Any) -> dict[str, Any]:
    """The defaults: the environment's values (``Settings``), and the built-in ones."""
    return {
        **BUILT_IN,
        "offer_timeout_working_hours": float(settings.offer_timeout_working_hours),
        "max_offers_per_ask": int(settings.max_offers_per_ask),
        "parallel_offers": int(settings.parallel_offers),
        "circle_every_weeks": int(settings.circle_every_weeks),
        "circle_length_weeks": int(settings.circle_length_weeks),
        "circle_target_size": int(settings.circle_target_size),
        "retention_days": int(settings.retention_days),
    }


def parse(key: str, raw: object) -> tuple[Any, str | None]:
    """``(value, None)`` for a valid value of ``key``, else ``(None, message)``."""
    spec = SPECS.get(key)
    if spec is None:
        return None, "unknown setting"
    text = str(raw).strip()
    if spec.choices:
        return (text, None) if text in spec.choices else (None, f"one of {', '.join(spec.choices)}")
    try:
        value: float = float(text) if spec.kind is float else int(text)
    except ValueError:
        return None, "a whole number" if spec.kind is int else "a number"
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        return None, f"between {spec.low:g} and {spec.high:g}"
    return value, None


#: ``Session.info`` key: when set (to a dict), each workspace's settings are read once for the
#: rest of that session; for batch jobs that read them per row and change none (the tick's
#: check-ins).
READ_ONCE = "peerbot.programme_settings.read_once"


def remember(session: Session, team_id: str, rows: Iterable[tuple[str | None, Any]]) -> None:
    """Take ``rows`` ((key, value) of every setting of ``team_id``, read by the caller's own
    statement; a key of None: no row) as the workspace's settings for the rest of the session:
    :func:`stored` does not read them again (:data:`READ_ONCE`)."""
    memo: dict[str, dict[str, Any]] = session.info.setdefault(READ_ONCE, {})
    memo[team_id] = {k: v for k, v in rows if k is not None and k in SPECS}


def stored(session: Session, team_id: str) -> dict[str, Any]:
    """The values an admin set for ``team_id``."""
    memo: dict[str, dict[str, Any]] | None = session.info.get(READ_ONCE)
    if memo is not None and team_id in memo:
        return dict(memo[team_id])
    rows = session.execute(
        select(ProgrammeSetting.key, ProgrammeSetting.value).where(
            ProgrammeSetting.team_id == team_id
        )
    ).all()
    values = {k: v for k, v in rows if k in SPECS}
    if memo is not None:
        memo[team_id] = dict(values)
    return values


def effective(session: Session, team_id: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting of ``team_id``: the stored value, else the default."""
    return {**BUILT_IN, **defaults, **stored(session, team_id)}


@dataclass(frozen=True)
class Change:
    """One logged change."""

    key: str
    old: Any
    new: Any
    by: str
    at: datetime


def change(
    session: Session,
    team_id: str,
    user_id: str,
    values: Mapping[str, Any],
    defaults: Mapping[str, Any],
    now: datetime,
) -> tuple[list[Change], dict[str, str]]:
    """Store the valid ``values`` that differ from the current ones and log each change.

    Returns ``(changes, errors by key)``; with any error nothing is stored (the caller shows
    the errors at their fields). The caller checks that ``user_id`` is an admin."""
    parsed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, raw in values.items():
        value, error = parse(key, raw)
        if error:
            errors[key] = error
        else:
            parsed[key] = value
    if errors:
        return [], errors
    current = effective(session, team_id, defaults)
    errors = _together({**current, **parsed}, parsed)
    if errors:
        return [], errors
    if session.get(Workspace, team_id) is None:
        session.add(Workspace(team_id=team_id, installed_at=now))
        session.flush()
    changes: list[Change] = []
    for key, value in parsed.items():
        if current.get(key) == value:
            continue
        row = session.get(ProgrammeSetting, (team_id, key))
        if row is None:
            session.add(
                ProgrammeSetting(
                    team_id=team_id, key=key, value=value, updated_at=now, updated_by=user_id
                )
            )
        else:
            row.value, row.updated_at, row.updated_by = value, now, user_id
        session.add(
            ProgrammeSettingChange(
                team_id=team_id,
                key=key,
                old_value=current.get(key),
                new_value=value,
                changed_by=user_id,
                changed_at=now,
            )
        )
        changes.append(Change(key, current.get(key), value, user_id, now))
    session.flush()
    return changes, {}


def _together(values: Mapping[str, Any], submitted: Mapping[str, Any]) -> dict[str, str]:
    """Errors of settings that are valid alone but not together (the working day, and the
    check-in hour inside it), at the submitted field that breaks the rule."""
    start, end = int(values["working_start_hour"]), int(values["working_end_hour"])
    errors: dict[str, str] = {}
    if end - start < MIN_WORKING_DAY:
        key = "working_end_hour" if "working_end_hour" in submitted else "working_start_hour"
        errors[key] = f"an end at least {MIN_WORKING_DAY} hours after the start ({start}:00)"
    elif not start <= int(values["checkin_hour"]) < end:
        key = (
            "checkin_hour"
            if "checkin_hour" in submitted
            else ("working_start_hour" if "working_start_hour" in submitted else "working_end_hour")
        )
        errors[key] = (
            f"working hours that include the check-in hour ({values['checkin_hour']}:00)"
            if key != "checkin_hour"
            else f"an hour inside working hours, from {start} to {end - 1}"
        )
    return errors


def audit_log(session: Session, team_id: str, limit: int = 50) -> list[Change]:
    """The latest changes, newest first."""
    rows = session.scalars(
        select(ProgrammeSettingChange)
        .where(ProgrammeSettingChange.team_id == team_id)
        .order_by(ProgrammeSettingChange.changed_at.desc(), ProgrammeSettingChange.id.desc())
        .limit(limit)
    )
    return [Change(r.key, r.old_value, r.new_value, r.changed_by, r.changed_at) for r in rows]


# --------------------------------------------------------------------------- lookups


def match_policy(session: Session, team_id: str, base: MatchPolicy) -> MatchPolicy:
    """``base`` (from the environment) with the workspace's stored offer settings on top."""
    values = stored(session, team_id)
    if not values:
        return base
    return replace(
        base,
        offer_timeout_working_hours=float(
            values.get("offer_timeout_working_hours", base.offer_timeout_working_hours)
        ),
        max_offers=int(values.get("max_offers_per_ask", base.max_offers)),
        parallel=int(values.get("parallel_offers", base.parallel)),
        working_hours=_hours(values, base.working_hours),
    )


def _hours(values: Mapping[str, Any], base: WorkingHours) -> WorkingHours:
    if "working_start_hour" not in values and "working_end_hour" not in values:
        return base
    return WorkingHours(
        start=time(int(values.get("working_start_hour", base.start.hour)), 0),
        end=time(int(values.get("working_end_hour", base.end.hour)), 0),
    )


def working_hours(session: Session, team_id: str) -> WorkingHours:
    """The workspace's working day (each person's own time zone): offers' answer windows,
    check-ins and nudges are counted in it and fall inside it."""
    return _hours(stored(session, team_id), WorkingHours())


def circle_policy(session: Session, team_id: str, base: CirclePolicy) -> CirclePolicy:
    """``base`` (from the environment) with the workspace's stored circle settings on top."""
    values = stored(session, team_id)
    if not any(k.startswith("circle_") for k in values):
        return base
    return replace(
        base,
        every_weeks=int(values.get("circle_every_weeks", base.every_weeks)),
        length_weeks=int(values.get("circle_length_weeks", base.length_weeks)),
        target_size=int(values.get("circle_target_size", base.target_size)),
    )


def retention_days(session: Session, team_id: str, default: int) -> int:
    """Days an ended ask's text is kept in ``team_id`` (``default``: the environment's)."""
    return int(stored(session, team_id).get("retention_days", default))


def retention_overrides(session: Session) -> dict[str, int]:
    """Workspace → its stored retention period in days, for the workspaces that set one."""
    rows = session.execute(
        select(ProgrammeSetting.team_id, ProgrammeSetting.value).where(
            ProgrammeSetting.key == "retention_days"
        )
    ).all()
    return {team_id: int(value) for team_id, value in rows}


def checkin_plan(session: Session, team_id: str) -> tuple[str, time]:
    """The workspace's check-in cadence and local hour for new pairs."""
    values = stored(session, team_id)
    cadence = str(values.get("checkin_cadence", BUILT_IN["checkin_cadence"]))
    return cadence, time(int(values.get("checkin_hour", BUILT_IN["checkin_hour"])), 0)


def helper_approval(session: Session, team_id: str) -> str:
    """``open`` or ``admin`` (an admin approves each new helper)."""
    return str(stored(session, team_id).get("helper_approval", BUILT_IN["helper_approval"]))


#: ``helper_profiles.consent`` of a helper who signed up while the workspace's helper approval
#: is ``admin``: opted out (offered nothing) until an admin approves.
AWAITING_APPROVAL = "awaiting_approval"


def awaits_approval(session: Session, team_id: str, consent: str, first_save: bool) -> bool:
    """Whether a helper saving their profile (opted in) must wait for an admin: the workspace
    asks for approval and this is a new sign-up (or one still waiting)."""
    if consent == AWAITING_APPROVAL:
        return True
    return first_save and consent == "self" and helper_approval(session, team_id) == "admin"


def forget_admin(session: Session, team_id: str, user_id: str) -> None:
    """A forgotten person's traces in the programme tables: sign-in links and digest records
    deleted; the settings they changed keep their values, logged as changed by "forgotten"."""
    from sqlalchemy import delete, update

    from peerbot.store.models import AdminDigest, AdminLink

    session.execute(
        delete(AdminLink).where(AdminLink.team_id == team_id, AdminLink.user_id == user_id)
    )
    session.execute(
        delete(AdminDigest).where(AdminDigest.team_id == team_id, AdminDigest.user_id == user_id)
    )
    session.execute(
        update(ProgrammeSetting)
        .where(ProgrammeSetting.team_id == team_id, ProgrammeSetting.updated_by == user_id)
        .values(updated_by="forgotten")
    )
    session.execute(
        update(ProgrammeSettingChange)
        .where(
            ProgrammeSettingChange.team_id == team_id, ProgrammeSettingChange.changed_by == user_id
        )
        .values(changed_by="forgotten")
    )
