"""Accountability for a pair: commitments, check-ins in the asker's working hours, the helper's
monthly check, nudges when the asker is stuck, and the close-out with thanks and feedback.
Scheduled nudges go out only in their recipient's working hours; one that comes due outside them
(after a night the server was down) waits for the next working hour in that person's time zone.

Schedules live in the ``checkins`` table: each row is one message due at ``due_at``. The tick
(:meth:`PairService.run_due`) sends what is due and writes the next row, in one transaction with
the outbox messages, so a restart loses nothing and nothing is sent twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.checkins import (
    BUMP_AT_MISSED,
    MAX_COMMITMENT,
    after_snooze,
    bump_time,
    next_checkin,
    next_helper_check,
)
from peerbot.domain.followup import (
    commitment_reminder_at,
    is_low_rating,
    meet_again_at,
    meet_check_at,
)
from peerbot.domain.journey_notices import PairMessageEnded, PairPausedTo
from peerbot.domain.notices import (
    AnotherPeerOffer,
    CheckinAnswered,
    CheckinDue,
    CommitmentAdded,
    CommitmentReminder,
    FeedbackRequest,
    HelperCheck,
    HelperCheckAnswered,
    MeetAnswer,
    MeetAnswered,
    MeetCheck,
    Notice,
    PairClosed,
    Side,
    StuckNudge,
    Thanks,
)
from peerbot.domain.ports import Clock
from peerbot.domain.schedule import next_working_moment, zone
from peerbot.services import messages, programme_settings
from peerbot.services.programme_settings import checkin_plan, working_hours
from peerbot.store.db import unit_of_work
from peerbot.store.models import (
    Ask,
    AskStatus,
    Cadence,
    Checkin,
    CheckinAnswer,
    CheckinKind,
    Commitment,
    CommitmentStatus,
    Feedback,
    FeedbackRole,
    MeetingAnswer,
    MeetingCheck,
    MeetingSide,
    Outcome,
    Pair,
    PairStatus,
    Person,
)

log = logging.getLogger(__name__)


#: Answers only the helper's monthly check takes.
HELPER_ANSWERS = (
    CheckinAnswer.WELL,
    CheckinAnswer.NOT_MET,
    CheckinAnswer.QUIET,
    CheckinAnswer.NOT_FIT,
)


class Role(StrEnum):
    """Who someone is in a pair."""

    ASKER = "asker"
    HELPER = "helper"


class Result(StrEnum):
    """The outcome of a pair action, for the listener's reply."""

    OK = "ok"
    ALREADY = "already"  # a repeat (Slack retry or second click): nothing new
    NOT_YOURS = "not_yours"
    CLOSED = "closed"
    NOT_FOUND = "not_found"
    INVALID = "invalid"


@dataclass(frozen=True)
class CloseForm:
    """May someone open the close-out form: ``result`` OK with their ``role``, or why not."""

    result: Result
    role: Role | None = None
    #: The pair is closed already (the other side closed it): the form is for feedback.
    closed: bool = False


@dataclass(frozen=True)
class CloseInput:
    """Close-out answers: the asker's outcome, rating and thanks; the helper's reflection."""

    outcome: str | None = None
    rating: int | None = None
    thanks: str = ""
    reflection: str = ""


def _key(*parts: object) -> str:
    return ":".join(str(p) for p in parts)


def schedule_new_pair(
    session: Session, pair: Pair, asker: Person, helper: Person, now: datetime
) -> None:
    """Plan the first asker check-in and the helper's first monthly check for a new pair, at
    the workspace's check-in cadence and hour (programme settings)."""
    cadence, at = checkin_plan(session, pair.team_id)
    hours = working_hours(session, pair.team_id)
    pair.cadence = Cadence(cadence)
    first = next_checkin(now, pair.cadence.value, asker.tz, at, hours)
    pair.next_checkin_at = first
    session.add(
        Checkin(team_id=pair.team_id, pair_id=pair.id, kind=CheckinKind.ASKER, due_at=first)
    )
    session.add(
        Checkin(
            team_id=pair.team_id,
            pair_id=pair.id,
            kind=CheckinKind.HELPER_MONTHLY,
            due_at=next_helper_check(now, helper.tz, hours),
        )
    )
    for side, person in ((MeetingSide.ASKER, asker), (MeetingSide.HELPER, helper)):
        session.add(
            MeetingCheck(
                team_id=pair.team_id,
                pair_id=pair.id,
                side=side,
                due_at=meet_check_at(now, person.tz),
            )
        )


