"""A hand-built programme history whose figures are known (see EXPECTED in the tests).

Workspace T_PROG, November 2026:

* 6 asks on "conflict" by 5 askers (A1..A5, A1 twice), each offered to one of H1..H5 who passed
  "Outside my area", all unmet;
* 2 asks on "hiring" by A6, one offer skipped (could not be delivered), both unmet;
* P1 (A7): H1 passed "Too busy this week", H2 accepted 2 h after the ask; 3 asker check-ins
  sent (done, stuck, unanswered), 2 commitments (one done); the asker rated 5, resolved;
* P2 (A1): H3 let the offer expire, H4 accepted 6 h after the ask; 1 check-in answered
  (in progress) and one not sent yet; the pair is closed; the asker rated 3, partly; the helper
  rated 1 (a helper's rating is not the asker's);
* P3 (A2): a first introduction failed (pair with H3 at +1 h), then H5 at +4 h;
* one open ask (A3) with an offer pending with H6;
* one unmet "conflict" ask by A6 in October (before --since 2026-11-01);
* helpers H1..H9 opted in (H6 paused, H2 capacity 1), H10 invited only;
* workspace T_OTHER: an unmet ask and a pair, which must never be counted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from peerbot.store.models import (
    Ask,
    AskStatus,
    Checkin,
    CheckinAnswer,
    CheckinKind,
    Commitment,
    CommitmentStatus,
    Feedback,
    FeedbackRole,
    HelperProfile,
    Offer,
    OfferStatus,
    Outcome,
    Pair,
    PairStatus,
    Person,
    Workspace,
)

TEAM = "T_PROG"
OTHER = "T_OTHER"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SINCE = date(2026, 11, 1)
SECRET_QUESTION = "Zorblax confidential question about Priya's divorce"


def _at(day: int, hour: int = 9, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


class Builder:
    """Adds rows to a session (flushes, never commits)."""

    def __init__(self, session: Session, team: str) -> None:
        self.s = session
        self.team = team
        self.people: dict[str, Person] = {}
        if session.get(Workspace, team) is None:
            session.add(Workspace(team_id=team, name=team, installed_at=_at(1)))
            session.flush()

    def person(self, uid: str, **kw: object) -> Person:
        p = Person(team_id=self.team, slack_user_id=uid, real_name=f"Name {uid}", **kw)
        self.s.add(p)
        self.s.flush()
        self.people[uid] = p
        return p

    def helper(self, uid: str, topics: list[str], **kw: object) -> Person:
        p = self.person(uid, tz="UTC")
        kw.setdefault("opted_in", True)
        self.s.add(
            HelperProfile(person_id=p.id, team_id=self.team, expertise="x", topics=topics, **kw)
        )
        self.s.flush()
        return p

    def ask(self, asker: str, topic: str | None, status: AskStatus, at: datetime) -> Ask:
        a = Ask(
            team_id=self.team,
            asker_id=self.people[asker].id,
            challenge=SECRET_QUESTION,
            topic=topic,
            status=status,
            created_at=at,
        )
        self.s.add(a)
        self.s.flush()
        return a

    def offer(self, ask: Ask, helper: str, status: OfferStatus, reason: str | None = None) -> Offer:
        o = Offer(
            team_id=self.team,
            ask_id=ask.id,
            helper_id=self.people[helper].id,
            rank=1,
            score=1.0,
            status=status,
            pass_reason=reason,
            sent_at=ask.created_at,
            created_at=ask.created_at,
        )
        self.s.add(o)
        self.s.flush()
        return o

    def pair(self, ask: Ask, helper: str, after_h: float, status: PairStatus) -> Pair:
        p = Pair(
            team_id=self.team,
            ask_id=ask.id,
            helper_id=self.people[helper].id,
            asker_id=ask.asker_id,
            status=status,
            created_at=ask.created_at + timedelta(hours=after_h),
        )
        self.s.add(p)
        self.s.flush()
        return p

    def checkin(
        self, pair: Pair, day: int, answer: CheckinAnswer | None, *, sent: bool = True,
        kind: CheckinKind = CheckinKind.ASKER,
    ) -> None:  # fmt: skip
        self.s.add(
            Checkin(
                team_id=self.team,
                pair_id=pair.id,
                kind=kind,
                due_at=_at(day, 10),
                sent_at=_at(day, 10) if sent else None,
                answered_at=_at(day, 11) if answer else None,
                answer=answer or CheckinAnswer.NONE,
            )
        )
        self.s.flush()

    def feedback(
        self, pair: Pair, role: FeedbackRole, rating: int, outcome: Outcome | None, day: int
    ) -> None:
        who = pair.asker_id if role == FeedbackRole.ASKER else pair.helper_id
        self.s.add(
            Feedback(
                team_id=self.team,
                pair_id=pair.id,
                person_id=who,
                role=role,
                rating=rating,
                outcome=outcome,
                thanks="Thank you Zorblax",
                created_at=_at(day, 12),
            )
        )
        self.s.flush()


def build_history(session: Session) -> None:
    """The whole history above, flushed into ``session``."""
    b = Builder(session, TEAM)
    for i in range(1, 8):
        b.person(f"A{i}")
    for i in range(1, 10):
        topics = ["conflict"] if i <= 5 else (["hiring"] if i == 6 else [])
        kw: dict[str, object] = {}
        if i == 6:
            kw["paused_until"] = NOW + timedelta(days=7)
        if i == 2:
            kw["capacity"] = 1
        b.helper(f"H{i}", topics, **kw)
    b.helper("H10", ["conflict"], opted_in=False, consent="invited")

    askers = ["A1", "A2", "A3", "A4", "A5", "A1"]
    for i, asker in enumerate(askers):
        a = b.ask(asker, "conflict", AskStatus.UNMET, _at(2 + i % 2, 9 + i))
        b.offer(a, f"H{i % 5 + 1}", OfferStatus.PASSED, "Outside my area, sorry")
    h1 = b.ask("A6", "hiring", AskStatus.UNMET, _at(10))
    b.offer(h1, "H7", OfferStatus.SKIPPED)
    b.ask("A6", "hiring", AskStatus.UNMET, _at(10, 11))

    p1 = b.ask("A7", "feedback", AskStatus.PAIRED, _at(11))
    b.offer(p1, "H1", OfferStatus.PASSED, "Too busy this week")
    b.offer(p1, "H2", OfferStatus.ACCEPTED)
    pair1 = b.pair(p1, "H2", 2, PairStatus.ACTIVE)
    b.checkin(pair1, 12, CheckinAnswer.DONE)
    b.checkin(pair1, 13, CheckinAnswer.STUCK)
    b.checkin(pair1, 16, None)
    b.checkin(pair1, 17, None, kind=CheckinKind.HELPER_MONTHLY)
    session.add_all(
        [
            Commitment(team_id=TEAM, pair_id=pair1.id, text="Zorblax plan", created_at=_at(12)),
            Commitment(
                team_id=TEAM,
                pair_id=pair1.id,
                text="Zorblax talk",
                status=CommitmentStatus.DONE,
                created_at=_at(12),
            ),
        ]
    )
    b.feedback(pair1, FeedbackRole.ASKER, 5, Outcome.RESOLVED, 18)

    p2 = b.ask("A1", "feedback", AskStatus.CLOSED, _at(11, 10))
    b.offer(p2, "H3", OfferStatus.EXPIRED)
    b.offer(p2, "H4", OfferStatus.ACCEPTED)
    pair2 = b.pair(p2, "H4", 6, PairStatus.CLOSED)
    b.checkin(pair2, 12, CheckinAnswer.IN_PROGRESS)
    b.checkin(pair2, 19, None, sent=False)
    b.feedback(pair2, FeedbackRole.ASKER, 3, Outcome.PARTLY, 19)
    b.feedback(pair2, FeedbackRole.HELPER, 1, None, 19)

    p3 = b.ask("A2", None, AskStatus.PAIRED, _at(12))
    b.pair(p3, "H3", 1, PairStatus.FAILED)
    b.offer(p3, "H5", OfferStatus.ACCEPTED)
    b.pair(p3, "H5", 4, PairStatus.ACTIVE)

    op = b.ask("A3", "delegation", AskStatus.OFFERED, _at(13))
    b.offer(op, "H6", OfferStatus.PENDING)

    b.ask("A6", "conflict", AskStatus.UNMET, _at(1, 9, month=10))

    o = Builder(session, OTHER)
    o.person("X1")
    o.helper("XH", ["conflict"])
    xa = o.ask("X1", "conflict", AskStatus.UNMET, _at(5))
    xb = o.ask("X1", "conflict", AskStatus.PAIRED, _at(5))
    o.offer(xb, "XH", OfferStatus.ACCEPTED)
    o.pair(xb, "XH", 1, PairStatus.ACTIVE)
    assert xa.id
    session.flush()


#: The figures of the history for --since 2026-11-01, worked out by hand.
EXPECTED = {
    "asks": 12,
    "intros": 3,
    "match_rate": 0.25,
    "median_hours_to_intro": 4.0,
    "offers_answered": 11,
    "offers_accepted": 3,
    "acceptance_rate": 0.273,
    "checkins_sent": 4,
    "checkins_answered": 3,
    "checkin_completion": 0.75,
    "ratings": 2,
    "mean_rating": 4.0,
    "unmet": 8,
    "unmet_by_topic": {"conflict": 6, "hiring": "fewer than 5"},
    "funnel": {
        "asked": 12,
        "offered": 10,
        "accepted": 3,
        "introduced": 3,
        "met": 2,
        "closed": 1,
    },
    "pass_reasons": {
        "not my area": 6,
        "busy": "fewer than 5",
        "no answer in time": "fewer than 5",
    },
    "outcomes": {"resolved": "fewer than 5", "partly": "fewer than 5"},
    "checkin_answers": {
        "done": "fewer than 5",
        "stuck": "fewer than 5",
        "in_progress": "fewer than 5",
    },
    "commitments": {"made": 2, "open": 1, "done": 1, "dropped": 0},
    "pairs": {"active": 2, "paused": 0, "closed": 1},
    "helpers": 9,
    "helpers_paused": 1,
    "helpers_near_capacity": 1,
    "helper_load": {"0": 7, "1": "fewer than 5", "2": 0, "3+": 0},
    "asks_by_week": {"2026-11-02": 6, "2026-11-09": 6},
}
