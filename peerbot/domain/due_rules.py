"""When the tick's parts have work: the constants and pure time rules shared by the services
that do the work and by :mod:`peerbot.scheduling.idle_probe`, the light check that `peerbot jobs
run-due` makes before importing the app. Light on purpose: the standard library only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: Processed Slack ids are kept this long (Slack retries within minutes; three days is generous).
KEEP_FOR = timedelta(days=3)

#: People who could not be messaged are looked up in Slack again after this long.
RECHECK_AFTER = timedelta(days=1)

#: Feed rows of the last this many change numbers are kept per workspace (a worker further
#: behind loads everything): the matching change feed (``services.matching_feed``).
KEEP_VERSIONS = 50_000

#: The learned ranker (``matching.learned``): a workspace is first trained with this many
#: labelled asks, and retrained when at least this many new ones arrived. Copies, checked
#: equal to ``matching.learned``'s by a test (that module imports numpy).
MIN_TRAINING_ASKS = 50
REFRESH_NEW_ASKS = 25


def maybe_monday_morning_somewhere(now: datetime) -> bool:
    """Whether it is Monday morning in some time zone (UTC-12 to UTC+14): Sunday 18:00 UTC to
    Monday 23:59 UTC. Outside it, the weekly digest asks Slack nothing."""
    utc = now.astimezone(UTC)
    return utc.weekday() == 0 or (utc.weekday() == 6 and utc.hour >= 18)
