"""People's data: export it, delete it ("forget"), keep it only as long as needed.

- :meth:`PrivacyService.export` gathers every row about one person (and, of a shared pair,
  only what they could already see) as JSON-ready data.
- :meth:`PrivacyService.forget` ends what is in progress politely (an open ask is withdrawn and
  its pending offer messages updated; an active pair is closed and the other person told,
  without the reason), then redacts the person's text everywhere it is stored and replaces
  their Slack id by a stand-in. What stays are rows that no longer identify them (statuses,
  dates, ratings), counted in the report without their id. Running it twice changes nothing.
- :meth:`PrivacyService.apply_retention` (the tick) redacts the text of asks and of peer
  circles that ended more than ``retention_days`` ago and prunes sent outbox rows after 30
  days.

Messages already queued need no special care: they name rows by id and are rendered at send
time, and a notice about a forgotten person or a redacted ask is dropped quietly
(``NoticeGone``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, literal, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain import notices
from peerbot.domain.asks import waiting_for_helper
from peerbot.domain.ports import Clock
from peerbot.domain.privacy import (
    REDACTED,
    REMOVED_AT,
    SENT_OUTBOX_DAYS,
    forgotten_id,
    is_redacted,
)
from peerbot.services import messages
from peerbot.services.erasures import record_erasure
from peerbot.services.journey import withdraw_offer_message
from peerbot.services.pairs import retire_pair_buttons
from peerbot.services.people import ensure_workspace, find_person
from peerbot.services.programme_settings import forget_admin, retention_days, retention_overrides
from peerbot.store.circle_privacy import forget_circle_data, redact_circles
from peerbot.store.db import unit_of_work
from peerbot.store.export import messages_naming, person_export
from peerbot.store.models import (
    Ask,
    AskStatus,
    Base,
    Checkin,
    Circle,
    CircleAction,
    CircleFeedback,
    CircleMember,
    CircleStatus,
    Commitment,
    Embedding,
    EmbeddingOwner,
    Feedback,
    HelperNeverMatch,
    HelperProfile,
    IndexErasure,
    Offer,
    OfferStatus,
    OutboxMessage,
    OutboxStatus,
    Pair,
    PairStatus,
    Person,
    Workspace,
)

if TYPE_CHECKING:
    from peerbot.services.circles import CircleService
    from peerbot.services.index_snapshot import SnapshotStore

log = logging.getLogger(__name__)

#: Asks in these states ended (their text is redacted after the retention period).
ENDED_ASKS = (AskStatus.CLOSED, AskStatus.UNMET, AskStatus.CANCELLED)
#: Pairs in these states are still running (closed on forget).
LIVE_PAIRS = (PairStatus.ACTIVE, PairStatus.PAUSED)
#: Characters of a past ask an offer's explanation may quote (``matching.ranker``: 60, cut).
_QUOTE_PREFIX = 40

#: How long a removed workspace stays paused (until it is purged or reinstalled).
FOREVER = timedelta(days=36500)

#: Moves an ask on when its pending offer's helper is gone (``AskService.release_offer``).
ReleaseOffer = Callable[[Session, Offer, datetime], None]


@dataclass
class ForgetReport:
    """What ``forget`` did, and what stays, as counts (never ids)."""

    found: bool = False
    asks_redacted: int = 0
    asks_withdrawn: int = 0
    offers_withdrawn: int = 0
    offers_released: int = 0
    pairs_closed: int = 0
    circles_left: int = 0
    commitments_redacted: int = 0
    feedback_redacted: int = 0
    explanations_redacted: int = 0
    embeddings_deleted: int = 0
    messages_deleted: int = 0
    #: Rows kept with no text and no link to the person: asks, offers, pairs, feedback ratings.
    kept: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One paragraph for the CLI and the person."""
        if not self.found:
            return "nothing held about this person (already forgotten, or never used peerbot)"
        done = {k: v for k, v in asdict(self).items() if isinstance(v, int) and k != "found"}
        parts = [f"{k.replace('_', ' ')} {v}" for k, v in done.items() if v]
        kept = ", ".join(f"{v} {k}" for k, v in self.kept.items() if v) or "nothing"
        return "forgotten: " + (", ".join(parts) or "profile only") + f". Kept as counts: {kept}"


