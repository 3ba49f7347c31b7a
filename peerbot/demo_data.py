"""The demo workspace for `peerbot sandbox`: generated here, so the demo needs nothing else."""

from __future__ import annotations

import random
from dataclasses import dataclass

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