#: Pairs still running: check-ins, commitments and their buttons work only on these.
RUNNING = (PairStatus.ACTIVE, PairStatus.PAUSED)


def plan_helper_check(session: Session, pair: Pair, helper: Person, now: datetime) -> None:
    """A pairing resuming after a pause: plan the helper's monthly check again, a month on,
    when none is waiting (the tick drops a paused pairing's check-ins: without this the helper
    was never checked on again)."""
    waiting = session.scalar(
        select(Checkin.id).where(
            Checkin.pair_id == pair.id,
            Checkin.kind == CheckinKind.HELPER_MONTHLY,
            Checkin.sent_at.is_(None),
        )
    )
    if waiting is None:
        due = next_helper_check(now, helper.tz, working_hours(session, pair.team_id))
        session.add(
            Checkin(
                team_id=pair.team_id, pair_id=pair.id, kind=CheckinKind.HELPER_MONTHLY, due_at=due
            )
        )


def resume_pair(session: Session, pair: Pair, asker: Person, helper: Person, now: datetime) -> None:
    """Check-ins start again on ``pair`` (paused, snoozed or stopped), at its cadence: the
    asker's next check-in planned unless one is waiting, and after a pause the helper's
    monthly check too (:func:`plan_helper_check`). The one way a pairing resumes: "Resume
    check-ins", and the asker answering a check-in or adding a commitment while paused."""
    if pair.status == PairStatus.PAUSED:
        plan_helper_check(session, pair, helper, now)
    pair.status = PairStatus.ACTIVE
    pair.snoozed_until = None
    pair.missed_checkins = 0
    waiting = session.scalar(
        select(Checkin).where(
            Checkin.pair_id == pair.id,
            Checkin.kind == CheckinKind.ASKER,
            Checkin.sent_at.is_(None),
        )
    )
    if waiting is not None:
        pair.next_checkin_at = waiting.due_at
        return
    due = next_checkin(
        now,
        pair.cadence.value,
        asker.tz,
        checkin_plan(session, pair.team_id)[1],
        working_hours(session, pair.team_id),
    )
    session.add(Checkin(team_id=pair.team_id, pair_id=pair.id, kind=CheckinKind.ASKER, due_at=due))
    pair.next_checkin_at = due


def retire_pair_buttons(session: Session, pair: Pair, now: datetime) -> None:
    """Once ``pair`` has ended (in the caller's transaction): each message of it already sent
    whose buttons would now be refused says the pairing has ended, without buttons. These are
    its check-ins, bumps and monthly checks not answered, its answered check-ins (they offer
    Add a commitment), its commitment reminders (Done), the asker's copy of a pause (Resume
    check-ins, Add a commitment), the asker's receipt ("you are matched": Add a commitment,
    Close this pairing), its "did you meet?" messages not answered and the asker's "Yes, we
    met" reply (Add a commitment)."""
    shown = [
        _key("checkin", checkin_id)
        for checkin_id, kind, answered in session.execute(
            select(Checkin.id, Checkin.kind, Checkin.answered_at).where(
                Checkin.pair_id == pair.id, Checkin.sent_at.is_not(None)
            )
        )
        if answered is None or kind != CheckinKind.HELPER_MONTHLY
    ]
    shown += [
        _key("commitment", commitment_id, "reminder")
        for commitment_id in session.scalars(
            select(Commitment.id).where(
                Commitment.pair_id == pair.id, Commitment.reminded_at.is_not(None)
            )
        )
    ]
    for meeting_id, side, answer in session.execute(
        select(MeetingCheck.id, MeetingCheck.side, MeetingCheck.answer).where(
            MeetingCheck.pair_id == pair.id, MeetingCheck.sent_at.is_not(None)
        )
    ):
        if answer is None:
            shown.append(_key("meeting", meeting_id))
        elif side == MeetingSide.ASKER and answer == MeetingAnswer.YES:
            # "It isn't going to happen" keeps its "Try another peer": it may still be used.
            shown.append(_key("meeting", meeting_id, "answered"))
    asker = session.get(Person, pair.asker_id)
    if asker is not None:
        shown.append(_key("pair", pair.id, "paused", asker.slack_user_id))
    shown.append(_key("ask", pair.ask_id, "matched", pair.id))
    for key in shown:
        ended = key + ":ended"
        if messages.key_free(session, key) or not messages.key_free(session, ended):
            continue
        messages.update(
            session,
            team_id=pair.team_id,
            key=ended,
            replaces=key,
            notice=PairMessageEnded(pair_id=pair.id),
            now=now,
        )


