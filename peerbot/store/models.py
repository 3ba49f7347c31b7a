"""SQLAlchemy models: the whole of peerbot's state.

Conventions
-----------
* Every row that belongs to a workspace carries its ``team_id`` (and ``enterprise_id`` where
  Slack gives one). No query crosses workspaces: filter on ``team_id`` always.
* Datetimes are :class:`~peerbot.store.types.UTCDateTime` (aware UTC in, aware UTC out; naive
  values are refused). ``created_at``/``updated_at`` default to the wall clock as a fallback
  only; services pass the :class:`~peerbot.domain.ports.Clock`'s ``now`` wherever time matters.
* Enumerations are Python :class:`~enum.StrEnum` classes stored as short strings
  (``native_enum=False``) with a CHECK constraint that lists the allowed values.
* JSON columns are ``JSON`` (``JSONB`` on PostgreSQL). Mutating a stored list or dict in place is
  not tracked: assign a new value (``profile.topics = [*profile.topics, "x"]``).
* Constraint and index names come from :data:`NAMING_CONVENTION`, so migrations can refer to
  them by name on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from peerbot.store.types import JSONType, UTCDateTime

#: Names for constraints and indexes (used by Alembic too).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Width of Slack ids (team, user, channel, message ts, view ids ...).
SLACK_ID = 32
#: Width of enumeration columns; leaves room for new values without a column change.
ENUM_LEN = 32


def utcnow() -> datetime:
    """Fallback default for audit timestamps (aware UTC)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base; its ``metadata`` is Alembic's target."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _enum(enum_cls: type[StrEnum], name: str) -> SAEnum:
    """A string-stored enumeration with a CHECK constraint named ``ck_<table>_<name>``."""
    return SAEnum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=ENUM_LEN,
        validate_strings=True,
        values_callable=lambda cls: [member.value for member in cls],
    )


# --------------------------------------------------------------------------- enumerations


class Urgency(StrEnum):
    """How soon the asker needs help."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class AskStatus(StrEnum):
    """Life cycle of an ask."""

    OPEN = "open"
    MATCHING = "matching"
    OFFERED = "offered"
    PAIRED = "paired"
    UNMET = "unmet"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class OfferStatus(StrEnum):
    """State of one offer of an ask to one helper."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    PASSED = "passed"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    SKIPPED = "skipped"


class PairStatus(StrEnum):
    """State of an asker–helper pairing."""

    ACTIVE = "active"
    PAUSED = "paused"
    CLOSED = "closed"
    #: The introduction could not be delivered; the ask went back to matching.
    FAILED = "failed"


class Cadence(StrEnum):
    """How often a pair is checked in on."""

    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"


class CommitmentStatus(StrEnum):
    """State of a commitment made in a pairing."""

    OPEN = "open"
    DONE = "done"
    DROPPED = "dropped"


class CheckinKind(StrEnum):
    """Who a check-in goes to and why."""

    ASKER = "asker"
    HELPER_MONTHLY = "helper_monthly"
    BUMP = "bump"


class CheckinAnswer(StrEnum):
    """The answer to a check-in; ``none`` until answered."""

    DONE = "done"
    IN_PROGRESS = "in_progress"
    STUCK = "stuck"
    CLOSE = "close"
    NONE = "none"
    # The helper's monthly check (issue 13): going well / haven't met yet / the asker has gone
    # quiet / not a fit.
    WELL = "well"
    NOT_MET = "not_met"
    QUIET = "quiet"
    NOT_FIT = "not_fit"


class FeedbackRole(StrEnum):
    """Which side of the pair gave feedback."""

    ASKER = "asker"
    HELPER = "helper"


class Outcome(StrEnum):
    """Whether the challenge was resolved."""

    RESOLVED = "resolved"
    PARTLY = "partly"
    NOT = "not"


class OutboxKind(StrEnum):
    """What an outbox message does: a new post, or an update of an earlier one."""

    POST = "post"
    UPDATE = "update"
    DELETE = "delete"
    EPHEMERAL = "ephemeral"
    PUBLISH_HOME = "publish_home"
    OPEN_DM = "open_dm"
    CALL = "call"


