"""Programme settings, stored per workspace by its admins, with environment values as defaults.

The running code reads them through small lookups (:func:`match_policy`, :func:`checkin_plan`,
:func:`helper_approval`) at the moment it acts, so a change takes effect on the next ask, the
next pair, the next sign-up. Every change is logged with who made it, the old and the new value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from peerbot.store.models import ProgrammeSetting, ProgrammeSettingChange, Workspace

if TYPE_CHECKING:
    from peerbot.services.asks import MatchPolicy


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
        Spec("checkin_hour", "Check-in hour (asker's time)", int, 9, 16),
        Spec("helper_approval", "New helpers", str, choices=("open", "admin"),
             help="open: anyone who signs up; admin: an admin approves each new helper"),
    )
}  # fmt: skip

#: Defaults of the settings that have no environment variable.
BUILT_IN: dict[str, Any] = {
    "checkin_cadence": "weekly",
    "checkin_hour": 10,
    "helper_approval": "open",
}


def defaults_from(settings: Any) -> dict[str, Any]:
    """The defaults: the environment's values (``Settings``), and the built-in ones."""
    return {
        **BUILT_IN,
        "offer_timeout_working_hours": float(settings.offer_timeout_working_hours),
        "max_offers_per_ask": int(settings.max_offers_per_ask),
        "parallel_offers": int(settings.parallel_offers),
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


def stored(session: Session, team_id: str) -> dict[str, Any]:
    """The values an admin set for ``team_id``."""
    rows = session.execute(
        select(ProgrammeSetting.key, ProgrammeSetting.value).where(
            ProgrammeSetting.team_id == team_id
        )
    ).all()
    return {k: v for k, v in rows if k in SPECS}


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
    if session.get(Workspace, team_id) is None:
        session.add(Workspace(team_id=team_id, installed_at=now))
        session.flush()
    current = effective(session, team_id, defaults)
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
    )


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