@dataclass
class RetentionReport:
    """What one retention pass did."""

    asks_redacted: int = 0
    circles_redacted: int = 0
    outbox_pruned: int = 0
    workspaces_purged: int = 0


def _key(*parts: object) -> str:
    return ":".join(str(p) for p in parts)


def _person_and_asks(
    session: Session, team_id: str, user_id: str
) -> tuple[Person, list[Ask]] | None:
    """The person and every ask they made, or None when peerbot does not know them."""
    me = find_person(session, team_id, user_id)
    if me is None:
        return None
    asks = session.scalars(select(Ask).where(Ask.team_id == team_id, Ask.asker_id == me.id))
    return me, list(asks)


class PrivacyService:
    """Export, forget and retention for one deployment."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        *,
        release_offer: ReleaseOffer | None = None,
        circles: CircleService | None = None,
        retention_days: int = 365,
        uninstall_grace_days: int = 30,
        snapshots: SnapshotStore | None = None,
    ) -> None:
        """``snapshots``: the matching index's snapshots on this host, removed whenever text
        is erased (they hold copies of past asks' text)."""
        self._snapshots = snapshots
        self._sessions = sessions
        self._clock = clock
        self._release = release_offer
        self._circles = circles
        self._retention = timedelta(days=retention_days)
        self._retention_days = retention_days
        self._grace = timedelta(days=uninstall_grace_days)

    # ------------------------------------------------------------------ export

    def export(self, team_id: str, user_id: str) -> dict[str, Any]:
        """Every row about ``user_id`` in ``team_id``, as JSON-ready data; of a shared pair,
        only what they could already see (the other's Slack id, the ask, commitments, thanks
        to them). Nothing about anyone else."""
        with unit_of_work(self._sessions) as session:
            return person_export(session, team_id, user_id, self._clock.now())

    def send_export(self, team_id: str, user_id: str) -> bool:
        """Queue the person's data as a DM to them (built from the tables when it is sent).
        False when nothing is held about them."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            me = find_person(session, team_id, user_id)
            if me is None:
                return False
            messages.post(
                session,
                team_id=team_id,
                key=_key("export", me.id, now.isoformat()),
                to=user_id,
                notice=notices.DataExport(person_id=me.id),
                now=now,
            )
        return True

    def export_json(self, team_id: str, user_id: str) -> str:
        """:meth:`export` as indented JSON text."""
        return json.dumps(self.export(team_id, user_id), indent=2, ensure_ascii=False)

    # ------------------------------------------------------------------ forget

    def person_left(self, team_id: str, user_id: str) -> ForgetReport:
        """Someone was deactivated in Slack: what is in progress ends politely (as in
        :meth:`forget`, but nothing is redacted), and they stop being a helper, so that a
        reactivated account is not silently offered asks again (they opt in anew)."""
        now = self._clock.now()
        report = ForgetReport()
        with unit_of_work(self._sessions) as session:
            found = _person_and_asks(session, team_id, user_id)
            if found is None:
                return report
            report.found = True
            me, asks = found
            channels = self._end_in_progress(session, team_id, me, asks, now, report)
            profile = session.get(HelperProfile, me.id)
            if profile is not None and profile.opted_in:
                profile.opted_in = False
                profile.updated_at = now
        self._out_of_channels(team_id, user_id, channels)
        return report

    def _out_of_channels(self, team_id: str, user_id: str, channels: list[str]) -> None:
        """After the commit: out of their circles' private channels (best effort)."""
        if channels and self._circles is not None:
            self._circles.remove_from_channels(team_id, user_id, channels)

    def forget(self, team_id: str, user_id: str) -> ForgetReport:
        """Delete ``user_id``'s data in ``team_id`` (idempotent); see the module docstring."""
        now = self._clock.now()
        channels: list[str] = []
        erased: dict[str, int] = {}
        with unit_of_work(self._sessions) as session:
            report = self._forget(session, team_id, user_id, now, channels)
            if report.found:  # counted with the erasure itself (see services.erasures)
                erased[team_id] = record_erasure(session, team_id, now)
        self._out_of_channels(team_id, user_id, channels)
        self._compact()
        if report.found:
            self._discard_snapshots(erased)
            log.info("privacy: a person's data was deleted in %s: %s", team_id, report.summary())
        return report

    def _discard_snapshots(self, erased: dict[str, int]) -> None:
        """After an erasure committed (``erased``: each workspace's erasure count it made, see
        :mod:`peerbot.services.erasures`): this host's index snapshots of it go at once (see
        :meth:`~peerbot.services.index_snapshot.SnapshotStore.discard`); every other host's
        workers learn of it from the count in the database."""
        if self._snapshots is None:
            return
        for team_id, count in erased.items():
            self._snapshots.discard(team_id, count)

    def _compact(self) -> None:
        """On SQLite, fold the WAL into the file and empty it, so that no old page image of the
        deleted text survives beside the database (secure_delete zeroes freed space)."""
        engine = self._sessions.kw.get("bind")
        if engine is None or engine.dialect.name != "sqlite":
            return
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except Exception:  # best effort: another reader may hold the WAL a moment longer
            log.warning("privacy: could not checkpoint the SQLite WAL", exc_info=True)
        finally:
            raw.close()

    def _forget(
        self, session: Session, team_id: str, user_id: str, now: datetime, channels: list[str]
    ) -> ForgetReport:
        report = ForgetReport()
        found = _person_and_asks(session, team_id, user_id)
        if found is None:
            return report
        report.found = True
        me, asks = found
        ask_ids = [a.id for a in asks]

        channels += self._end_in_progress(session, team_id, me, asks, now, report)

        # 4. Redact their text everywhere it is stored.
        self._redact_asks(session, team_id, asks, report)
        my_pairs = list(
            session.scalars(select(Pair.id).where(Pair.team_id == team_id, Pair.asker_id == me.id))
        )
        if my_pairs:
            report.commitments_redacted = self._count(
                session,
                update(Commitment)
                .where(Commitment.pair_id.in_(my_pairs), Commitment.text != REDACTED)
                .values(text=REDACTED),
            )
        report.feedback_redacted = self._count(
            session,
            update(Feedback)
            .where(
                Feedback.person_id == me.id,
                or_(Feedback.thanks.is_not(None), Feedback.reflection.is_not(None)),
            )
            .values(thanks=None, reflection=None),
        )
        session.execute(
            update(Offer)
            .where(Offer.helper_id == me.id)
            .values(pass_reason=None, explanation=REDACTED)
        )
        report.embeddings_deleted += self._count(
            session,
            delete(Embedding).where(
                Embedding.team_id == team_id,
                Embedding.owner_kind == EmbeddingOwner.HELPER_EXPERTISE,
                Embedding.owner_id == me.id,
            ),
        )
        session.execute(delete(HelperNeverMatch).where(HelperNeverMatch.helper_person_id == me.id))
        session.execute(
            delete(HelperNeverMatch).where(
                HelperNeverMatch.team_id == team_id,
                HelperNeverMatch.blocked_slack_user_id == user_id,
            )
        )
        session.execute(delete(HelperProfile).where(HelperProfile.person_id == me.id))
        forget_circle_data(session, me.id, now)
        session.execute(
            update(Person)
            .where(Person.team_id == team_id, Person.manager_slack_user_id == user_id)
            .values(manager_slack_user_id=None)
        )
        session.execute(
            update(Pair)
            .where(Pair.team_id == team_id, Pair.closed_by == user_id)
            .values(closed_by="system")
        )
        forget_admin(session, team_id, user_id)  # programme view: links, digests, settings log
        # Helpers who helped on these asks: their index entries are rebuilt without them.
        self._touch_helpers(session, team_id, ask_ids, now)

        # 5. Messages that name them (sent or not), and updates of those messages.
        report.messages_deleted = self._delete_messages(session, team_id, user_id)

        # 6. The person: a stand-in id and no profile fields; rows that stay point to it.
        me.slack_user_id = forgotten_id()
        for name in (
            "enterprise_id",
            "display_name",
            "real_name",
            "email",
            "tz",
            "title",
            "function",
            "manager_slack_user_id",
            "last_dm_failure",
            "last_dm_failure_at",
        ):
            setattr(me, name, None)
        me.deleted = True
        me.can_be_messaged = False
        me.updated_at = now
        session.flush()

        report.kept = {
            "asks": len(asks),
            "offers": self._count_rows(
                session,
                select(Offer.id).where(
                    or_(Offer.helper_id == me.id, Offer.ask_id.in_(ask_ids or [-1]))
                ),
            ),
            "pairs": self._count_rows(
                session, select(Pair.id).where(or_(Pair.asker_id == me.id, Pair.helper_id == me.id))
            ),
            "ratings": self._count_rows(
                session, select(Feedback.id).where(Feedback.person_id == me.id)
            ),
        }
        return report

    def _end_in_progress(
        self,
        session: Session,
        team_id: str,
        me: Person,
        asks: list[Ask],
        now: datetime,
        report: ForgetReport,
    ) -> list[str]:
        """End politely what is in progress for ``me``: offers waiting on them move on, their
        open asks are withdrawn, their pairs close and the other person is told (no reason),
        and they leave the circle pool and their circles as by the Leave button (the others
        hear only that the circle is smaller; below three it closes kindly). Returns the
        private circle channels to take them out of once committed."""
        # 1. As a helper: pending offers move on to the next candidate.
        for offer in session.scalars(
            select(Offer).where(Offer.helper_id == me.id, Offer.status == OfferStatus.PENDING)
        ):
            if self._release is not None:
                self._release(session, offer, now)
            else:
                offer.status = OfferStatus.SKIPPED
                offer.responded_at = now
            report.offers_released += 1

        # 2. As an asker: asks still waiting for a helper (also one waiting after it went
        # unmet, which would otherwise be offered to a newly free helper) are withdrawn and
        # their pending offer DMs updated.
        for ask in asks:
            if not waiting_for_helper(ask.status, ask.waiting_until, now):
                continue
            ask.status = AskStatus.CANCELLED
            ask.closed_at = now
            ask.updated_at = now
            ask.waiting_until = None
            report.asks_withdrawn += 1
            for offer in session.scalars(
                select(Offer).where(Offer.ask_id == ask.id, Offer.status == OfferStatus.PENDING)
            ):
                offer.status = OfferStatus.WITHDRAWN
                offer.responded_at = now
                report.offers_withdrawn += 1
                withdraw_offer_message(session, offer, now)

        # 3. Running pairs are closed; the other person is told, without the reason.
        for pair in session.scalars(
            select(Pair).where(
                Pair.team_id == team_id,
                or_(Pair.asker_id == me.id, Pair.helper_id == me.id),
                Pair.status.in_(LIVE_PAIRS),
            )
        ):
            pair.status = PairStatus.CLOSED
            pair.closed_at = now
            pair.closed_by = "system"
            pair.next_checkin_at = None
            session.execute(
                delete(Checkin).where(Checkin.pair_id == pair.id, Checkin.sent_at.is_(None))
            )
            retire_pair_buttons(session, pair, now)
            paired_ask = session.get(Ask, pair.ask_id)
            if paired_ask is not None and paired_ask.status == AskStatus.PAIRED:
                paired_ask.status = AskStatus.CLOSED
                paired_ask.closed_at = now
            other = session.get(Person, pair.helper_id if pair.asker_id == me.id else pair.asker_id)
            if other is not None:
                messages.post(
                    session,
                    team_id=team_id,
                    key=_key("pair", pair.id, "ended"),
                    to=other.slack_user_id,
                    notice=notices.PairEnded(pair_id=pair.id, started=pair.created_at.date()),
                    now=now,
                )
            report.pairs_closed += 1
        session.flush()

        # 4. Peer circles: out of the pool and every circle they are still in.
        if self._circles is None:
            return []
        report.circles_left = len(
            session.scalars(
                select(CircleMember.id).where(
                    CircleMember.person_id == me.id, CircleMember.left_at.is_(None)
                )
            ).all()
        )
        channels = self._circles.depart(session, me, now)
        session.flush()
        return channels

    def _redact_asks(
        self, session: Session, team_id: str, asks: list[Ask], report: ForgetReport
    ) -> None:
        """Blank the asks' text, their offers' explanations, any explanation quoting them, and
        their embeddings."""
        ids = [a.id for a in asks]
        if not ids:
            return
        quotes = {
            " ".join(a.challenge.split())[:_QUOTE_PREFIX]
            for a in asks
            if not is_redacted(a.challenge)
        }
        for ask in asks:
            if not is_redacted(ask.challenge) or ask.desired_result or ask.obstacles:
                report.asks_redacted += 1
            ask.challenge = REDACTED
            ask.desired_result = None
            ask.obstacles = None
            ask.client_key = None
            ask.excluded_user_ids = None
        report.explanations_redacted += self._count(
            session,
            update(Offer)
            .where(
                Offer.ask_id.in_(ids),
                or_(Offer.explanation != REDACTED, Offer.pass_reason.is_not(None)),
            )
            .values(explanation=REDACTED, pass_reason=None),
        )
        for quote in sorted(q for q in quotes if q):
            report.explanations_redacted += self._count(
                session,
                update(Offer)
                .where(Offer.team_id == team_id, Offer.explanation.contains(quote, autoescape=True))
                .values(explanation=REDACTED),
            )
        report.embeddings_deleted += self._count(
            session,
            delete(Embedding).where(
                Embedding.team_id == team_id,
                Embedding.owner_kind == EmbeddingOwner.ASK,
                Embedding.owner_id.in_(ids),
            ),
        )

    @staticmethod
    def _touch_helpers(session: Session, team_id: str, ask_ids: list[int], now: datetime) -> None:
        if not ask_ids:
            return
        helpers = select(Pair.helper_id).where(Pair.ask_id.in_(ask_ids))
        session.execute(
            update(HelperProfile)
            .where(HelperProfile.team_id == team_id, HelperProfile.person_id.in_(helpers))
            .values(updated_at=now)
        )

    def _delete_messages(self, session: Session, team_id: str, user_id: str) -> int:
        doomed = messages_naming(session, team_id, user_id)
        keys = {m.idempotency_key for m in doomed}
        for m in session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.team_id == team_id, OutboxMessage.status != OutboxStatus.SENT
            )
        ):
            to = (m.payload or {}).get("to") or {}
            if to.get("type") == "replacing" and to.get("key") in keys and m not in doomed:
                doomed.append(m)
        for m in doomed:
            session.delete(m)
        session.flush()
        return len(doomed)

    @staticmethod
    def _count(session: Session, stmt: Any) -> int:
        return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]

    @staticmethod
    def _count_rows(session: Session, stmt: Any) -> int:
        return len(list(session.scalars(stmt)))

    # ------------------------------------------------------------------ workspaces

    def purge_workspace(self, team_id: str) -> dict[str, int]:
        """Delete every row of ``team_id`` (the app was removed there); rows deleted per table."""
        counts: dict[str, int] = {}
        with unit_of_work(self._sessions) as session:
            for table in reversed(Base.metadata.sorted_tables):
                if "team_id" not in table.c or table is IndexErasure.__table__:
                    continue
                n = self._count(session, delete(table).where(table.c.team_id == team_id))
                if n:
                    counts[table.name] = n
            # Its count is kept (and grows): no snapshot of the workspace is loaded should it
            # be installed again.
            erased = {team_id: record_erasure(session, team_id, self._clock.now())}
        self._compact()
        self._discard_snapshots(erased)
        log.info("privacy: workspace %s purged (%s)", team_id, counts)
        return counts

    def workspace_removed(self, team_id: str, reason: str) -> None:
        """Slack said the app was uninstalled or its tokens revoked: stop sending there at once
        (for every worker), drop the messages waiting, and start the purge grace period."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            ws = ensure_workspace(session, team_id, now)
            ws.sending_paused_until = now + FOREVER
            ws.sending_paused_reason = reason
            ws.settings = {**(ws.settings or {}), REMOVED_AT: now.isoformat()}
            session.execute(
                delete(OutboxMessage).where(
                    OutboxMessage.team_id == team_id,
                    OutboxMessage.status != OutboxStatus.SENT,
                )
            )
        log.warning(
            "workspace %s: %s; nothing more is sent there and its data is purged in %d days "
            "(or now: `peerbot privacy purge-workspace --team %s`)",
            team_id,
            reason,
            self._grace.days,
            team_id,
        )

    def purge_removed(self) -> int:
        """Purge the workspaces removed longer ago than the grace period; how many."""
        now = self._clock.now()
        with unit_of_work(self._sessions) as session:
            due = [
                ws.team_id
                for ws in session.scalars(select(Workspace))
                if (ws.settings or {}).get(REMOVED_AT)
                and datetime.fromisoformat(ws.settings[REMOVED_AT]) + self._grace <= now
            ]
        for team_id in due:
            self.purge_workspace(team_id)
        return len(due)

    # ------------------------------------------------------------------ retention

    def retention_days_for(self, team_id: str) -> int:
        """Days an ended ask's text is kept in ``team_id`` (its programme setting, else the
        deployment's ``RETENTION_DAYS``): what people are told."""
        with unit_of_work(self._sessions) as session:
            return retention_days(session, team_id, self._retention_days)

    def apply_retention(self) -> RetentionReport:
        """Redact the text of asks and of peer circles that ended more than the retention
        period ago; prune sent outbox rows older than 30 days. Returns what it did."""
        now = self._clock.now()
        report = RetentionReport()
        report.workspaces_purged = self.purge_removed()
        with unit_of_work(self._sessions) as session:
            # Each workspace's own period (programme settings); the others use the default.
            overrides = retention_overrides(session)
            # By the partial index on the unredacted asks' end times (migration 0016): its
            # condition rendered inline (SQLite uses a partial index only for a query naming
            # its condition, not a bound parameter), and the status as an expression no index
            # answers (else SQLite's planner walks every ended ask by status: 5 s at 1.1
            # million asks).
            blank = literal(REDACTED, literal_execute=True)
            ended = (
                Ask.status.op("||")(blank).in_([s.value for s in ENDED_ASKS]),
                Ask.challenge != blank,
            )
            unredacted = select(Ask)
            old = list(
                session.scalars(
                    unredacted.where(
                        *ended,
                        Ask.closed_at <= now - self._retention,
                        Ask.team_id.not_in(list(overrides)),
                    ).limit(500)
                )
            )
            for team_id, days in overrides.items():
                old += session.scalars(
                    unredacted.where(
                        *ended,
                        Ask.team_id == team_id,
                        Ask.closed_at <= now - timedelta(days=days),
                    ).limit(500)
                )
            by_team: dict[str, list[Ask]] = {}
            erased: dict[str, int] = {}
            for ask in old:
                by_team.setdefault(ask.team_id, []).append(ask)
            for team_id, asks in by_team.items():
                tally = ForgetReport()
                self._redact_asks(session, team_id, asks, tally)
                pairs = select(Pair.id).where(Pair.ask_id.in_([a.id for a in asks]))
                session.execute(
                    update(Commitment).where(Commitment.pair_id.in_(pairs)).values(text=REDACTED)
                )
                session.execute(
                    update(Feedback)
                    .where(Feedback.pair_id.in_(pairs))
                    .values(thanks=None, reflection=None)
                )
                self._touch_helpers(session, team_id, [a.id for a in asks], now)
                report.asks_redacted += len(asks)
                erased[team_id] = record_erasure(session, team_id, now)
            report.circles_redacted = self._redact_old_circles(session, now - self._retention)
            report.outbox_pruned = self._count(
                session,
                delete(OutboxMessage).where(
                    OutboxMessage.status == OutboxStatus.SENT,
                    OutboxMessage.sent_at <= now - timedelta(days=SENT_OUTBOX_DAYS),
                ),
            )
        self._discard_snapshots(erased)
        if report.asks_redacted or report.circles_redacted or report.outbox_pruned:
            log.info(
                "retention: %d ended asks redacted, %d ended circles redacted, "
                "%d sent messages pruned",
                report.asks_redacted,
                report.circles_redacted,
                report.outbox_pruned,
            )
        return report

    def _redact_old_circles(self, session: Session, cutoff: datetime) -> int:
        """Circles closed at or before ``cutoff``: what members wrote (the pool text kept on
        their membership, their actions, their pulse and close-out notes) is redacted as on
        forget (``store.circle_privacy``); ratings, dates and the shared theme stay. Up to 500
        circles a pass; circles already redacted are not selected again. How many."""
        unredacted = or_(
            select(CircleMember.id)
            .where(CircleMember.circle_id == Circle.id, CircleMember.text != REDACTED)
            .exists(),
            select(CircleAction.id)
            .where(CircleAction.circle_id == Circle.id, CircleAction.text != REDACTED)
            .exists(),
            select(CircleFeedback.id)
            .where(CircleFeedback.circle_id == Circle.id, CircleFeedback.note.is_not(None))
            .exists(),
        )
        ids = list(
            session.scalars(
                select(Circle.id)
                .where(
                    Circle.status == CircleStatus.CLOSED,
                    Circle.closed_at <= cutoff,
                    unredacted,
                )
                .order_by(Circle.id)
                .limit(500)
            )
        )
        if ids:
            redact_circles(session, ids)
        return len(ids)