#: Bound on :meth:`PairService.run_due`'s batches in one tick (the next tick goes on).
MAX_DUE_BATCHES = 1000


class PairService:
    """Everything that happens to a pair after the introduction."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    # ------------------------------------------------------------------ helpers

    def _people(self, session: Session, pair: Pair) -> tuple[Person, Person]:
        asker = session.get(Person, pair.asker_id)
        helper = session.get(Person, pair.helper_id)
        assert asker is not None
        assert helper is not None
        return asker, helper

    def _role(self, session: Session, pair: Pair, user_id: str) -> Role | None:
        asker, helper = self._people(session, pair)
        if user_id == asker.slack_user_id:
            return Role.ASKER
        if user_id == helper.slack_user_id:
            return Role.HELPER
        return None

    def _pair(
        self, session: Session, team_id: str, pair_id: int, *, lock: bool = False
    ) -> Pair | None:
        stmt = select(Pair).where(Pair.id == pair_id, Pair.team_id == team_id)
        if lock and session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return session.scalar(stmt)

    def _open_commitments(self, session: Session, pair: Pair) -> list[Commitment]:
        return list(
            session.scalars(
                select(Commitment)
                .where(Commitment.pair_id == pair.id, Commitment.status == CommitmentStatus.OPEN)
                .order_by(Commitment.created_at, Commitment.id)
            )
        )

    def _post(
        self,
        session: Session,
        pair: Pair,
        key: str,
        notice: Notice,
        now: datetime,
        to: Person | None = None,
    ) -> None:
        """Post ``notice`` to ``to``'s DM, or (``to`` None) the pair's group DM."""
        if to is None:
            asker, helper = self._people(session, pair)
            audience: str | list[str] = [asker.slack_user_id, helper.slack_user_id]
        else:
            audience = to.slack_user_id
        messages.post(session, team_id=pair.team_id, key=key, notice=notice, to=audience, now=now)

    # ------------------------------------------------------------------ the tick

    def run_due(self, limit: int = 500) -> int:
        """Send every check-in due now and plan the next, ``limit`` per transaction (short
        write locks) until none is left. Returns how many were handled."""
        now = self._clock.now()
        handled = 0
        for _ in range(MAX_DUE_BATCHES):
            selected, done = self._run_due_batch(now, limit)
            handled += done
            if selected < limit:
                break
        # "Did you meet?" and due-date reminders ride on the same tick (not counted here:
        # the count is of check-ins).
        self._run_meeting_checks(now, limit)
        self._run_commitment_reminders(now, limit)
        return handled

    def _run_due_batch(self, now: datetime, limit: int) -> tuple[int, int]:
        """One transaction of :meth:`run_due`: (check-ins selected, check-ins handled)."""
        handled = 0
        with unit_of_work(self._sessions) as session:
            # Each workspace's working hours and check-in plan, read once for the whole batch.
            session.info[programme_settings.READ_ONCE] = {}
            stmt = (
                select(Checkin)
                .where(Checkin.sent_at.is_(None), Checkin.due_at <= now)
                .order_by(Checkin.due_at, Checkin.id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            batch = list(session.scalars(stmt))
            # The batch's pairs and their people in two queries (at most two ids per check-in
            # of the batch): each check-in reads them, one by one that was three queries each.
            pairs = list(
                session.scalars(select(Pair).where(Pair.id.in_({c.pair_id for c in batch})))
            )
            people = {p.asker_id for p in pairs} | {p.helper_id for p in pairs}
            if people:
                session.scalars(select(Person).where(Person.id.in_(people))).all()
            for checkin in batch:
                pair = session.get(Pair, checkin.pair_id)
                if pair is None or pair.status != PairStatus.ACTIVE:
                    session.delete(checkin)
                    continue
                if self._wait_for_working_hours(session, pair, checkin, now):
                    continue
                if checkin.kind == CheckinKind.HELPER_MONTHLY:
                    self._helper_check(session, pair, checkin, now)
                elif checkin.kind == CheckinKind.BUMP:
                    self._bump(session, pair, checkin, now)
                else:
                    self._asker_checkin(session, pair, checkin, now)
                handled += 1
        return len(batch), handled

    def _wait_for_working_hours(
        self, session: Session, pair: Pair, checkin: Checkin, now: datetime
    ) -> bool:
        """Move a nudge that came due outside its recipient's working hours (say the server
        was down overnight) to their next working hour; True when it was moved."""
        asker, helper = self._people(session, pair)
        recipient = helper if checkin.kind == CheckinKind.HELPER_MONTHLY else asker
        later = next_working_moment(now, zone(recipient.tz), working_hours(session, pair.team_id))
        if later <= now:
            return False
        checkin.due_at = later
        if checkin.kind == CheckinKind.ASKER and pair.next_checkin_at is not None:
            pair.next_checkin_at = later
        log.debug("check-in %s waits for working hours: %s", checkin.id, later.isoformat())
        return True

    def _last_sent(self, session: Session, pair: Pair, kind: CheckinKind) -> Checkin | None:
        return session.scalar(
            select(Checkin)
            .where(Checkin.pair_id == pair.id, Checkin.kind == kind, Checkin.sent_at.is_not(None))
            .order_by(Checkin.due_at.desc())
            .limit(1)
        )

    def _asker_checkin(self, session: Session, pair: Pair, checkin: Checkin, now: datetime) -> None:
        asker, helper = self._people(session, pair)
        if pair.next_checkin_at is None:  # the asker stopped check-ins
            session.delete(checkin)
            return
        if pair.snoozed_until is not None and pair.snoozed_until > now:
            checkin.due_at = after_snooze(
                pair.snoozed_until, asker.tz, working_hours(session, pair.team_id)
            )
            pair.next_checkin_at = checkin.due_at
            return
        previous = self._last_sent(session, pair, CheckinKind.ASKER)
        if previous is not None and previous.answered_at is None:
            pair.missed_checkins += 1
        if pair.missed_checkins > BUMP_AT_MISSED:
            # Two unanswered check-ins and an unanswered bump: pause and tell both, kindly.
            session.delete(checkin)
            pair.status = PairStatus.PAUSED
            pair.next_checkin_at = None
            for who in (asker, helper):
                self._post(
                    session,
                    pair,
                    _key("pair", pair.id, "paused", who.slack_user_id),
                    PairPausedTo(pair_id=pair.id, to=Side.ASKER if who is asker else Side.HELPER),
                    now,
                    to=who,
                )
            log.info("pair %s paused after unanswered check-ins", pair.id)
            return
        self._send_checkin(session, pair, checkin, asker, now, bump=False)
        hours = working_hours(session, pair.team_id)
        following = next_checkin(
            now, pair.cadence.value, asker.tz, checkin_plan(session, pair.team_id)[1], hours
        )
        session.add(
            Checkin(team_id=pair.team_id, pair_id=pair.id, kind=CheckinKind.ASKER, due_at=following)
        )
        pair.next_checkin_at = following
        if pair.missed_checkins == BUMP_AT_MISSED - 1:
            # This is the second check-in in a row after an unanswered one: plan the bump.
            session.add(
                Checkin(
                    team_id=pair.team_id,
                    pair_id=pair.id,
                    kind=CheckinKind.BUMP,
                    due_at=min(bump_time(now, asker.tz, hours), following - timedelta(minutes=1)),
                )
            )

    def _send_checkin(
        self,
        session: Session,
        pair: Pair,
        checkin: Checkin,
        asker: Person,
        now: datetime,
        *,
        bump: bool,
    ) -> None:
        checkin.sent_at = now
        self._post(
            session,
            pair,
            _key("checkin", checkin.id),
            CheckinDue(checkin_id=checkin.id, bump=bump),
            now,
            to=asker,
        )

    def _bump(self, session: Session, pair: Pair, checkin: Checkin, now: datetime) -> None:
        latest = self._last_sent(session, pair, CheckinKind.ASKER)
        if latest is None or latest.answered_at is not None or pair.next_checkin_at is None:
            session.delete(checkin)  # answered in the meantime: no bump needed
            return
        asker, _ = self._people(session, pair)
        pair.missed_checkins = BUMP_AT_MISSED
        self._send_checkin(session, pair, checkin, asker, now, bump=True)

    def _helper_check(self, session: Session, pair: Pair, checkin: Checkin, now: datetime) -> None:
        _, helper = self._people(session, pair)
        checkin.sent_at = now
        self._post(
            session,
            pair,
            _key("checkin", checkin.id),
            HelperCheck(checkin_id=checkin.id),
            now,
            to=helper,
        )
        session.add(
            Checkin(
                team_id=pair.team_id,
                pair_id=pair.id,
                kind=CheckinKind.HELPER_MONTHLY,
                due_at=next_helper_check(now, helper.tz, working_hours(session, pair.team_id)),
            )
        )

    # ------------------------------------------------------------------ answers

    def answer_checkin(self, team_id: str, checkin_id: int, user_id: str, answer: str) -> Result:
        """The asker's (or, for the monthly check, the helper's) answer to a check-in."""
        try:
            parsed = CheckinAnswer(answer)
        except ValueError:
            return Result.INVALID
        helper_only = parsed in HELPER_ANSWERS
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            checkin = session.scalar(
                select(Checkin).where(Checkin.id == checkin_id, Checkin.team_id == team_id)
            )
            if checkin is None:
                return Result.NOT_FOUND
            pair = self._pair(session, team_id, checkin.pair_id, lock=True)
            if pair is None:
                return Result.NOT_FOUND
            role = self._role(session, pair, user_id)
            expected = Role.HELPER if checkin.kind == CheckinKind.HELPER_MONTHLY else Role.ASKER
            if role != expected:
                return Result.NOT_YOURS
            if helper_only and expected != Role.HELPER:
                return Result.INVALID
            if checkin.answered_at is not None:
                return Result.ALREADY
            if pair.status not in RUNNING:
                # An old check-in message of a closed pairing: its answers ("we have let
                # your peer know", "we will check in again") would not be true.
                return Result.CLOSED
            if pair.status == PairStatus.PAUSED and expected == Role.ASKER:
                # The asker is back, as with a new commitment: check-ins resume (so "Stuck"
                # reaches the helper and "we will check in again next time" holds).
                self._resume(session, pair, now)
            checkin.answered_at = now
            checkin.answer = parsed
            if expected == Role.ASKER:
                pair.missed_checkins = 0
            if parsed == CheckinAnswer.DONE and expected == Role.ASKER:
                for c in self._open_commitments(session, pair):
                    c.status = CommitmentStatus.DONE
                    c.done_at = now
            if parsed == CheckinAnswer.STUCK and pair.status == PairStatus.ACTIVE:
                _, helper = self._people(session, pair)
                self._post(
                    session,
                    pair,
                    _key("checkin", checkin.id, "stuck"),
                    StuckNudge(checkin_id=checkin.id),
                    now,
                    to=helper,
                )
            answered: Notice = (
                HelperCheckAnswered(checkin_id=checkin.id)
                if expected == Role.HELPER
                else CheckinAnswered(checkin_id=checkin.id)
            )
            messages.update(
                session,
                team_id=team_id,
                key=_key("checkin", checkin.id, "answered"),
                replaces=_key("checkin", checkin.id),
                notice=answered,
                now=now,
            )
        return Result.OK

    def pair_of_checkin(self, team_id: str, checkin_id: int) -> int | None:
        """The pair a check-in belongs to (None when there is no such check-in)."""
        with unit_of_work(self._sessions) as session:
            return session.scalar(
                select(Checkin.pair_id).where(Checkin.id == checkin_id, Checkin.team_id == team_id)
            )

    def snooze(self, team_id: str, pair_id: int, user_id: str, weeks: int) -> Result:
        """The asker snoozes check-ins for one or two weeks (0 stops them)."""
        if weeks not in (0, 1, 2):
            return Result.INVALID
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            pair = self._pair(session, team_id, pair_id, lock=True)
            if pair is None:
                return Result.NOT_FOUND
            if self._role(session, pair, user_id) != Role.ASKER:
                return Result.NOT_YOURS
            if pair.status not in RUNNING:
                return Result.CLOSED
            if weeks == 0:
                pair.next_checkin_at = None
                session.execute(
                    delete(Checkin).where(
                        Checkin.pair_id == pair.id,
                        Checkin.sent_at.is_(None),
                        Checkin.kind.in_([CheckinKind.ASKER, CheckinKind.BUMP]),
                    )
                )
            else:
                pair.snoozed_until = now + timedelta(weeks=weeks)
                pair.missed_checkins = 0
        return Result.OK

    def set_cadence(self, team_id: str, pair_id: int, user_id: str, cadence: str) -> Result:
        """Weekly or every two weeks, for this pair."""
        try:
            parsed = Cadence(cadence)
        except ValueError:
            return Result.INVALID
        with unit_of_work(self._sessions) as session:
            pair = self._pair(session, team_id, pair_id, lock=True)
            if pair is None:
                return Result.NOT_FOUND
            if self._role(session, pair, user_id) is None:
                return Result.NOT_YOURS
            if pair.status not in RUNNING:  # an old check-in's menu: it has no check-ins now
                return Result.CLOSED
            pair.cadence = parsed
        return Result.OK

    # ------------------------------------------------------------------ commitments

    def add_commitment(
        self,
        team_id: str,
        pair_id: int,
        user_id: str,
        text: str,
        due: date | None,
        client_key: str,
    ) -> Result:
        """The asker commits to a next step; both see it in the group DM."""
        if not text or len(text) > MAX_COMMITMENT:
            return Result.INVALID
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            pair = self._pair(session, team_id, pair_id)
            if pair is None:
                return Result.NOT_FOUND
            if self._role(session, pair, user_id) != Role.ASKER:
                return Result.NOT_YOURS
            if pair.status not in RUNNING:
                return Result.CLOSED
            key = _key("commitment", pair.id, client_key)
            if not messages.key_free(session, key):
                return Result.ALREADY
            asker, _ = self._people(session, pair)
            c = Commitment(
                team_id=team_id,
                pair_id=pair.id,
                text=text,
                due_date=due,
                status=CommitmentStatus.OPEN,
                created_at=now,
                remind_at=None if due is None else commitment_reminder_at(due, now, asker.tz),
            )
            session.add(c)
            session.flush()
            if pair.status == PairStatus.PAUSED:
                self._resume(session, pair, now)
            self._post(session, pair, key, CommitmentAdded(commitment_id=c.id), now)
        return Result.OK

    def _resume(self, session: Session, pair: Pair, now: datetime) -> None:
        resume_pair(session, pair, *self._people(session, pair), now)

    def commitment_done(self, team_id: str, commitment_id: int, user_id: str) -> Result:
        """Mark one commitment done."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            c = session.scalar(
                select(Commitment).where(
                    Commitment.id == commitment_id, Commitment.team_id == team_id
                )
            )
            if c is None:
                return Result.NOT_FOUND
            pair = self._pair(session, team_id, c.pair_id)
            assert pair is not None
            if self._role(session, pair, user_id) != Role.ASKER:
                return Result.NOT_YOURS
            if pair.status not in RUNNING:  # an old check-in or reminder of an ended pairing
                return Result.CLOSED
            if c.status == CommitmentStatus.DONE:
                return Result.ALREADY
            c.status = CommitmentStatus.DONE
            c.done_at = now
        return Result.OK

    # ------------------------------------------------------------------ close-out

    def may_add_commitment(self, team_id: str, pair_id: int, user_id: str) -> Result:
        """Whether ``user_id`` may open the commitment form: OK for the asker of an open pair;
        CLOSED once the pair is closed; NOT_YOURS for anyone else (or no such pair)."""
        with unit_of_work(self._sessions) as session:
            pair = self._pair(session, team_id, pair_id)
            if pair is None:
                return Result.NOT_YOURS
            if pair.status not in RUNNING:
                return Result.CLOSED
            if self._role(session, pair, user_id) != Role.ASKER:
                return Result.NOT_YOURS
            return Result.OK

    def close_form(self, team_id: str, pair_id: int, user_id: str) -> CloseForm:
        """Whether ``user_id`` may open the close-out form, and as whom (asker or helper)."""
        with unit_of_work(self._sessions) as session:
            pair = self._pair(session, team_id, pair_id)
            role = None if pair is None else self._role(session, pair, user_id)
            if role is None:
                return CloseForm(Result.NOT_YOURS)
            assert pair is not None
            return CloseForm(Result.OK, role, closed=pair.status == PairStatus.CLOSED)

    def close(self, team_id: str, pair_id: int, user_id: str, answers: CloseInput) -> Result:
        """Close the pair (if open) and record this side's feedback, once.

        The asker's thanks is delivered to the helper; the other side is asked for theirs.
        """
        now = self._clock.now()
        try:
            with unit_of_work(self._sessions) as session:
                result = self._close(session, team_id, pair_id, user_id, answers, now)
        except IntegrityError:
            return Result.ALREADY  # the same feedback delivered twice at once
        return result

    def _close(
        self,
        session: Session,
        team_id: str,
        pair_id: int,
        user_id: str,
        answers: CloseInput,
        now: datetime,
    ) -> Result:
        pair = self._pair(session, team_id, pair_id, lock=True)
        if pair is None:
            return Result.NOT_FOUND
        role = self._role(session, pair, user_id)
        if role is None:
            return Result.NOT_YOURS
        existing = session.scalar(
            select(Feedback).where(
                Feedback.pair_id == pair.id, Feedback.role == FeedbackRole(role.value)
            )
        )
        if existing is not None:
            return Result.ALREADY
        asker, helper = self._people(session, pair)
        me = asker if role == Role.ASKER else helper
        session.add(
            Feedback(
                team_id=team_id,
                pair_id=pair.id,
                person_id=me.id,
                role=FeedbackRole(role.value),
                outcome=Outcome(answers.outcome) if answers.outcome else None,
                rating=answers.rating,
                thanks=answers.thanks or None,
                reflection=answers.reflection or None,
                created_at=now,
            )
        )
        if pair.status != PairStatus.CLOSED:
            pair.status = PairStatus.CLOSED
            pair.closed_at = now
            pair.closed_by = user_id
            pair.next_checkin_at = None
            session.execute(
                delete(Checkin).where(Checkin.pair_id == pair.id, Checkin.sent_at.is_(None))
            )
            ask = session.get(Ask, pair.ask_id)
            if ask is not None:
                ask.status = AskStatus.CLOSED
                ask.closed_at = now
            retire_pair_buttons(session, pair, now)
            self._post(
                session, pair, _key("pair", pair.id, "closed"), PairClosed(pair_id=pair.id), now
            )
            other = helper if role == Role.ASKER else asker
            self._post(
                session,
                pair,
                _key("pair", pair.id, "feedback", other.slack_user_id),
                FeedbackRequest(
                    pair_id=pair.id, to=Side.HELPER if role == Role.ASKER else Side.ASKER
                ),
                now,
                to=other,
            )
        if role == Role.ASKER and (
            is_low_rating(answers.rating) or answers.outcome == Outcome.NOT.value
        ):
            self._post(
                session,
                pair,
                _key("pair", pair.id, "another_peer"),
                AnotherPeerOffer(pair_id=pair.id),
                now,
                to=asker,
            )
        if role == Role.ASKER and answers.thanks:
            self._post(
                session,
                pair,
                _key("pair", pair.id, "thanks"),
                Thanks(pair_id=pair.id),
                now,
                to=helper,
            )
        return Result.OK

    # ------------------------------------------------------------------ follow-through (issue 13)

    def _run_meeting_checks(self, now: datetime, limit: int) -> int:
        """Send the "did you meet?" messages due now, each in its recipient's working hours.
        A paused pairing's are held, neither sent nor dropped (left out of the batch, so they
        hold up no other pair's), and go out at the first tick after it resumes (the asker's
        answer, a commitment or "Resume check-ins"); an ended pairing's are dropped."""
        handled = 0
        with unit_of_work(self._sessions) as session:
            paused = (
                select(Pair.id)
                .where(Pair.id == MeetingCheck.pair_id, Pair.status == PairStatus.PAUSED)
                .exists()
            )
            stmt = (
                select(MeetingCheck)
                .where(MeetingCheck.sent_at.is_(None), MeetingCheck.due_at <= now, ~paused)
                .order_by(MeetingCheck.due_at, MeetingCheck.id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            for check in list(session.scalars(stmt)):
                pair = session.get(Pair, check.pair_id)
                if pair is None or pair.status not in RUNNING:
                    session.delete(check)
                    continue
                if pair.status == PairStatus.PAUSED:
                    continue  # paused since the batch was read: held as above
                asker, helper = self._people(session, pair)
                to = asker if check.side == MeetingSide.ASKER else helper
                later = next_working_moment(now, zone(to.tz), working_hours(session, pair.team_id))
                if later > now:
                    check.due_at = later
                    continue
                check.sent_at = now
                self._post(
                    session,
                    pair,
                    _key("meeting", check.id),
                    MeetCheck(meeting_id=check.id, pair_id=pair.id, to=Side(check.side.value)),
                    now,
                    to=to,
                )
                handled += 1
        return handled

    def _run_commitment_reminders(self, now: datetime, limit: int) -> int:
        """Remind askers of the commitments due today (sent the morning of the due date)."""
        handled = 0
        with unit_of_work(self._sessions) as session:
            stmt = (
                select(Commitment)
                .where(
                    Commitment.reminded_at.is_(None),
                    Commitment.remind_at.is_not(None),
                    Commitment.remind_at <= now,
                )
                .order_by(Commitment.remind_at, Commitment.id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            for c in list(session.scalars(stmt)):
                c.reminded_at = now
                pair = session.get(Pair, c.pair_id)
                if c.status != CommitmentStatus.OPEN or pair is None:
                    continue
                if pair.status != PairStatus.ACTIVE:
                    continue
                asker, _ = self._people(session, pair)
                self._post(
                    session,
                    pair,
                    _key("commitment", c.id, "reminder"),
                    CommitmentReminder(commitment_id=c.id),
                    now,
                    to=asker,
                )
                handled += 1
        return handled

    def answer_meeting(self, team_id: str, meeting_id: int, user_id: str, answer: str) -> Result:
        """An answer to "did you meet?": recorded (the programme counts pairs that met);
        "not yet" asks again in three days; the message is updated with what happens next.
        CLOSED (nothing recorded) once the pairing has ended."""
        try:
            parsed = MeetingAnswer(answer)
        except ValueError:
            return Result.INVALID
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            check = session.scalar(
                select(MeetingCheck).where(
                    MeetingCheck.id == meeting_id, MeetingCheck.team_id == team_id
                )
            )
            if check is None:
                return Result.NOT_FOUND
            pair = self._pair(session, team_id, check.pair_id, lock=True)
            if pair is None:
                return Result.NOT_FOUND
            asker, helper = self._people(session, pair)
            to = asker if check.side == MeetingSide.ASKER else helper
            if to.slack_user_id != user_id:
                return Result.NOT_YOURS
            if check.answered_at is not None:
                return Result.ALREADY
            if pair.status not in RUNNING:
                # An old "did you meet?" of an ended pairing: nothing to record or ask again.
                return Result.CLOSED
            check.answered_at = now
            check.answer = parsed
            if parsed == MeetingAnswer.NOT_YET and pair.status in (
                PairStatus.ACTIVE,
                PairStatus.PAUSED,
            ):
                session.add(
                    MeetingCheck(
                        team_id=team_id,
                        pair_id=pair.id,
                        side=check.side,
                        due_at=meet_again_at(now, to.tz),
                    )
                )
            messages.update(
                session,
                team_id=team_id,
                key=_key("meeting", check.id, "answered"),
                replaces=_key("meeting", check.id),
                notice=MeetAnswered(
                    meeting_id=check.id,
                    pair_id=pair.id,
                    to=Side(check.side.value),
                    answer=MeetAnswer(parsed.value),
                ),
                now=now,
            )
        return Result.OK


def pairs_that_met(session: Session, team_id: str) -> int:
    """How many of a workspace's pairs said they met (either side answered "yes"): for the
    programme's figures."""
    return (
        session.scalar(
            select(func.count(func.distinct(MeetingCheck.pair_id))).where(
                MeetingCheck.team_id == team_id, MeetingCheck.answer == MeetingAnswer.YES
            )
        )
        or 0
    )
