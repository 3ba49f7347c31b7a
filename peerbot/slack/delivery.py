"""Delivering one outbox message to Slack: :class:`SlackDeliverer`, the Slack side of the
``Deliverer`` port.

It renders the notice at send time (:func:`peerbot.slack.render.render`, from the tables), posts
to a person's DM by user id or opens a group DM first (``conversations.open``), updates an earlier
message (``chat.update``), and tags every post with message metadata so that a post whose outcome
is unknown can be found again.

Exactly once
------------
Every post carries Slack message metadata ``{"event_type": "peerbot_outbox", "event_payload":
{"key": <digest of the key>}}``. When the job says an earlier attempt's outcome is unknown (the
sender crashed, or the call timed out or Slack answered 5xx, which may have posted), the
deliverer first looks for that post in the channel's recent history (``conversations.history``,
``oldest`` = the attempt's start less :data:`HISTORY_SKEW`, ``include_all_metadata``): found, it
reports the message sent without posting again; not found, it posts. This needs the
``im:history`` and ``mpim:history`` scopes (``groups:history`` in a circle's private
channel); where history cannot be read, the deliverer logs a
warning and posts again (at least once). ``chat.update`` gives the same result when repeated.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from peerbot.domain.notices import NoticeGone, Replacing, ToChannel, ToGroup, ToPerson
from peerbot.domain.ports import (
    DeliveryOutcome,
    FactsReader,
    Failure,
    OutboxJob,
    SentRef,
)
from peerbot.slack import programme_render  # noqa: F401  (registers its notices' renderers)
from peerbot.slack.gateway import SlackCallError, WebApi
from peerbot.slack.render import render

log = logging.getLogger(__name__)

#: Slack message metadata ``event_type`` of every post the outbox makes.
METADATA_EVENT = "peerbot_outbox"
#: The history search for an unconfirmed post starts this long before its attempt began, for
#: clock skew between this host and Slack.
HISTORY_SKEW_SECONDS = 300
#: ``conversations.history`` page size and how many pages to read at most.
HISTORY_PAGE = 100
HISTORY_MAX_PAGES = 10


def outbox_tag(key: str) -> str:
    """The value that marks a post as the outbox message ``key`` in its Slack metadata.

    A digest rather than the key itself: Slack shows message metadata to every app and member
    of the workspace, and keys name internal records.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def message_metadata(key: str) -> dict[str, Any]:
    """The ``metadata`` argument of the post for outbox key ``key``."""
    return {"event_type": METADATA_EVENT, "event_payload": {"key": outbox_tag(key)}}


def carries_tag(message: dict[str, Any], tag: str) -> bool:
    """Whether a message from ``conversations.history`` was posted by the outbox as ``tag``."""
    meta = message.get("metadata")
    if not isinstance(meta, dict) or meta.get("event_type") != METADATA_EVENT:
        return False
    payload = meta.get("event_payload")
    return isinstance(payload, dict) and payload.get("key") == tag


class _Attempt:
    """What is known about this attempt while it runs."""

    def __init__(self, job: OutboxJob) -> None:
        self.maybe_posted = False
        self.prior_settled = job.unconfirmed_since is None