class OutboxStatus(StrEnum):
    """Delivery state of an outbox message."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


class SlackIdKind(StrEnum):
    """Which kind of Slack id was processed (for idempotent handling of retries)."""

    EVENT = "event"
    ACTION = "action"
    COMMAND = "command"
    VIEW = "view"
    SHORTCUT = "shortcut"


class EmbeddingOwner(StrEnum):
    """What an embedding vector belongs to."""

    HELPER_EXPERTISE = "helper_expertise"
    ASK = "ask"


# --------------------------------------------------------------------------- workspaces, people


class Workspace(Base):
    """A Slack workspace (team) where peerbot is installed."""

    __tablename__ = "workspaces"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    name: Mapped[str | None] = mapped_column(String(255))
    domain: Mapped[str | None] = mapped_column(String(255))
    bot_user_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: Slack refused the app's token or scopes for the whole workspace: nothing is sent here
    #: until then (a probe retries), and ``sending_paused_reason`` says what to fix.
    sending_paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sending_paused_reason: Mapped[str | None] = mapped_column(String(255))


class Person(Base):
    """A Slack user of a workspace, as far as peerbot knows them."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("team_id", "slack_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(
        String(SLACK_ID), ForeignKey("workspaces.team_id", ondelete="CASCADE"), index=True
    )
    enterprise_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    slack_user_id: Mapped[str] = mapped_column(String(SLACK_ID))
    display_name: Mapped[str | None] = mapped_column(String(255))
    real_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    #: IANA zone name from Slack (e.g. "Europe/Berlin").
    tz: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(255))
    #: Function or department (e.g. "Engineering").
    function: Mapped[str | None] = mapped_column(String(120))
    #: The person's manager, for the reporting line (never match someone with their own manager).
    manager_slack_user_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    can_be_messaged: Mapped[bool] = mapped_column(Boolean, default=True)
    last_dm_failure: Mapped[str | None] = mapped_column(String(255))
    last_dm_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class HelperProfile(Base):
    """A person's willingness and ability to help (one per person)."""

    __tablename__ = "helper_profiles"
    __table_args__ = (CheckConstraint("capacity >= 0", name="capacity_non_negative"),)

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    opted_in: Mapped[bool] = mapped_column(Boolean, default=False)
    expertise: Mapped[str] = mapped_column(Text, default="")
    #: Topic labels (a JSON list of strings).
    topics: Mapped[list[str]] = mapped_column(JSONType, default=list)
    years_managing: Mapped[int | None] = mapped_column(Integer)
    function: Mapped[str | None] = mapped_column(String(120))
    #: How many active pairs the helper takes at once.
    capacity: Mapped[int] = mapped_column(Integer, default=2)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Offers that lapsed unanswered in a row (any answer resets it); at three, a pause.
    missed_offers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When the "three unanswered offers" rule last paused them (None: never, or resumed since).
    auto_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: How they became a helper: "self" (signed up), "invited" (imported, no answer yet),
    #: "yes" (imported, said yes), "declined" (imported, said not now).
    consent: Mapped[str] = mapped_column(String(ENUM_LEN), default="self", server_default="self")
    #: When the helper last saved their own profile: a re-import never changes it after that.
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class HelperNeverMatch(Base):
    """A Slack user a helper never wants to be matched with."""

    __tablename__ = "helper_never_match"

    helper_person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    blocked_slack_user_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --------------------------------------------------------------------------- asks and offers


