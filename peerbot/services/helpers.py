"""Helper profiles: opt in and out, expertise, topics, capacity, pause, never-match."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.notices import HelperInvite, HelperInviteAnswered
from peerbot.domain.ports import Clock, Directory, DirectoryError, Embedder, UserInfo
from peerbot.domain.profiles import ProfileInput
from peerbot.domain.schedule import zone
from peerbot.domain.topics import normalise_topic
from peerbot.services import messages
from peerbot.services.matching import active_pair_counts
from peerbot.services.people import (
    due_for_recheck,
    find_person,
    mark_reachable,
    refresh_known_person,
    upsert_person,
)
from peerbot.services.programme_settings import AWAITING_APPROVAL, awaits_approval
from peerbot.services.vectors import upsert_vector
from peerbot.store.ask_filters import ASKS_LOOKING
from peerbot.store.db import unit_of_work
from peerbot.store.models import (
    Ask,
    EmbeddingOwner,
    HelperNeverMatch,
    HelperProfile,
    Pair,
    PairStatus,
    Person,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProfileView:
    """A profile as shown in App Home and the profile modal."""

    opted_in: bool
    expertise: str
    topics: list[str]
    years_managing: int | None
    function: str
    capacity: int
    paused_until: datetime | None
    never_match: list[str]
    active_pairs: int
    #: Signed up while the workspace's admins approve each new helper, not approved yet
    #: (opted out until then: offered nothing).
    awaiting_approval: bool = False


@dataclass(frozen=True)
class HomeData:
    """Everything App Home shows one person."""

    profile: ProfileView | None
    open_asks: list[tuple[int, str, str]]  # (ask id, challenge, status)
    pairs: list[tuple[int, str, str, bool]]  # (pair id, other person, challenge, i am helper)
    #: Days an ended ask's text is kept (said in App Home's "Your data").
    retention_days: int = 365


def expertise_text(p: HelperProfile) -> str:
    """The text embedded for matching: free-text expertise plus topics and function."""
    parts = [p.expertise or ""]
    if p.topics:
        parts.append("Topics: " + ", ".join(p.topics))
    return "\n".join(x for x in parts if x)


class HelperService:
    """Reads and writes helper profiles; keeps their expertise vectors current."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        embedder: Embedder,
        directory: Directory,
        on_change: Callable[[str, int], None] = lambda team, person: None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._embedder = embedder
        self._directory = directory
        self._on_change = on_change

    def recheck_unreachable(self, limit: int = 100) -> int:
        """Look up again in Slack people marked unreachable a day or more ago: an active
        account may be messaged again. Returns how many were looked up."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            due = [(p.id, p.team_id, p.slack_user_id) for p in due_for_recheck(session, now, limit)]
        for person_id, team_id, user_id in due:
            try:
                info = self._directory.user(team_id, user_id)
            except DirectoryError as err:
                log.info("re-check of %s postponed: %s", user_id, err.reason)
                info = None
                found = False
            else:
                found = True
            with unit_of_work(self._sessions) as session:
                person = session.get(Person, person_id)
                if person is None:
                    continue
                if info is not None and not info.deleted:
                    mark_reachable(person)
                    log.info("%s can be messaged again (re-checked in Slack)", user_id)
                else:
                    person.last_dm_failure_at = now  # look again in a day
                    if found:
                        person.deleted = True
        return len(due)

    def save(
        self,
        team_id: str,
        user_id: str,
        p: ProfileInput,
        *,
        info: UserInfo | None = None,
        manager_user_id: str | None = None,
    ) -> bool:
        """Create or update the profile. Returns True when anything changed. Guests, bots and
        app users are never helpers: their profile is saved opted out."""
        now = self._clock.now()
        if p.opted_in and info is None:
            try:
                info = self._directory.user(team_id, user_id)
            except DirectoryError:
                info = None  # Slack did not answer: the profile is saved as asked
        with unit_of_work(self._sessions) as session:
            changed = self.save_in(session, team_id, user_id, p, now, info, manager_user_id)
            person = find_person(session, team_id, user_id)
            person_id = person.id if person else 0
            own = session.get(HelperProfile, person_id) if person else None
            if own is not None:  # the helper's own choices: a re-import never overwrites them
                first_save = own.edited_at is None
                own.edited_at = now
                if own.consent in ("invited", "declined") and own.opted_in:
                    own.consent = "yes"
                if own.opted_in and awaits_approval(session, team_id, own.consent, first_save):
                    own.opted_in = False  # an admin approves each new helper (programme setting)
                    own.consent = AWAITING_APPROVAL
        if changed:
            self._on_change(team_id, person_id)
        return changed

    def _reindex(
        self, session: Session, team_id: str, person_id: int, profile: HelperProfile, now: datetime
    ) -> None:
        """A changed profile: stamp it and embed its expertise again."""
        profile.updated_at = now
        session.flush()
        upsert_vector(
            session,
            team_id=team_id,
            kind=EmbeddingOwner.HELPER_EXPERTISE,
            owner_id=person_id,
            text=expertise_text(profile),
            embedder=self._embedder,
            now=now,
        )

    def save_in(
        self,
        session: Session,
        team_id: str,
        user_id: str,
        p: ProfileInput,
        now: datetime,
        info: UserInfo | None = None,
        manager_user_id: str | None = None,
    ) -> bool:
        """:meth:`save` inside the caller's unit of work (used by the CSV import)."""
        if info is not None and not info.may_help and p.opted_in:
            p = replace(p, opted_in=False)
        person = upsert_person(session, team_id, user_id, now, info)
        if manager_user_id is not None:
            person.manager_slack_user_id = manager_user_id or None
        profile = session.get(HelperProfile, person.id)
        created = profile is None
        if profile is None:
            profile = HelperProfile(person_id=person.id, team_id=team_id, created_at=now)
            session.add(profile)
        paused = (
            datetime.combine(p.paused_until, time(0, 0), zone(person.tz)).astimezone(UTC)
            if p.paused_until
            else None
        )
        topics = sorted({normalise_topic(t) for t in p.topics if t.strip()})
        new: dict[str, Any] = {
            "opted_in": p.opted_in,
            "expertise": p.expertise,
            "topics": topics,
            "years_managing": p.years_managing,
            "function": p.function or None,
            "capacity": p.capacity,
            "paused_until": paused,
        }
        changed = created or any(getattr(profile, k) != v for k, v in new.items())
        for k, v in new.items():
            setattr(profile, k, v)
        if p.function:
            person.function = p.function
        wanted = set(p.never_match) - {user_id}
        current = set(
            session.scalars(
                select(HelperNeverMatch.blocked_slack_user_id).where(
                    HelperNeverMatch.helper_person_id == person.id
                )
            )
        )
        if wanted != current:
            changed = True
            session.execute(
                delete(HelperNeverMatch).where(
                    HelperNeverMatch.helper_person_id == person.id,
                    HelperNeverMatch.blocked_slack_user_id.in_(current - wanted),
                )
            )
            for blocked in sorted(wanted - current):
                session.add(
                    HelperNeverMatch(
                        helper_person_id=person.id,
                        blocked_slack_user_id=blocked,
                        team_id=team_id,
                        created_at=now,
                    )
                )
        if changed:
            self._reindex(session, team_id, person.id, profile, now)
        return changed

    def import_in(
        self,
        session: Session,
        team_id: str,
        info: UserInfo,
        p: ProfileInput,
        now: datetime,
        manager_user_id: str | None = None,
    ) -> tuple[str, bool]:
        """One CSV row, in the caller's unit of work: a new person is invited (a DM with Yes /
        Not now), never enrolled; an existing profile keeps everything its helper chose
        (opted out, pause, never-match list), and once the helper edited it themselves it is
        not changed at all. Returns (consent state, whether anything changed)."""
        person = find_person(session, team_id, info.user_id)
        profile = session.get(HelperProfile, person.id) if person else None
        if profile is None:
            self.save_in(
                session,
                team_id,
                info.user_id,
                replace(p, opted_in=False),
                now,
                info,
                manager_user_id,
            )
            person = find_person(session, team_id, info.user_id)
            assert person is not None
            profile = session.get(HelperProfile, person.id)
            assert profile is not None
            profile.consent = "invited"
            messages.post(
                session,
                team_id=team_id,
                key=f"invite:{person.id}",
                to=info.user_id,
                notice=HelperInvite(person_id=person.id, capacity=p.capacity),
                now=now,
            )
            return "invited", True
        assert person is not None
        changed = False
        upsert_person(session, team_id, info.user_id, now, info)
        if manager_user_id and person.manager_slack_user_id != manager_user_id:
            person.manager_slack_user_id = manager_user_id
            changed = True
        if profile.edited_at is None:
            topics = sorted({normalise_topic(t) for t in p.topics if t.strip()})
            new: dict[str, Any] = {
                "expertise": p.expertise,
                "topics": topics,
                "years_managing": p.years_managing,
                "function": p.function or None,
                "capacity": p.capacity,
            }
            if any(getattr(profile, k) != v for k, v in new.items()):
                changed = True
                for k, v in new.items():
                    setattr(profile, k, v)
                self._reindex(session, team_id, person.id, profile, now)
        state = profile.consent
        if state in ("self", "yes"):
            state = "helping" if profile.opted_in else "opted_out"
        return state, changed

    def answer_invite(self, team_id: str, user_id: str, yes: bool) -> bool:
        """The invited person said Yes, I'll help (opted in) or Not now; the invitation is
        updated. False when there was no open invitation."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            person = find_person(session, team_id, user_id)
            profile = session.get(HelperProfile, person.id) if person else None
            if person is None or profile is None or profile.consent != "invited":
                return False
            profile.consent = "yes" if yes else "declined"
            profile.opted_in = yes
            profile.updated_at = now
            messages.update(
                session,
                team_id=team_id,
                key=f"invite:{person.id}:answered",
                replaces=f"invite:{person.id}",
                notice=HelperInviteAnswered(person_id=person.id, yes=yes),
                now=now,
            )
            person_id = person.id
        self._on_change(team_id, person_id)
        return True

    def profile_changed(self, team_id: str, info: UserInfo) -> bool:
        """Slack says a member's profile changed (time zone, name, deactivation)."""
        with unit_of_work(self._sessions) as session:
            known = refresh_known_person(session, team_id, info, self._clock.now())
            if known and info.is_guest:  # became a guest: never a helper
                person = find_person(session, team_id, info.user_id)
                profile = session.get(HelperProfile, person.id) if person else None
                if profile is not None and profile.opted_in:
                    profile.opted_in = False
                    profile.updated_at = self._clock.now()
            return known

    def opt_out(self, team_id: str, user_id: str) -> None:
        """Stop being offered asks (existing pairs go on)."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            person = find_person(session, team_id, user_id)
            profile = session.get(HelperProfile, person.id) if person else None
            if profile is not None and profile.opted_in:
                profile.opted_in = False
                profile.updated_at = now

    def _view(self, session: Session, person: Person) -> ProfileView | None:
        profile = session.get(HelperProfile, person.id)
        if profile is None:
            return None
        active = active_pair_counts(session, person.team_id, [person.id]).get(person.id, 0)
        never = session.scalars(
            select(HelperNeverMatch.blocked_slack_user_id).where(
                HelperNeverMatch.helper_person_id == person.id
            )
        )
        now = self._clock.now()
        return ProfileView(
            opted_in=profile.opted_in,
            expertise=profile.expertise,
            topics=list(profile.topics or []),
            years_managing=profile.years_managing,
            function=profile.function or "",
            capacity=profile.capacity,
            paused_until=profile.paused_until
            if profile.paused_until and profile.paused_until > now
            else None,
            never_match=sorted(never),
            active_pairs=int(active or 0),
            awaiting_approval=profile.consent == AWAITING_APPROVAL,
        )

    def profile(self, team_id: str, user_id: str) -> ProfileView | None:
        """The profile of ``user_id``, or None if they never made one."""
        with unit_of_work(self._sessions) as session:
            person = find_person(session, team_id, user_id)
            return self._view(session, person) if person else None

    def home(self, team_id: str, user_id: str) -> HomeData:
        """Profile, open asks and pairs of ``user_id`` for App Home."""
        with unit_of_work(self._sessions) as session:
            person = find_person(session, team_id, user_id)
            if person is None:
                return HomeData(None, [], [])
            asks = session.execute(
                select(Ask.id, Ask.challenge, Ask.status)
                .where(
                    Ask.asker_id == person.id,
                    Ask.status.in_(ASKS_LOOKING),
                )
                .order_by(Ask.created_at.desc())
                .limit(10)
            ).all()
            pairs_rows = session.execute(
                select(Pair, Ask.challenge)
                .join(Ask, Ask.id == Pair.ask_id)
                .where(
                    (Pair.asker_id == person.id) | (Pair.helper_id == person.id),
                    Pair.status != PairStatus.CLOSED,
                )
                .order_by(Pair.created_at.desc())
                .limit(10)
            ).all()
            pairs = []
            for pair, challenge in pairs_rows:
                helping = pair.helper_id == person.id
                other = session.get(Person, pair.asker_id if helping else pair.helper_id)
                pairs.append((pair.id, other.slack_user_id if other else "", challenge, helping))
            return HomeData(
                self._view(session, person),
                [(a, c, s.value) for a, c, s in asks],
                pairs,
            )
