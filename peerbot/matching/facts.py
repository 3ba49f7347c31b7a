"""The plain types of matching: one ask, one set of facts per helper, one snapshot per ranking.

A helper is named by one id throughout matching (the index, the rules, the ask's lists): in
production it is the helper's Slack user id, in the offline evaluations the data set's user id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from peerbot.matching.rules import Eligibility


@dataclass(frozen=True, slots=True)
class HelperFacts:
    """What is known about a helper beyond text, for the hard rules and the ranker alike.

    ``None`` means unknown; an unknown capacity sets no limit.
    """

    #: Hard rules: willing, reachable on Slack, not paused, not blocked.
    opted_in: bool = True
    reachable: bool = True
    paused_until: datetime | None = None
    #: Ids of the people this helper never wants to be matched with.
    never_match: frozenset[str] = field(default_factory=frozenset)
    #: Capacity (asks at a time) and how much of it active pairs use.
    capacity_total: int | None = None
    capacity_used: int | None = None
    #: Offers waiting for this helper's answer, and how many may wait at once.
    pending_offers: int | None = None
    pending_offers_max: int | None = None
    #: Signals of the ranker.
    helps_given: int | None = None
    rating_mean: float | None = None
    rating_count: int = 0
    years_managing: float | None = None
    utc_offset_minutes: int | None = None
    offers_received: int | None = None
    offers_accepted: int | None = None
    median_accept_hours: float | None = None
    recent_offers: int | None = None


@dataclass(frozen=True, slots=True)
class Ask:
    """A question to route: its text and vector, when, who asks, and what rules out whom.

    ``asker_id`` is never ranked; ``asker_never_match`` lists helpers the asker blocked and
    ``already_offered`` those who were offered this ask before.
    """

    text: str
    vector: npt.NDArray[np.float32]
    now: datetime
    asker_id: str | None = None
    asker_utc_offset_minutes: int | None = None
    asker_never_match: frozenset[str] = field(default_factory=frozenset)
    already_offered: frozenset[str] = field(default_factory=frozenset)
    #: Topics of the ask (picked by the asker; tags in the offline data): ``topic_history``.
    topics: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A helper of the workspace: ids, time zone and facts (``user_id`` is the matching id)."""

    person_id: int
    user_id: str
    tz: str | None
    facts: HelperFacts = field(default_factory=HelperFacts)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one ranking needs beyond the index, loaded once and shared by rules and ranker.

    ``managers`` maps user ids to their manager's user id (the reporting lines).
    ``eligibility``, when given, holds the same helpers and managers with the rules that do not
    depend on the ask already applied (kept between asks by the caller): the ranker asks it
    instead of checking every rule of every helper.
    """

    ask: Ask
    helpers: Sequence[Candidate]
    managers: Mapping[str, str | None] = field(default_factory=dict)
    eligibility: Eligibility | None = None


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate's place in the ranking, with a short true reason."""

    candidate: Candidate
    score: float
    explanation: str
