"""Peer circles: the waiting pool, forming a round, and a circle's weeks (opening, weekly
prompts with a rotating presenter and members' actions, the midpoint pulse, the close-out),
leaving, and closing a circle that fell below three.

Every change records its messages (circle notices, ``peerbot.domain.circle_notices``) in the
outbox in the same transaction. The tick (:meth:`CircleService.run_due`) forms rounds on
schedule and sends what is due, from the tables, so a restart loses nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from peerbot.circles.formation import PoolEntry, Rules, form_circles
from peerbot.circles.hours import has_run, slot_start, slots, week_start, working_mask
from peerbot.domain.circle_notices import (
    ChannelMaker,
    CircleActionAdded,
    CircleClosed,
    CircleNotPlaced,
    CircleOpening,
    CirclePromptDue,
    CirclePulse,
    CirclePulseAnswered,
    CircleSmaller,
    FeedbackKind,
    UnplacedReason,
)
from peerbot.domain.notices import Audience, Notice, Replacing, ToChannel, ToGroup, ToPerson
from peerbot.domain.ports import Clock, Directory, DirectoryError, Embedder
from peerbot.domain.schedule import next_working_moment, zone
from peerbot.domain.wording import counted
from peerbot.services.people import find_person, upsert_person
from peerbot.services.programme_settings import circle_policy, working_hours
from peerbot.store import outbox
from peerbot.store.db import unit_of_work
from peerbot.store.models import (
    Circle,
    CircleAction,
    CircleFeedback,
    CircleFeedbackKind,
    CircleMember,
    CirclePoolEntry,
    CirclePrompt,
    CircleRound,
    CircleStatus,
    HelperNeverMatch,
    HelperProfile,
    Person,
)

log = logging.getLogger(__name__)

#: Shortest and longest "what do you want to work on" (characters).
MIN_TEXT, MAX_TEXT = 10, 600
MAX_FUNCTION = 120
MAX_ACTION = 500
MAX_NOTE = 1000
#: A group DM holds the app and at most this many people; larger circles get a private channel.
GROUP_DM_MAX = 8
#: A circle with fewer members than this is closed.
MIN_ACTIVE = 3
#: How many recent rounds' pairs are not repeated.
AVOID_ROUNDS = 2


class LeaveOutcome(StrEnum):
    """What **Leave this circle** did, for a true reply."""

    LEFT = "left"  # the circle goes on, smaller
    CLOSED_IT = "closed_it"  # too few were left: it closed (the others are told so)
    ALREADY_LEFT = "already_left"
    CIRCLE_CLOSED = "circle_closed"  # it had closed already: nothing to leave, nothing recorded
    NOT_MEMBER = "not_member"


class CircleError(ValueError):
    """Input or state that does not allow the change; ``field`` names the form field, if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CirclePolicy:
    """Settings of circles."""

    every_weeks: int = 4
    length_weeks: int = 6
    target_size: int = 6
    mix_functions: bool = True

    def rules(self) -> Rules:
        """The formation rules these settings give."""
        return Rules(
            target=self.target_size,
            min_size=min(4, self.target_size),
            max_size=max(8, self.target_size),
            mix_functions=self.mix_functions,
        )


@dataclass(frozen=True)
class PoolPlace:
    """A person's place in the waiting pool (1 = waiting longest), out of ``waiting``."""

    position: int
    waiting: int
    text: str
    function: str | None
    next_round_at: datetime | None
    last_reason: UnplacedReason | None


@dataclass(frozen=True)
class MyCircle:
    """The circle a person is in now (for the command and App Home)."""

    circle_id: int
    theme: str
    members: int
    ends_at: datetime
    prompt_id: int | None


@dataclass
class RoundReport:
    """What forming a round did."""

    round_id: int | None = None
    sizes: list[int] = field(default_factory=list)
    unplaced: dict[str, UnplacedReason] = field(default_factory=dict)
    #: Set when no round was formed (e.g. fewer than 4 waiting).
    skipped: str | None = None

    def summary(self) -> str:
        """One line for the CLI and logs."""
        if self.skipped:
            return f"no round formed: {self.skipped}"
        sizes = ", ".join(str(s) for s in self.sizes) or "none"
        return (
            f"round {self.round_id}: {counted(len(self.sizes), 'circle')} (sizes {sizes}); "
            f"{len(self.unplaced)} not placed, kept for the next round"
        )