class SlackDeliverer:
    """Renders and delivers outbox jobs through a :class:`SlackGateway`."""

    def __init__(self, gateway: WebApi, read_facts: FactsReader) -> None:
        self._gateway = gateway
        self._read_facts = read_facts

    def deliver(self, job: OutboxJob) -> DeliveryOutcome:
        """Render ``job``'s notice from the tables and deliver it; failures are outcomes."""
        try:
            with self._read_facts(job.team_id) as facts:
                message = render(job.notice, facts)
        except NoticeGone as gone:
            return DeliveryOutcome(failure=Failure.GONE, code=f"gone: {gone}")
        attempt = _Attempt(job)
        try:
            sent, recovered = self._send(job, message, attempt)
        except SlackCallError as err:
            return DeliveryOutcome(
                failure=err.failure,
                code=err.code,
                retry_after=err.retry_after,
                maybe_posted=attempt.maybe_posted and not err.answered,
                prior_settled=attempt.prior_settled,
            )
        if sent is None:
            return DeliveryOutcome(
                failure=Failure.ABANDONED,
                code="crashed_during_delivery",
                prior_settled=attempt.prior_settled,
            )
        return DeliveryOutcome(sent=sent, recovered=recovered)

    def _send(
        self, job: OutboxJob, message: dict[str, Any], attempt: _Attempt
    ) -> tuple[SentRef | None, bool]:
        to = job.audience
        if isinstance(to, Replacing):
            if job.replace is None:
                raise SlackCallError("message_not_found", Failure.REJECTED)
            answer = self._gateway.call(
                job.team_id,
                "chat.update",
                {**message, "channel": job.replace.channel, "ts": job.replace.ts},
            )
            return SentRef(str(answer.get("channel") or job.replace.channel), job.replace.ts), False
        if isinstance(to, ToGroup):
            channel = self._open(job.team_id, to.user_ids)
        elif isinstance(to, ToChannel):
            channel = to.channel_id
        else:
            assert isinstance(to, ToPerson)
            # A user id as channel posts to the app's DM with them: no conversations.open
            # (Tier 3) per message, which would bound throughput at Slack's real limits.
            channel = to.user_id
        if job.unconfirmed_since is not None:
            history = channel
            if isinstance(to, ToPerson):  # the history check needs the DM's channel id
                history = self._open(job.team_id, (to.user_id,))
            found = self._find_posted(job, history)
            if found is not None:
                return found, True
            attempt.prior_settled = True
        if job.last_chance:
            return None, False
        attempt.maybe_posted = True
        answer = self._gateway.call(
            job.team_id,
            "chat.postMessage",
            {**message, "channel": channel, "metadata": message_metadata(job.key)},
        )
        ts = answer.get("ts")
        return SentRef(str(answer.get("channel") or channel), str(ts) if ts else None), False

    def _open(self, team_id: str, users: tuple[str, ...]) -> str:
        """The DM or group DM with ``users`` (``conversations.open`` is idempotent)."""
        opened = self._gateway.call(team_id, "conversations.open", {"users": ",".join(users)})
        channel = opened.get("channel")
        if not isinstance(channel, dict) or not isinstance(channel.get("id"), str):
            raise SlackCallError("unexpected_answer", Failure.TRANSIENT)
        return str(channel["id"])

    def _find_posted(self, job: OutboxJob, channel: str) -> SentRef | None:
        """Look for the job's earlier post in ``channel``; where it is when found.

        A 429 or a transient error propagates (the check is tried again later); when the
        history cannot be read at all, the message is posted again, with a warning.
        """
        assert job.unconfirmed_since is not None
        tag = outbox_tag(job.key)
        oldest = job.unconfirmed_since.timestamp() - HISTORY_SKEW_SECONDS
        cursor = ""
        for _ in range(HISTORY_MAX_PAGES):
            query: dict[str, Any] = {
                "channel": channel,
                "oldest": f"{max(oldest, 0.0):.6f}",
                "inclusive": True,
                "limit": HISTORY_PAGE,
                "include_all_metadata": True,
            }
            if cursor:
                query["cursor"] = cursor
            try:
                page = self._gateway.call(job.team_id, "conversations.history", query)
            except SlackCallError as err:
                if err.failure in (Failure.TRANSIENT, Failure.RATE_LIMITED):
                    raise
                log.warning(
                    "outbox %s: cannot read %s's history to confirm an earlier attempt "
                    "(%s); posting again",
                    job.key,
                    channel,
                    err.code,
                    extra={"outbox_key": job.key, "slack_error": err.code},
                )
                return None
            messages = page.get("messages")
            for message in messages if isinstance(messages, list) else []:
                if isinstance(message, dict) and carries_tag(message, tag):
                    log.info(
                        "outbox %s: already in Slack (ts %s), not posting again",
                        job.key,
                        message.get("ts"),
                        extra={"outbox_key": job.key},
                    )
                    ts = message.get("ts")
                    return SentRef(channel, str(ts) if ts else None)
            meta = page.get("response_metadata")
            cursor = str(meta.get("next_cursor") or "") if isinstance(meta, dict) else ""
            if not page.get("has_more") or not cursor:
                return None
        log.warning(
            "outbox %s: %s has too many messages to confirm an earlier attempt; posting again",
            job.key,
            channel,
        )
        return None
