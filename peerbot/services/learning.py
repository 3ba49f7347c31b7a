"""Learning each workspace's ranker weights from what happened, and serving them (issue 17).

The pure part (features replayed in time order, the pairwise model, the fallback rule) is
:mod:`peerbot.matching.learned`; this module reads the labels from the tables, stores one
:class:`~peerbot.store.models.RankerModel` row per workspace and hands the matcher its weights.

Labels, per past ask (only asks with a stored ask vector of the current model):

- **positives**: the helpers who accepted an offer of it or were paired on it (an introduction
  that failed still says the helper was willing);
- **explicit negatives**: the helpers who passed on it; expired or withdrawn offers say nothing
  and are left out; the other negatives are sampled from the helpers known at the time;
- **weight**: from the asker's rating of the pair and the "did you meet?" answer
  (:func:`~peerbot.matching.learned.label_weight`; the answers: :func:`meeting_answers`).

The tick calls :meth:`RankerLearning.refresh_due`: a workspace is (re)trained when it has at least
:data:`~peerbot.matching.learned.MIN_TRAINING_ASKS` labelled asks and enough arrived since the
last training (:func:`~peerbot.matching.learned.needs_refresh`); it first counts only the labels
beyond the offer and pair ids seen at the last training (:func:`labelled_since`), and counts the
whole history only when those could be enough. Until then, and whenever the
stored model was trained on too few asks, the hand-set weights rank.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Subquery, func, select, union
from sqlalchemy.orm import Session, aliased, sessionmaker

from peerbot.domain.asks import text_for_matching
from peerbot.domain.ports import Clock
from peerbot.domain.topics import ask_topics
from peerbot.matching import HelperRecord
from peerbot.matching.learned import (
    HelpEvent,
    LearnedModel,
    fit,
    label_weight,
    needs_refresh,
    replay_features,
    weights_for,
)
from peerbot.matching.scoring import RankerWeights
from peerbot.services.ranking import load_records
from peerbot.store.db import read_only
from peerbot.store.models import (
    Ask,
    Embedding,
    EmbeddingOwner,
    Feedback,
    FeedbackRole,
    HelperProfile,
    MeetingAnswer,
    MeetingCheck,
    Offer,
    OfferStatus,
    Pair,
    PairStatus,
    Person,
    RankerModel,
)
from peerbot.store.types import vector_from_bytes

log = logging.getLogger(__name__)


def meeting_answers(session: Session, team_id: str) -> dict[int, bool]:
    """The "did you meet?" answers of the workspace's pairs: ``{pair id: met}``.

    A pair met when either side answered "yes"; it did not when a side answered "no" and
    nobody "yes"; pairs with only "not yet" (or no answer) are absent. :func:`load_events`
    passes each pair's answer to :func:`~peerbot.matching.learned.label_weight` as ``met``
    (a pair that never met counts half).
    """
    met: dict[int, bool] = {}
    for pair_id, answer in session.execute(
        select(MeetingCheck.pair_id, MeetingCheck.answer).where(
            MeetingCheck.team_id == team_id,
            MeetingCheck.answer.in_([MeetingAnswer.YES, MeetingAnswer.NO]),
        )
    ):
        met[pair_id] = met.get(pair_id, False) or answer == MeetingAnswer.YES
    return met


def _labelled(team_id: str, after: tuple[int, int] | None = None) -> Subquery:
    """Ids of the workspace's asks with a positive label (an accepted offer or a pair), once
    each; only those labelled by offers and pairs with ids beyond ``after`` (offer id, pair id)
    when given."""
    # One union of ask ids (deduplicated), not ``id IN (…) OR id IN (…)`` over the asks: with
    # 1.1 million asks and 1.5 million offers PostgreSQL ran that as a subplan per ask (the
    # tick's learning check did not finish in 10 minutes).
    offers = select(Offer.ask_id).where(
        Offer.team_id == team_id, Offer.status == OfferStatus.ACCEPTED
    )
    pairs = select(Pair.ask_id).where(Pair.team_id == team_id)
    if after is not None:
        offers = offers.where(Offer.id > after[0])
        pairs = pairs.where(Pair.id > after[1])
    return union(offers, pairs).subquery()


def positive_asks(session: Session, team_id: str) -> int:
    """Asks of the workspace with at least one positive label (accepted or paired)."""
    return int(session.scalar(select(func.count()).select_from(_labelled(team_id))) or 0)


def high_water(session: Session) -> tuple[int, int]:
    """The largest offer and pair ids now (two primary-key reads): what a model trained now
    has seen."""
    return (
        int(session.scalar(select(func.max(Offer.id))) or 0),
        int(session.scalar(select(func.max(Pair.id))) or 0),
    )


def labelled_since(session: Session, team_id: str, mark: tuple[int, int]) -> int:
    """Asks labelled by offers and pairs beyond ``mark`` (:func:`high_water` at the last
    training): a primary-key range, however long the history. An upper bound of the asks
    labelled since (an ask labelled before and again after counts here too)."""
    return int(session.scalar(select(func.count()).select_from(_labelled(team_id, mark))) or 0)


def load_events(
    session: Session, team_id: str, model_name: str, recent: int | None = None
) -> list[HelpEvent]:
    """The workspace's labelled past asks as :class:`HelpEvent` (see the module docstring);
    only the ``recent`` latest labelled asks when given (the training window: the rows of
    older asks are never read)."""
    asker = aliased(Person)
    window = None
    if recent is not None:
        labelled = _labelled(team_id)
        ids = (
            select(Ask.id)
            .join(labelled, labelled.c.ask_id == Ask.id)
            .where(Ask.team_id == team_id)
            .order_by(Ask.created_at.desc(), Ask.id.desc())
            .limit(recent)
            .subquery()
        )
        window = select(ids.c.id)
    stmt = (
        select(
            Ask.id,
            Ask.challenge,
            Ask.desired_result,
            Ask.obstacles,
            Ask.created_at,
            asker.slack_user_id,
            Embedding.vector,
            Embedding.dim,
            Ask.topics,
            Ask.topic,
        )
        .join(asker, asker.id == Ask.asker_id)
        .join(
            Embedding,
            (Embedding.owner_kind == EmbeddingOwner.ASK)
            & (Embedding.owner_id == Ask.id)
            & (Embedding.model_name == model_name),
        )
        .where(Ask.team_id == team_id)
        .order_by(Ask.created_at, Ask.id)
    )
    rows = session.execute(stmt if window is None else stmt.where(Ask.id.in_(window))).all()
    helper = aliased(Person)
    positives: dict[int, dict[str, float]] = {}
    declined: dict[int, set[str]] = {}
    offers = (
        select(Offer.ask_id, Offer.status, helper.slack_user_id)
        .join(helper, helper.id == Offer.helper_id)
        .where(
            Offer.team_id == team_id,
            Offer.status.in_([OfferStatus.ACCEPTED, OfferStatus.PASSED]),
        )
    )
    if window is not None:
        offers = offers.where(Offer.ask_id.in_(window))
    for ask_id, status, uid in session.execute(offers):
        if status == OfferStatus.ACCEPTED:
            positives.setdefault(ask_id, {})[uid] = 1.0
        else:
            declined.setdefault(ask_id, set()).add(uid)
    met = meeting_answers(session, team_id)
    pairs = (
        select(Pair.id, Pair.ask_id, helper.slack_user_id, Pair.status, Feedback.rating)
        .join(helper, helper.id == Pair.helper_id)
        .outerjoin(Feedback, (Feedback.pair_id == Pair.id) & (Feedback.role == FeedbackRole.ASKER))
        .where(Pair.team_id == team_id)
    )
    if window is not None:
        pairs = pairs.where(Pair.ask_id.in_(window))
    for pair_id, ask_id, uid, pair_status, rating in session.execute(pairs):
        weight = label_weight(rating, met.get(pair_id))
        if pair_status == PairStatus.FAILED and rating is None:
            weight = 1.0  # the introduction failed: still willing, nothing more known
        positives.setdefault(ask_id, {})[uid] = weight
    events = []
    for ask_id, challenge, desired, obstacles, created, asker_uid, vec, dim, picked, auto in rows:
        pos = positives.get(ask_id)
        if not pos:
            continue
        events.append(
            HelpEvent(
                ask_id=str(ask_id),
                text=text_for_matching(challenge, desired, obstacles),
                vector=vector_from_bytes(vec, dim),
                at=created,
                helpers=tuple(pos),
                asker_id=asker_uid,
                declined=tuple(sorted(declined.get(ask_id, set()) - set(pos))),
                weight=sum(pos.values()) / len(pos),
                topics=ask_topics(picked, auto),
            )
        )
    return events


#: Training replays at most this many of the most recent labelled asks (each one featurised
#: costs a ranking of the candidates): at 10,000 helpers the whole history took over ten minutes
#: of the tick.
TRAIN_RECENT_ASKS = 500
#: The asks before those still build the history they are ranked against, up to this many.
TRAIN_HISTORY_ASKS = 3000
#: ... against at most this many helpers: every helper those asks name (helped, passed), the
#: rest a deterministic sample of the others (the negatives are drawn from them).
TRAIN_HELPERS = 2000


def training_window(
    events: Sequence[HelpEvent],
    helpers: Sequence[HelperRecord],
    *,
    max_asks: int = TRAIN_RECENT_ASKS,
    max_helpers: int = TRAIN_HELPERS,
    history: int = TRAIN_HISTORY_ASKS,
    seed: str = "",
) -> tuple[list[HelpEvent], list[HelperRecord]]:
    """What one training replays: the latest ``history`` events (time order; the last
    ``max_asks`` of them are featurised, see :meth:`RankerLearning.train_events`) and at most
    ``max_helpers`` candidates: the ones the featurised events name first, then a sample of
    the others drawn deterministically from ``seed`` (the workspace)."""
    recent = sorted(events, key=lambda e: e.at)[-history:] if history > 0 else []
    if len(helpers) <= max_helpers:
        return recent, list(helpers)
    named = {h for e in recent[-max_asks:] for h in (*e.helpers, *e.declined)}
    kept = [r for r in helpers if r.helper_id in named]
    others = [r for r in helpers if r.helper_id not in named]
    room = max(0, max_helpers - len(kept))
    if room and others:
        picked = sorted(random.Random(seed).sample(range(len(others)), min(room, len(others))))
        kept += [others[i] for i in picked]
    return recent, kept


class RankerLearning:
    """Per-workspace learned weights: trained by the tick, read before each ranking."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        model_name: str,
        dimension: int,
        base: RankerWeights | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._model = model_name
        self._dim = dimension
        self.base = base or RankerWeights()
        self._cache: dict[str, tuple[datetime, RankerWeights]] = {}
        self._lock = threading.Lock()

    def weights(self, session: Session, team_id: str) -> RankerWeights:
        """The weights to rank the workspace's asks with (hand-set until a model is stored that
        was trained on enough asks). One primary-key read; parsed once per training."""
        row = session.execute(
            select(RankerModel.trained_at, RankerModel.model).where(RankerModel.team_id == team_id)
        ).one_or_none()
        if row is None:
            return self.base
        with self._lock:
            hit = self._cache.get(team_id)
            if hit is not None and hit[0] == row.trained_at:
                return hit[1]
        model = LearnedModel.from_mapping(row.model, self.base)
        chosen = weights_for(model, self.base)
        with self._lock:
            self._cache[team_id] = (row.trained_at, chosen)
        return chosen

    def train_team(self, session: Session, team_id: str, now: datetime) -> LearnedModel:
        """Train the workspace's model from its history and store it (the caller commits)."""
        mark = high_water(session)
        events, records = training_window(
            load_events(session, team_id, self._model, TRAIN_HISTORY_ASKS),
            load_records(session, team_id, self._model)[0],
            seed=team_id,
        )
        model = self.train_events(events, records, now)
        labelled = positive_asks(session, team_id)
        return self._store(session, team_id, model, labelled, mark, now)

    def train_events(
        self, events: Sequence[HelpEvent], records: Sequence[HelperRecord], now: datetime
    ) -> LearnedModel:
        """Fit a model on :func:`training_window`'s events and helpers: the latest
        :data:`TRAIN_RECENT_ASKS` featurised, the earlier ones only building the history."""
        data = replay_features(
            events, records, self._dim, base=self.base, max_asks=TRAIN_RECENT_ASKS
        )
        return fit(data, self.base, trained_at=now)

    def _store(
        self,
        session: Session,
        team_id: str,
        model: LearnedModel,
        labelled: int,
        mark: tuple[int, int],
        now: datetime,
    ) -> LearnedModel:
        row = session.get(RankerModel, team_id)
        if row is None:
            row = RankerModel(team_id=team_id)
            session.add(row)
        row.model = model.to_mapping()
        row.trained_on_asks = model.n_asks
        row.labelled_asks = labelled
        row.trained_at = now
        row.last_offer_id, row.last_pair_id = mark
        log.info(
            "trained the ranker of %s on %d asks: %s",
            team_id,
            model.n_asks,
            "learned" if weights_for(model, self.base) is model.weights else "hand-set kept",
        )
        return model

    def refresh_due(self, on_error: Callable[[str, Exception], None] | None = None) -> int:
        """Retrain every workspace whose labelled history grew enough; returns how many."""
        now = self._clock.now()
        with self._sessions() as session:
            teams = list(session.scalars(select(HelperProfile.team_id).distinct()))
        done = 0
        for team in teams:
            try:
                # Read and train reading only (no write lock held meanwhile: training a big
                # workspace takes a while), then store the model in a short write.
                with read_only(self._sessions) as session:
                    mark = high_water(session)  # before reading: later labels count next time
                    row = session.get(RankerModel, team)
                    if (
                        row is not None
                        and row.last_offer_id is not None
                        and row.last_pair_id is not None
                        and not needs_refresh(
                            row.labelled_asks,
                            row.labelled_asks
                            + labelled_since(session, team, (row.last_offer_id, row.last_pair_id)),
                        )
                    ):
                        continue  # not even an upper bound of the new labels is enough
                    labelled = positive_asks(session, team)
                    if not needs_refresh(row.labelled_asks if row else None, labelled):
                        continue
                    events, records = training_window(
                        load_events(session, team, self._model, TRAIN_HISTORY_ASKS),
                        load_records(session, team, self._model)[0],
                        seed=team,
                    )
                model = self.train_events(events, records, now)
                with self._sessions.begin() as session:
                    self._store(session, team, model, labelled, mark, now)
                done += 1
            except Exception as exc:  # one workspace's failure never stops the others
                log.exception("training the ranker of %s failed", team)
                if on_error is not None:
                    on_error(team, exc)
        return done
