"""The demo workspace for `peerbot sandbox`: generated here, so the demo needs nothing else."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.notices import CheckinDue, ToPerson
from peerbot.store.db import unit_of_work
from peerbot.store.models import (
    Ask,
    AskStatus,
    Checkin,
    CheckinKind,
    Pair,
    PairStatus,
    Person,
    Workspace,
)
from peerbot.store.outbox import enqueue

TIME_ZONES = (
    "America/Los_Angeles",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Australia/Sydney",
    "Pacific/Auckland",
)

FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Luca",
    "Maya",
    "Noah",
    "Olu",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Aiko",
    "Bruno",
    "Carmen",
    "Diego",
    "Esme",
    "Felix",
    "Gita",
    "Hugo",
    "Ivy",
]

SITUATIONS = (
    "gave hard feedback to a senior engineer whose code reviews were hurting the team",
    "ran a performance improvement plan that ended with the person thriving",
    "let a long-time team member go with dignity after a failed improvement plan",
    "mediated a conflict between two senior people who stopped talking to each other",
    "hired a team of eight engineers in six months, from sourcing to closing offers",
    "designed a structured interview loop that reduced bias in hiring decisions",
    "onboarded a dozen new hires remotely during rapid growth",
    "led my department through a re-org that merged three teams into two",
    "kept a team together after a layoff and rebuilt trust with the survivors",
    "became the manager of my former peers and reset the relationships",
    "moved from managing engineers to managing managers for the first time",
    "built a fully remote team across five time zones with good rituals",
    "turned around a disengaged team with low morale and high attrition",
    "spotted burnout early in my team and changed workload and expectations",
    "coached people to promotion with clear career ladders and sponsorship",
    "had difficult compensation conversations when budgets were frozen",
    "learned to delegate after burning out by doing everything myself",
    "pushed back on unrealistic deadlines from senior leadership and kept credibility",
    "managed a demanding stakeholder who escalated every disagreement",
    "aligned two teams with conflicting roadmaps and shared dependencies",
    "introduced regular one-on-ones that people actually found useful",
    "wrote fair performance reviews for a team with very uneven performers",
    "made the team more inclusive after hearing that some people felt left out",
    "handled a brilliant but abrasive team member who intimidated others",
    "protected my own focus time while managing a team of fifteen",
    "led a team through a major change in company strategy and product direction",
    "took over a team mid-crisis after the previous manager left suddenly",
    "managed a high performer who wanted my job",
    "dealt with a team member's repeated lateness and missed commitments",
    "set goals and OKRs that the team owned instead of resented",
    "handled a harassment complaint carefully with HR and the people involved",
    "grew an individual contributor into a first-time team lead",
    "ran a team through a product launch under extreme time pressure",
    "rebuilt a team culture after two teams with different habits were merged",
)

ASKS = (
    (
        "One of my senior engineers leaves harsh comments in code reviews and two juniors "
        "told me they dread submitting pull requests. I have never given feedback this hard.",
        "They keep their high standards but review kindly, and the juniors feel safe again.",
        "They are the most experienced person on the team and I was their peer until May.",
    ),
)


@dataclass(frozen=True)
class DemoHelper:
    """One generated helper."""

    name: str
    tz: str
    expertise: str
    years: int


def demo_helpers(seed: int = 7) -> list[DemoHelper]:
    """At least 30 helpers with varied expertise, deterministic for a seed."""
    rng = random.Random(seed)
    out = []
    for i, first in enumerate(FIRST):
        situations = rng.sample(SITUATIONS, 2)
        first_situation = SITUATIONS[i % len(SITUATIONS)]
        if first_situation not in situations:
            situations[0] = first_situation
        expertise = "As a manager I " + "; I also ".join(situations) + "."
        out.append(
            DemoHelper(
                name=first.lower(),
                tz=TIME_ZONES[i % len(TIME_ZONES)],
                expertise=expertise,
                years=rng.randint(3, 20),
            )
        )
    return out


def seed_due_checkins(
    sessions: sessionmaker[Session],
    team_id: str,
    users: list[str],
    count: int,
    now: datetime,
    *,
    challenge: Callable[[int], str],
    key: Callable[[int], str],
) -> None:
    """Record ``count`` due check-in DMs (outbox keys ``key(n)``), round-robin over ``users``,
    for load tests and benchmarks.

    Real rows behind each one (asker, helper, ask, pair, check-in): the sender renders the real
    check-in notice from the tables, and its text quotes ``challenge(n)``.
    """
    with unit_of_work(sessions) as session:
        if session.get(Workspace, team_id) is None:
            session.add(Workspace(team_id=team_id, name=team_id, installed_at=now))
            session.flush()
        people: dict[str, Person] = {}
        for uid in [*users, "U0SEEDHELPER"]:
            person = Person(team_id=team_id, slack_user_id=uid, tz="Europe/Berlin", created_at=now)
            session.add(person)
            people[uid] = person
        session.flush()
        helper = people["U0SEEDHELPER"]
        asks = [
            Ask(
                team_id=team_id,
                asker_id=people[users[n % len(users)]].id,
                challenge=challenge(n),
                status=AskStatus.PAIRED,
                created_at=now,
            )
            for n in range(count)
        ]
        session.add_all(asks)
        session.flush()
        pairs = [
            Pair(
                team_id=team_id,
                ask_id=ask.id,
                helper_id=helper.id,
                asker_id=ask.asker_id,
                status=PairStatus.ACTIVE,
                created_at=now,
            )
            for ask in asks
        ]
        session.add_all(pairs)
        session.flush()
        checkins = [
            Checkin(
                team_id=team_id, pair_id=pair.id, kind=CheckinKind.ASKER, due_at=now, sent_at=now
            )
            for pair in pairs
        ]
        session.add_all(checkins)
        session.flush()
        for n, checkin in enumerate(checkins):
            enqueue(
                session,
                team_id=team_id,
                key=key(n),
                notice=CheckinDue(checkin_id=checkin.id, bump=False),
                to=ToPerson(users[n % len(users)]),
                now=now,
            )