def _key(*parts: object) -> str:
    return "circle:" + ":".join(str(p) for p in parts)


def _clean(text: str, limit: int) -> str:
    return re.sub(r"\s+", " ", text or "").strip()[:limit]


def prompt_time(tzs: Sequence[str | None], anchor: datetime) -> datetime:
    """The first half hour at or after ``anchor`` inside every member's weekday working hours
    (and starting a window of at least an hour, so the prompt does not land as the day ends);
    when there is none within two weeks, the half hour most of them work."""
    best: tuple[int, datetime] | None = None
    for w in range(3):
        week = week_start(anchor) + timedelta(weeks=w)
        masks = [working_mask(tz, week) for tz in tzs]
        shared = masks[0] if masks else 0
        for m in masks[1:]:
            shared &= m
        for s in slots(shared):
            at = slot_start(week, s)
            if at >= anchor and has_run(shared >> s, 2):
                return at
        if best is None or best[0] < len(tzs):
            union = 0
            for m in masks:
                union |= m
            for s in slots(union):
                at = slot_start(week, s)
                if at < anchor:
                    continue
                count = sum(1 for m in masks if m >> s & 1)
                if best is None or count > best[0]:
                    best = (count, at)
    return best[1] if best else anchor


class CircleService:
    """The use-cases of peer circles."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        embedder: Embedder,
        directory: Directory | None = None,
        channels: ChannelMaker | None = None,
        policy: CirclePolicy = CirclePolicy(),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._embedder = embedder
        self._directory = directory
        self._channels = channels
        self.policy = policy

    def policy_for(self, session: Session, team_id: str) -> CirclePolicy:
        """The circle settings of ``team_id`` now: its programme settings over ``policy``."""
        return circle_policy(session, team_id, self.policy)

    def policy_of(self, team_id: str) -> CirclePolicy:
        """:meth:`policy_for` in its own read: what screens say about circles (their size and
        length) is then this workspace's truth."""
        with unit_of_work(self._sessions) as session:
            return self.policy_for(session, team_id)

    # ------------------------------------------------------------------ the pool

    def join(self, team_id: str, user_id: str, text: str, function: str | None) -> PoolPlace:
        """Join (or update one's entry in) the pool for the next round."""
        text = _clean(text, MAX_TEXT + 1)
        if len(text) < MIN_TEXT:
            raise CircleError(
                "Please say in a sentence what you want to work on (10 characters or more).",
                "text",
            )
        if len(text) > MAX_TEXT:
            raise CircleError(f"Please keep it under {MAX_TEXT} characters.", "text")
        fn = _clean(function or "", MAX_FUNCTION) or None
        info = None
        if self._directory is not None:
            try:
                info = self._directory.user(team_id, user_id)
            except DirectoryError:
                info = None  # the time zone is refreshed on a later lookup
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            person = upsert_person(session, team_id, user_id, now, info)
            if self._active_membership(session, person.id) is not None:
                raise CircleError(
                    "You are in a circle now; you can join the next round once it ends."
                )
            entry = session.scalar(
                select(CirclePoolEntry).where(
                    CirclePoolEntry.team_id == team_id, CirclePoolEntry.person_id == person.id
                )
            )
            if entry is None:
                entry = CirclePoolEntry(team_id=team_id, person_id=person.id, joined_at=now)
                session.add(entry)
            entry.text = text
            entry.function = fn
            session.flush()
            place = self._place(session, team_id, entry)
        return place

    def leave_pool(self, team_id: str, user_id: str) -> bool:
        """Leave the waiting pool; False when they were not in it."""
        with unit_of_work(self._sessions) as session:
            person = find_person(session, team_id, user_id)
            if person is None:
                return False
            entry = session.scalar(
                select(CirclePoolEntry).where(
                    CirclePoolEntry.team_id == team_id, CirclePoolEntry.person_id == person.id
                )
            )
            if entry is None:
                return False
            session.delete(entry)
            return True

    def pool_place(self, team_id: str, user_id: str) -> PoolPlace | None:
        """Their place in the pool, or None when they are not waiting."""
        with unit_of_work(self._sessions) as session:
            person = find_person(session, team_id, user_id)
            if person is None:
                return None
            entry = session.scalar(
                select(CirclePoolEntry).where(
                    CirclePoolEntry.team_id == team_id, CirclePoolEntry.person_id == person.id
                )
            )
            return None if entry is None else self._place(session, team_id, entry)

    def _place(self, session: Session, team_id: str, entry: CirclePoolEntry) -> PoolPlace:
        before = session.scalar(
            select(func.count())
            .select_from(CirclePoolEntry)
            .where(
                CirclePoolEntry.team_id == team_id,
                (CirclePoolEntry.joined_at < entry.joined_at)
                | (
                    (CirclePoolEntry.joined_at == entry.joined_at) & (CirclePoolEntry.id < entry.id)
                ),
            )
        )
        waiting = session.scalar(
            select(func.count())
            .select_from(CirclePoolEntry)
            .where(CirclePoolEntry.team_id == team_id)
        )
        return PoolPlace(
            position=int(before or 0) + 1,
            waiting=int(waiting or 0),
            text=entry.text,
            function=entry.function,
            next_round_at=self._next_round_at(session, team_id),
            last_reason=UnplacedReason(entry.last_reason) if entry.last_reason else None,
        )

    def _next_round_at(self, session: Session, team_id: str) -> datetime | None:
        last = session.scalar(
            select(func.max(CircleRound.formed_at)).where(CircleRound.team_id == team_id)
        )
        if last is None:
            last = session.scalar(
                select(func.min(CirclePoolEntry.joined_at)).where(
                    CirclePoolEntry.team_id == team_id
                )
            )
        every = self.policy_for(session, team_id).every_weeks
        return None if last is None else last + timedelta(weeks=every)

    def my_circle(self, team_id: str, user_id: str) -> MyCircle | None:
        """The circle they are in now, if any."""
        with unit_of_work(self._sessions) as session:
            person = find_person(session, team_id, user_id)
            if person is None:
                return None
            found = self._active_membership(session, person.id)
            if found is None:
                return None
            circle, _member = found
            prompt_id = session.scalar(
                select(CirclePrompt.id)
                .where(CirclePrompt.circle_id == circle.id)
                .order_by(CirclePrompt.week.desc())
                .limit(1)
            )
            return MyCircle(
                circle_id=circle.id,
                theme=circle.theme,
                members=len(self._active_members(session, circle.id)),
                ends_at=circle.ends_at,
                prompt_id=prompt_id,
            )

    def _active_membership(
        self, session: Session, person_id: int
    ) -> tuple[Circle, CircleMember] | None:
        row = session.execute(
            select(Circle, CircleMember)
            .join(CircleMember, CircleMember.circle_id == Circle.id)
            .where(
                CircleMember.person_id == person_id,
                CircleMember.left_at.is_(None),
                Circle.status == CircleStatus.ACTIVE,
            )
            .limit(1)
        ).first()
        return None if row is None else (row[0], row[1])

    # ------------------------------------------------------------------ forming

    def form_round(self, team_id: str, at: datetime | None = None) -> RoundReport:
        """Form circles from everyone waiting in ``team_id`` (needs at least 4). Each circle's
        members leave the pool; those not placed stay and are told why."""
        now = at or self._clock.now()
        with unit_of_work(self._sessions) as session:
            found = session.execute(
                select(CirclePoolEntry, Person)
                .join(Person, Person.id == CirclePoolEntry.person_id)
                .where(CirclePoolEntry.team_id == team_id)
                .order_by(CirclePoolEntry.joined_at, CirclePoolEntry.id)
            ).all()
            rows = [(e, p) for e, p in found if not p.deleted]
            if len(rows) < 4:
                return RoundReport(skipped=f"{len(rows)} waiting; a round needs at least 4")
            vectors = self._embedder.embed([e.text for e, _ in rows])
            people_ids = [p.id for _, p in rows]
            managers = dict(
                session.execute(
                    select(Person.slack_user_id, Person.manager_slack_user_id).where(
                        Person.team_id == team_id
                    )
                ).all()
            )
            never: dict[int, set[str]] = {}
            for pid, blocked in session.execute(
                select(
                    HelperNeverMatch.helper_person_id, HelperNeverMatch.blocked_slack_user_id
                ).where(HelperNeverMatch.helper_person_id.in_(people_ids))
            ):
                never.setdefault(pid, set()).add(blocked)
            experienced = set(
                session.scalars(
                    select(HelperProfile.person_id).where(
                        HelperProfile.person_id.in_(people_ids),
                        HelperProfile.opted_in.is_(True),
                        HelperProfile.consent.in_(("self", "yes")),
                    )
                )
            )
            pool = [
                PoolEntry(
                    id=p.slack_user_id,
                    vector=vectors[i],
                    text=e.text,
                    function=e.function or p.function,
                    tz=p.tz,
                    never_match=frozenset(never.get(p.id, ())),
                    experienced=p.id in experienced,
                )
                for i, (e, p) in enumerate(rows)
            ]
            recent = self._recent_pairs(session, team_id)
            seed = int(
                session.scalar(
                    select(func.count())
                    .select_from(CircleRound)
                    .where(CircleRound.team_id == team_id)
                )
                or 0
            )
            formation = form_circles(
                pool,
                week=week_start(now),
                managers=managers,
                recent_pairs=recent,
                rules=self.policy_for(session, team_id).rules(),
                seed=seed,
            )
            rnd = CircleRound(team_id=team_id, formed_at=now, seed=seed, people=len(pool))
            session.add(rnd)
            session.flush()
            by_user = {p.slack_user_id: (e, p) for e, p in rows}
            report = RoundReport(round_id=rnd.id)
            length_weeks = self.policy_for(session, team_id).length_weeks
            for formed in formation.circles:
                members = [by_user[u] for u in formed.members]
                facilitator = by_user[formed.facilitator][1].id if formed.facilitator else None
                circle = Circle(
                    team_id=team_id,
                    round_id=rnd.id,
                    theme=formed.theme[:200],
                    facilitator_id=facilitator,
                    status=CircleStatus.ACTIVE,
                    private=len(members) > GROUP_DM_MAX,
                    starts_at=now,
                    ends_at=now + timedelta(weeks=length_weeks),
                    pulse_at=now + timedelta(days=7 * length_weeks / 2),
                    prompts_sent=0,
                )
                circle.next_prompt_at = prompt_time(
                    [p.tz for _, p in members], now + timedelta(days=1)
                )
                session.add(circle)
                session.flush()
                for position, (entry, person) in enumerate(members):
                    session.add(
                        CircleMember(
                            team_id=team_id,
                            circle_id=circle.id,
                            person_id=person.id,
                            text=entry.text,
                            function=entry.function or person.function,
                            position=position,
                        )
                    )
                    session.delete(entry)
                session.flush()
                if not circle.private:
                    self._to_circle(
                        session,
                        circle,
                        _key(circle.id, "opening"),
                        now,
                        CircleOpening(circle_id=circle.id),
                    )
                report.sizes.append(len(members))
            for user_id, reason in formation.unplaced.items():
                entry, person = by_user[user_id]
                entry.last_reason = reason.value
                outbox.enqueue(
                    session,
                    team_id=team_id,
                    key=_key("round", rnd.id, "unplaced", person.id),
                    notice=CircleNotPlaced(person_id=person.id, round_id=rnd.id, reason=reason),
                    to=ToPerson(person.slack_user_id),
                    now=now,
                    not_before=next_working_moment(
                        now, zone(person.tz), working_hours(session, team_id)
                    ),
                )
                report.unplaced[user_id] = reason
        self._open_private_channels(team_id)
        return report

    def _recent_pairs(self, session: Session, team_id: str) -> set[frozenset[str]]:
        rounds = list(
            session.scalars(
                select(CircleRound.id)
                .where(CircleRound.team_id == team_id)
                .order_by(CircleRound.formed_at.desc(), CircleRound.id.desc())
                .limit(AVOID_ROUNDS)
            )
        )
        if not rounds:
            return set()
        rows = session.execute(
            select(CircleMember.circle_id, Person.slack_user_id)
            .join(Circle, Circle.id == CircleMember.circle_id)
            .join(Person, Person.id == CircleMember.person_id)
            .where(Circle.round_id.in_(rounds))
        ).all()
        by_circle: dict[int, list[str]] = {}
        for cid, uid in rows:
            by_circle.setdefault(cid, []).append(uid)
        return {
            frozenset((a, b))
            for members in by_circle.values()
            for i, a in enumerate(members)
            for b in members[i + 1 :]
        }

    def _open_private_channels(self, team_id: str | None = None) -> int:
        """Create the private channel of each circle of 9–10 that has none yet, then post its
        opening there. Slack calls happen outside any transaction; a failure is tried again by
        the next tick."""
        if self._channels is None:
            return 0
        with unit_of_work(self._sessions) as session:
            stmt = select(Circle.id, Circle.team_id).where(
                Circle.private.is_(True),
                Circle.channel_id.is_(None),
                Circle.status == CircleStatus.ACTIVE,
            )
            if team_id is not None:
                stmt = stmt.where(Circle.team_id == team_id)
            todo = session.execute(stmt).all()
            plans = [
                (cid, team, tuple(p.slack_user_id for _, p in self._active_members(session, cid)))
                for cid, team in todo
            ]
        made = 0
        for cid, team, users in plans:
            try:
                channel = self._channels.private_channel(team, f"peer-circle-{cid}", users)
            except Exception:
                log.warning("circle %s: could not create its private channel", cid, exc_info=True)
                continue
            with unit_of_work(self._sessions) as session:
                circle = session.get(Circle, cid)
                if circle is None or circle.channel_id is not None:
                    continue
                circle.channel_id = channel
                self._to_circle(
                    session,
                    circle,
                    _key(cid, "opening"),
                    self._clock.now(),
                    CircleOpening(circle_id=cid),
                )
                made += 1
        return made

    # ------------------------------------------------------------------ meeting

    def _active_members(
        self, session: Session, circle_id: int
    ) -> list[tuple[CircleMember, Person]]:
        rows = session.execute(
            select(CircleMember, Person)
            .join(Person, Person.id == CircleMember.person_id)
            .where(CircleMember.circle_id == circle_id, CircleMember.left_at.is_(None))
            .order_by(CircleMember.position, CircleMember.id)
        ).all()
        return [(m, p) for m, p in rows]

    def _audience(self, session: Session, circle: Circle) -> Audience | None:
        if circle.private:
            return ToChannel(circle.channel_id) if circle.channel_id else None
        users = tuple(sorted(p.slack_user_id for _, p in self._active_members(session, circle.id)))
        return ToGroup(users)

    def _to_circle(
        self, session: Session, circle: Circle, key: str, now: datetime, notice: Notice
    ) -> bool:
        to = self._audience(session, circle)
        if to is None:
            return False
        outbox.enqueue(session, team_id=circle.team_id, key=key, notice=notice, to=to, now=now)
        return True

    def run_due(self) -> int:
        """Form rounds that are due, open private channels, and send the prompts, pulses and
        close-outs that are due now. Returns how many things were done."""
        now = self._clock.now()
        done = 0
        for team_id in self._teams_due(now):
            report = self.form_round(team_id, now)
            done += 0 if report.skipped else 1
        done += self._open_private_channels()
        with unit_of_work(self._sessions) as session:
            due = list(
                session.scalars(
                    select(Circle)
                    .where(Circle.status == CircleStatus.ACTIVE)
                    .where(
                        (Circle.next_prompt_at <= now)
                        | (Circle.ends_at <= now)
                        | ((Circle.pulse_at <= now) & Circle.pulse_sent_at.is_(None))
                    )
                    .order_by(Circle.id)
                    .limit(500)
                )
            )
            for circle in due:
                if circle.ends_at <= now:
                    self._close(session, circle, now, too_small=False)
                    done += 1
                    continue
                if (
                    circle.pulse_at is not None
                    and circle.pulse_at <= now
                    and (circle.pulse_sent_at is None)
                ):
                    self._send_private(session, circle, FeedbackKind.PULSE, now)
                    circle.pulse_sent_at = now
                    done += 1
                due_prompt = circle.next_prompt_at is not None and circle.next_prompt_at <= now
                if due_prompt and self._prompt(session, circle, now):
                    done += 1
        return done

    def _teams_due(self, now: datetime) -> list[str]:
        with unit_of_work(self._sessions) as session:
            teams = session.execute(
                select(
                    CirclePoolEntry.team_id, func.count(), func.min(CirclePoolEntry.joined_at)
                ).group_by(CirclePoolEntry.team_id)
            ).all()
            out = []
            for team_id, waiting, first in teams:
                if waiting < 4:
                    continue
                last = session.scalar(
                    select(func.max(CircleRound.formed_at)).where(CircleRound.team_id == team_id)
                )
                anchor = last or first
                every = self.policy_for(session, team_id).every_weeks
                if anchor is not None and anchor + timedelta(weeks=every) <= now:
                    out.append(team_id)
            return out

    def _prompt(self, session: Session, circle: Circle, now: datetime) -> bool:
        members = self._active_members(session, circle.id)
        if circle.private and not circle.channel_id:
            return False
        week = circle.prompts_sent + 1
        presenter = members[(week - 1) % len(members)][1] if members else None
        prompt = CirclePrompt(
            team_id=circle.team_id,
            circle_id=circle.id,
            week=week,
            sent_at=now,
            presenter_id=presenter.id if presenter else None,
        )
        session.add(prompt)
        session.flush()
        self._to_circle(
            session,
            circle,
            _key(circle.id, "prompt", week),
            now,
            CirclePromptDue(prompt_id=prompt.id),
        )
        circle.prompts_sent = week
        anchor = circle.starts_at + timedelta(days=1 + 7 * week)
        nxt = prompt_time([p.tz for _, p in members], anchor)
        circle.next_prompt_at = nxt if nxt < circle.ends_at else None
        return True

    def _send_private(
        self, session: Session, circle: Circle, stage: FeedbackKind, now: datetime
    ) -> None:
        for _, person in self._active_members(session, circle.id):
            outbox.enqueue(
                session,
                team_id=circle.team_id,
                key=_key(circle.id, stage.value, person.id),
                notice=CirclePulse(circle_id=circle.id, person_id=person.id, stage=stage),
                to=ToPerson(person.slack_user_id),
                now=now,
                not_before=next_working_moment(
                    now, zone(person.tz), working_hours(session, circle.team_id)
                ),
            )

    def _close(self, session: Session, circle: Circle, now: datetime, *, too_small: bool) -> None:
        circle.status = CircleStatus.CLOSED
        circle.closed_at = now
        circle.closed_reason = "too_small" if too_small else "ended"
        circle.next_prompt_at = None
        if too_small:
            for _, person in self._active_members(session, circle.id):
                outbox.enqueue(
                    session,
                    team_id=circle.team_id,
                    key=_key(circle.id, "closed", person.id),
                    notice=CircleClosed(circle_id=circle.id, person_id=person.id, too_small=True),
                    to=ToPerson(person.slack_user_id),
                    now=now,
                )
        else:
            self._send_private(session, circle, FeedbackKind.CLOSEOUT, now)

    # ------------------------------------------------------------------ members' actions

    @staticmethod
    def _membership(
        session: Session, team_id: str, user_id: str, circle_id: int
    ) -> tuple[Circle | None, CircleMember | None, Person | None]:
        """The workspace's circle ``circle_id``, ``user_id``'s membership of it (also one they
        have left) and the person; None for what is not there."""
        circle = session.get(Circle, circle_id)
        person = find_person(session, team_id, user_id)
        if circle is None or circle.team_id != team_id or person is None:
            return None, None, person
        member = session.scalar(
            select(CircleMember).where(
                CircleMember.circle_id == circle_id, CircleMember.person_id == person.id
            )
        )
        return circle, member, person

    def _member_of(
        self, session: Session, team_id: str, user_id: str, circle_id: int
    ) -> tuple[Circle, CircleMember, Person]:
        circle, member, person = self._membership(session, team_id, user_id, circle_id)
        if circle is None or person is None:
            raise CircleError("That circle no longer exists.")
        if member is None or member.left_at is not None:
            raise CircleError("You are not a member of that circle.")
        return circle, member, person

    def prompt_circle(self, team_id: str, prompt_id: int) -> int:
        """The circle of a prompt (for the Record my action button)."""
        with unit_of_work(self._sessions) as session:
            prompt = session.get(CirclePrompt, prompt_id)
            if prompt is None or prompt.team_id != team_id:
                raise CircleError("That prompt no longer exists.")
            return prompt.circle_id

    def record_action(self, team_id: str, user_id: str, prompt_id: int, text: str) -> bool:
        """Record (or change) one's action for the week of ``prompt_id``; the circle sees it.
        True for a new action, False when an earlier one was changed."""
        text = _clean(text, MAX_ACTION + 1)
        if len(text) < 3:
            raise CircleError("Please write your action in a few words.", "action")
        if len(text) > MAX_ACTION:
            raise CircleError(f"Please keep it under {MAX_ACTION} characters.", "action")
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            prompt = session.get(CirclePrompt, prompt_id)
            if prompt is None or prompt.team_id != team_id:
                raise CircleError("That week's prompt no longer exists.")
            circle, _member, person = self._member_of(session, team_id, user_id, prompt.circle_id)
            if circle.status != CircleStatus.ACTIVE:
                raise CircleError("This circle has closed; thank you for taking part.")
            action = session.scalar(
                select(CircleAction).where(
                    CircleAction.prompt_id == prompt_id, CircleAction.person_id == person.id
                )
            )
            if action is not None:
                action.text = text
                return False
            action = CircleAction(
                team_id=team_id,
                circle_id=circle.id,
                prompt_id=prompt_id,
                person_id=person.id,
                text=text,
                created_at=now,
            )
            session.add(action)
            session.flush()
            self._to_circle(
                session,
                circle,
                _key(circle.id, "action", action.id),
                now,
                CircleActionAdded(action_id=action.id),
            )
            return True

    def answer(
        self,
        team_id: str,
        user_id: str,
        circle_id: int,
        stage: FeedbackKind,
        rating: int | None,
        note: str | None,
    ) -> None:
        """Save a pulse or close-out answer (once; a second answer changes the first) and
        replace the message's buttons with a thank-you."""
        if rating is not None and not 1 <= rating <= 5:
            raise CircleError("Please pick 1 to 5.", "rating")
        note = _clean(note or "", MAX_NOTE + 1) or None
        if note and len(note) > MAX_NOTE:
            raise CircleError(f"Please keep it under {MAX_NOTE} characters.", "note")
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            circle = session.get(Circle, circle_id)
            person = find_person(session, team_id, user_id)
            if circle is None or circle.team_id != team_id or person is None:
                raise CircleError("That circle no longer exists.")
            member = session.scalar(
                select(CircleMember).where(
                    CircleMember.circle_id == circle_id, CircleMember.person_id == person.id
                )
            )
            if member is None:
                raise CircleError("You are not a member of that circle.")
            kind = CircleFeedbackKind(stage.value)
            row = session.scalar(
                select(CircleFeedback).where(
                    CircleFeedback.circle_id == circle_id,
                    CircleFeedback.person_id == person.id,
                    CircleFeedback.kind == kind,
                )
            )
            if row is None:
                row = CircleFeedback(
                    team_id=team_id,
                    circle_id=circle_id,
                    person_id=person.id,
                    kind=kind,
                    created_at=now,
                )
                session.add(row)
            row.rating = rating
            row.note = note
            sent = _key(circle_id, stage.value, person.id)
            if not outbox.key_free(session, sent):
                outbox.enqueue(
                    session,
                    team_id=team_id,
                    key=_key(circle_id, stage.value, person.id, "answered"),
                    notice=CirclePulseAnswered(
                        circle_id=circle_id, person_id=person.id, stage=stage
                    ),
                    to=Replacing(sent, fallback=person.slack_user_id),
                    now=now,
                )

    def leave(self, team_id: str, user_id: str, circle_id: int) -> LeaveOutcome:
        """Leave a circle. The others are told only that it is now smaller; below three it is
        closed and each of them is offered the next round (CLOSED_IT). A circle that has
        closed already is not left (CIRCLE_CLOSED: nothing is recorded)."""
        now = self._clock.now()
        outcome, left_channel = self._leave(team_id, user_id, circle_id, now)
        if left_channel:
            self.remove_from_channels(team_id, user_id, [left_channel])
        return outcome

    def remove_from_channels(self, team_id: str, user_id: str, channel_ids: Sequence[str]) -> None:
        """Take someone who left out of their circles' private channels, so that they no longer
        read them (best effort: a failure is logged, the leaving stands)."""
        if self._channels is None:
            return
        for channel in channel_ids:
            try:
                self._channels.remove(team_id, channel, user_id)
            except Exception:
                log.warning(
                    "could not take a member out of circle channel %s", channel, exc_info=True
                )

    def depart(self, session: Session, person: Person, now: datetime) -> list[str]:
        """Someone is forgotten or left the workspace (``PrivacyService``): out of the pool and
        every circle, in the caller's transaction, through the same path as :meth:`leave` (the
        others are told only that their circle is smaller; below three it closes and each is
        offered the next round). Returns the private channels to take them out of after the
        commit (:meth:`remove_from_channels`)."""
        session.execute(delete(CirclePoolEntry).where(CirclePoolEntry.person_id == person.id))
        channels: list[str] = []
        for member, circle in session.execute(
            select(CircleMember, Circle)
            .join(Circle, Circle.id == CircleMember.circle_id)
            .where(CircleMember.person_id == person.id, CircleMember.left_at.is_(None))
            .order_by(Circle.id)
        ).all():
            channel = self._member_leaves(session, circle, member, person, now)
            if channel:
                channels.append(channel)
        return channels

    def _leave(
        self, team_id: str, user_id: str, circle_id: int, now: datetime
    ) -> tuple[LeaveOutcome, str]:
        """The leaving itself, in one transaction: what happened, and the private channel to
        take them out of ("" for a group DM or when they did not leave now)."""
        with unit_of_work(self._sessions) as session:
            circle, member, person = self._membership(session, team_id, user_id, circle_id)
            if circle is None or member is None or person is None:
                return LeaveOutcome.NOT_MEMBER, ""
            if member.left_at is not None:
                return LeaveOutcome.ALREADY_LEFT, ""
            if circle.status != CircleStatus.ACTIVE:
                return LeaveOutcome.CIRCLE_CLOSED, ""
            channel = self._member_leaves(session, circle, member, person, now)
            closed = circle.status != CircleStatus.ACTIVE
            return (LeaveOutcome.CLOSED_IT if closed else LeaveOutcome.LEFT), channel

    def _member_leaves(
        self, session: Session, circle: Circle, member: CircleMember, person: Person, now: datetime
    ) -> str:
        """One member leaves ``circle``: the others hear only that it is smaller, or below three
        it closes kindly. The private channel to take them out of ("" for a group DM)."""
        channel = circle.channel_id if circle.private and circle.channel_id else ""
        member.left_at = now
        if circle.facilitator_id == person.id:
            circle.facilitator_id = None
        session.flush()
        if circle.status != CircleStatus.ACTIVE:
            return channel
        left = self._active_members(session, circle.id)
        if len(left) < MIN_ACTIVE:
            self._close(session, circle, now, too_small=True)
        else:
            self._to_circle(
                session,
                circle,
                _key(circle.id, "smaller", member.id),
                now,
                CircleSmaller(circle_id=circle.id, members=len(left)),
            )
        return channel