class Ask(Base):
    """A manager's request for help with a challenge."""

    __tablename__ = "asks"
    __table_args__ = (
        UniqueConstraint("team_id", "client_key"),
        Index("ix_asks_team_id_status", "team_id", "status"),
        # The tick's scans of every workspace (stranded, waiting, expiring asks) by status;
        # retention by the end time of asks not yet redacted (migration 0016).
        Index("ix_asks_status_updated_at", "status", "updated_at"),
        Index(
            "ix_asks_unredacted_closed_at",
            "closed_at",
            sqlite_where=text("challenge != ''"),
            postgresql_where=text("challenge != ''"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    enterprise_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    asker_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    challenge: Mapped[str] = mapped_column(Text)
    desired_result: Mapped[str | None] = mapped_column(Text)
    obstacles: Mapped[str | None] = mapped_column(Text)
    urgency: Mapped[Urgency] = mapped_column(_enum(Urgency, "urgency"), default=Urgency.NORMAL)
    #: When true, the asker's name is shown to a helper only after they accept.
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[AskStatus] = mapped_column(_enum(AskStatus, "status"), default=AskStatus.OPEN)
    #: Slack user ids the asker does not want this ask offered to ("Don't offer this to").
    excluded_user_ids: Mapped[list[str] | None] = mapped_column(JSONType)
    #: A short topic label, for supply-gap analytics.
    topic: Mapped[str | None] = mapped_column(String(200))
    #: Built-in topic keys the asker picked (``None``: none; ``topic`` stands in for matching).
    topics: Mapped[list[str] | None] = mapped_column(JSONType)
    #: Client idempotency key (e.g. the Slack view id of the submission), unique per team.
    client_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Nobody could help and the asker chose "Tell me when someone can": the ask waits for a
    #: newly available helper until then (None: not waiting).
    waiting_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When helpers were last looked at for the waiting ask.
    waiting_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Offers made before the latest re-pair ("another peer"): not counted against its tries.
    tries_before: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Offer(Base):
    """An ask offered to one helper, in rank order, with a deadline to answer."""

    __tablename__ = "offers"
    __table_args__ = (
        UniqueConstraint("ask_id", "helper_id"),
        Index("ix_offers_status_expires_at", "status", "expires_at"),
        Index("ix_offers_helper_id_status", "helper_id", "status"),
        # The offer ledger's grouped build reads this index alone (migration 0015).
        Index(
            "ix_offers_team_id_status_helper_id",
            "team_id",
            "status",
            "helper_id",
            "sent_at",
            "responded_at",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    ask_id: Mapped[int] = mapped_column(ForeignKey("asks.id", ondelete="CASCADE"), index=True)
    helper_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    #: Position in the ranking (1 = best).
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[OfferStatus] = mapped_column(
        _enum(OfferStatus, "status"), default=OfferStatus.PENDING
    )
    pass_reason: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When an unanswered offer lapses and the next helper is tried.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    channel_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    message_ts: Mapped[str | None] = mapped_column(String(SLACK_ID))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --------------------------------------------------------------------------- pairs and follow-up


class Pair(Base):
    """An asker and a helper working on one ask (at most one running pair, active or paused,
    per ask: a failed introduction or a pair closed for a re-pair does not count)."""

    __tablename__ = "pairs"
    __table_args__ = (
        Index("ix_pairs_status_next_checkin_at", "status", "next_checkin_at"),
        Index("ix_pairs_team_id_status", "team_id", "status"),
        Index(
            "uq_pairs_ask_id_live",
            "ask_id",
            unique=True,
            sqlite_where=text("status IN ('active', 'paused')"),
            postgresql_where=text("status IN ('active', 'paused')"),
        ),
        # Helps given and active pairs per helper from the index alone (migration 0015).
        Index("ix_pairs_team_id_helper_id_status", "team_id", "helper_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    ask_id: Mapped[int] = mapped_column(ForeignKey("asks.id", ondelete="CASCADE"))
    helper_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    asker_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    #: The group DM (asker + helper + bot).
    channel_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    status: Mapped[PairStatus] = mapped_column(
        _enum(PairStatus, "status"), default=PairStatus.ACTIVE
    )
    cadence: Mapped[Cadence] = mapped_column(_enum(Cadence, "cadence"), default=Cadence.WEEKLY)
    next_checkin_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    missed_checkins: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Slack user id of who closed the pair, or "system".
    closed_by: Mapped[str | None] = mapped_column(String(SLACK_ID))


class Commitment(Base):
    """Something the asker committed to do, with an optional due date."""

    __tablename__ = "commitments"
    __table_args__ = (Index("ix_commitments_pair_id_status", "pair_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[CommitmentStatus] = mapped_column(
        _enum(CommitmentStatus, "status"), default=CommitmentStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the morning-of-the-due-date reminder goes out (None: no due date, or too late).
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Checkin(Base):
    """A scheduled check-in message for a pair (unique per pair, kind and due time)."""

    __tablename__ = "checkins"
    __table_args__ = (
        UniqueConstraint("pair_id", "kind", "due_at"),
        Index("ix_checkins_sent_at_due_at", "sent_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    kind: Mapped[CheckinKind] = mapped_column(_enum(CheckinKind, "kind"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answer: Mapped[CheckinAnswer] = mapped_column(
        _enum(CheckinAnswer, "answer"), default=CheckinAnswer.NONE
    )
    channel_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    message_ts: Mapped[str | None] = mapped_column(String(SLACK_ID))


class MeetingSide(StrEnum):
    """Who a "did you meet?" message is for."""

    ASKER = "asker"
    HELPER = "helper"


class MeetingAnswer(StrEnum):
    """An answer to "did you meet?"."""

    YES = "yes"
    NOT_YET = "not_yet"
    NO = "no"


class MeetingCheck(Base):
    """One "did you meet?" to one side of a pair, due at ``due_at``; the answer once given.

    Pairs where someone answered ``yes`` are the pairs that met (programme figures)."""

    __tablename__ = "meeting_checks"
    __table_args__ = (Index("ix_meeting_checks_sent_at_due_at", "sent_at", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), index=True)
    side: Mapped[MeetingSide] = mapped_column(_enum(MeetingSide, "side"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answer: Mapped[MeetingAnswer | None] = mapped_column(_enum(MeetingAnswer, "answer"))


class Feedback(Base):
    """Close-out feedback from one side of a pair (one per role)."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("pair_id", "role"),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_1_to_5"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    #: Who gave the feedback.
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    role: Mapped[FeedbackRole] = mapped_column(_enum(FeedbackRole, "role"))
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome, "outcome"))
    #: 1..5 (CHECK constraint); None when not given.
    rating: Mapped[int | None] = mapped_column(Integer)
    thanks: Mapped[str | None] = mapped_column(Text)
    reflection: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --------------------------------------------------------------------------- delivery plumbing


class OutboxMessage(Base):
    """A Slack call to make, recorded in the same transaction as the state change behind it."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The sender's claim: WHERE status = ... ORDER BY next_attempt_at, id LIMIT 1.
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at", "id"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    #: Unique across the table: a second insert with the same key is a duplicate send.
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[OutboxKind] = mapped_column(_enum(OutboxKind, "kind"))
    #: The notice's kind (``peerbot.domain.notices``), e.g. "offer_request", for operators.
    notice: Mapped[str] = mapped_column(String(64))
    #: ``{"notice": <encoded notice>, "to": <encoded audience>}``: ids only, never what people
    #: typed (the text is read from its own table when the message is rendered).
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[OutboxStatus] = mapped_column(
        _enum(OutboxStatus, "status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: What Slack answered that later steps need (e.g. {"channel": ..., "ts": ...}).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: Worker holding the message while sending, and until when the claim holds.
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Start of the earliest ``chat.postMessage`` attempt whose outcome is not known (set before
    #: the call, cleared once Slack's answer is recorded). While set, the message may already be
    #: in Slack: the sender looks for it in the channel's history before posting again.
    unconfirmed_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Times a sender died holding this message; past a few, the message is given up on.
    lost_claims: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When the current run of transient failures began (None while none): they are retried
    #: until the retry budget has passed since then.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ProcessedSlackId(Base):
    """A Slack event/action/command/view id already handled (Slack retries are ignored)."""

    __tablename__ = "processed_slack_ids"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    kind: Mapped[SlackIdKind] = mapped_column(_enum(SlackIdKind, "kind"), primary_key=True)
    slack_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class Embedding(Base):
    """A float32 vector for a helper's expertise or an ask, with the model that made it."""

    __tablename__ = "embeddings"
    __table_args__ = (
        UniqueConstraint("owner_kind", "owner_id", "model_name"),
        Index("ix_embeddings_team_id_owner_kind_model_name", "team_id", "owner_kind", "model_name"),
        CheckConstraint("dim > 0", name="dim_positive"),
        CheckConstraint("length(vector) = dim * 4", name="vector_length"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    owner_kind: Mapped[EmbeddingOwner] = mapped_column(_enum(EmbeddingOwner, "owner_kind"))
    #: ``people.id`` for helper expertise, ``asks.id`` for asks (no FK: polymorphic).
    owner_id: Mapped[int] = mapped_column(Integer)
    model_name: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    #: float32 little-endian bytes; see :func:`peerbot.store.types.vector_to_bytes`.
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    #: SHA-256 of the embedded text, to skip re-embedding unchanged text.
    text_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --------------------------------------------------------------------------- peer circles


class CircleStatus(StrEnum):
    """Life cycle of a peer circle."""

    ACTIVE = "active"
    CLOSED = "closed"


class CircleFeedbackKind(StrEnum):
    """The midpoint pulse or the close-out."""

    PULSE = "pulse"
    CLOSEOUT = "closeout"


class CirclePoolEntry(Base):
    """A person waiting for the next round of circles, with what they want to work on."""

    __tablename__ = "circle_pool"
    __table_args__ = (UniqueConstraint("team_id", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    function: Mapped[str | None] = mapped_column(String(120))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Why the last round could not place them (None until a round tried).
    last_reason: Mapped[str | None] = mapped_column(String(255))


class CircleRound(Base):
    """One formation of circles in a workspace."""

    __tablename__ = "circle_rounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    formed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seed: Mapped[int] = mapped_column(Integer)
    people: Mapped[int] = mapped_column(Integer)


class Circle(Base):
    """A peer circle: its theme, its conversation, its schedule."""

    __tablename__ = "circles"
    __table_args__ = (Index("ix_circles_status_next_prompt_at", "status", "next_prompt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("circle_rounds.id", ondelete="CASCADE"))
    theme: Mapped[str] = mapped_column(String(200))
    facilitator_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    status: Mapped[CircleStatus] = mapped_column(
        _enum(CircleStatus, "status"), default=CircleStatus.ACTIVE
    )
    #: Circles of 9 or 10 meet in a private channel (created by peerbot); smaller ones in a
    #: group DM. Set once the conversation exists.
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    channel_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_prompt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    prompts_sent: Mapped[int] = mapped_column(Integer, default=0)
    pulse_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pulse_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: "ended" (its weeks are over) or "too_small" (fewer than three left).
    closed_reason: Mapped[str | None] = mapped_column(String(ENUM_LEN))


class CircleMember(Base):
    """A person in a circle (``left_at`` once they left); ``position`` orders presenters."""

    __tablename__ = "circle_members"
    __table_args__ = (UniqueConstraint("circle_id", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    function: Mapped[str | None] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CirclePrompt(Base):
    """The weekly prompt of a circle: its week number, when, and who presents."""

    __tablename__ = "circle_prompts"
    __table_args__ = (UniqueConstraint("circle_id", "week"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"))
    week: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    presenter_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))


class CircleAction(Base):
    """One member's action for the week of a prompt."""

    __tablename__ = "circle_actions"
    __table_args__ = (UniqueConstraint("prompt_id", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"))
    prompt_id: Mapped[int] = mapped_column(ForeignKey("circle_prompts.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CircleFeedback(Base):
    """A member's pulse (midpoint) or close-out answer: a 1–5 rating and an optional note."""

    __tablename__ = "circle_feedback"
    __table_args__ = (
        UniqueConstraint("circle_id", "person_id", "kind"),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_1_to_5"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID), index=True)
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    kind: Mapped[CircleFeedbackKind] = mapped_column(_enum(CircleFeedbackKind, "kind"))
    rating: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --------------------------------------------------------------------------- the programme view


class ProgrammeSetting(Base):
    """One programme setting of a workspace, changed by an admin (environment values are the
    defaults; see :mod:`peerbot.services.programme_settings`)."""

    __tablename__ = "programme_settings"

    team_id: Mapped[str] = mapped_column(
        String(SLACK_ID), ForeignKey("workspaces.team_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Slack user id of the admin who set it.
    updated_by: Mapped[str] = mapped_column(String(SLACK_ID))


class ProgrammeSettingChange(Base):
    """The audit log of programme settings: who changed what, from what, to what, when."""

    __tablename__ = "programme_setting_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(
        String(SLACK_ID), ForeignKey("workspaces.team_id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[Any | None] = mapped_column(JSONType)
    new_value: Mapped[Any] = mapped_column(JSONType)
    changed_by: Mapped[str] = mapped_column(String(SLACK_ID))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AdminLink(Base):
    """A one-time sign-in link to the admin dashboard (signed, short-lived, single use)."""

    __tablename__ = "admin_links"

    #: The random part of the link (its signature is checked before this row is read).
    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(
        String(SLACK_ID), ForeignKey("workspaces.team_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(String(SLACK_ID))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AdminDigest(Base):
    """A weekly digest sent to one admin (one row per admin and week: never sent twice)."""

    __tablename__ = "admin_digests"

    team_id: Mapped[str] = mapped_column(
        String(SLACK_ID), ForeignKey("workspaces.team_id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    #: The Monday (in the admin's time zone) of the week the digest belongs to.
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MatchingVersion(Base):
    """Per workspace, a number bumped (by database triggers, migration 0010) on every change
    matching reads: helper profiles, people's reachability, time zone and manager, pairs,
    ratings, never-match lists and expertise vectors. Workers compare it instead of scanning."""

    __tablename__ = "matching_versions"

    team_id: Mapped[str] = mapped_column(
        String(SLACK_ID), ForeignKey("workspaces.team_id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(BigInteger)
    #: Feed rows (:class:`MatchingChange`) below this number were deleted (migration 0015).
    pruned_before: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class MatchingChange(Base):
    """One row of the matching change feed (migration 0015's triggers): at change number
    ``version``, something matching reads about person ``person_id`` changed (their profile or
    person row, a pair they help in, a rating of it, their never-match list). A worker reloads
    the facts of only the people named since the number it holds."""

    __tablename__ = "matching_changes"
    __table_args__ = (Index("ix_matching_changes_team_id_version", "team_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(
        String(SLACK_ID), ForeignKey("workspaces.team_id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int] = mapped_column(Integer)


class RankerModel(Base):
    """A workspace's learned ranker weights (issue 17), refreshed by the tick as history grows.

    ``weights`` is :meth:`peerbot.matching.learned.LearnedModel.to_json` parsed; absent row:
    the hand-set weights.
    """

    __tablename__ = "ranker_models"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    model: Mapped[dict[str, Any]] = mapped_column(JSONType)
    #: Labelled asks the model was trained on (usable for training).
    trained_on_asks: Mapped[int] = mapped_column(Integer)
    #: Labelled asks the workspace had when it was trained (the refresh counts from here).
    labelled_asks: Mapped[int] = mapped_column(Integer)
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The largest offer and pair ids when it was trained: the tick's retraining check counts
    #: only the labels beyond them (None: trained before migration 0014; counted in full).
    last_offer_id: Mapped[int | None] = mapped_column(Integer)
    last_pair_id: Mapped[int | None] = mapped_column(Integer)


class IndexErasure(Base):
    """Per workspace, the erasures of text the matching index copies (a person forgotten,
    retention, a workspace purged), counted: written in the erasure's own transaction
    (migration 0017). An index snapshot records the count its index was built at; one built
    before the latest erasure is never loaded nor written (:mod:`peerbot.services.erasures`).

    No foreign key to the workspace: a purged workspace's row stays, so a snapshot of it left
    on a host is never loaded should the workspace come back."""

    __tablename__ = "index_erasures"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    #: How many erasures the workspace has had (grows by one with each).
    erasures: Mapped[int] = mapped_column(BigInteger)
    #: When the latest one was made (the erasing worker's clock; shown, never compared).
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime())
