"""The weekly digest: on Monday morning in each admin's own time zone, a DM with the last
seven days' figures, the supply gaps and one chart (asks per week) uploaded with the files API
(``files.getUploadURLExternal`` + ``files.completeUploadExternal``; scope ``files:write``).

Admins are ``PEERBOT_ADMINS`` and, with ``ADMINS_FROM_SLACK``, the workspace's owners and
admins (``users.list``). No question text and no asker names; breakdowns of fewer than 5 people
say so. Each admin gets one digest a week (claimed in the database before it is sent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from peerbot.domain.due_rules import maybe_monday_morning_somewhere
from peerbot.domain.png_chart import bar_chart_png
from peerbot.domain.ports import Clock
from peerbot.domain.schedule import zone
from peerbot.domain.wording import counted
from peerbot.services.digest import DigestLedger
from peerbot.services.programme import Figures, ProgrammeView
from peerbot.slack.admin_blocks import glance_fields
from peerbot.slack.text import escape_mrkdwn, one_line

log = logging.getLogger(__name__)

#: Local hours of Monday morning when the digest goes out.
MORNING = range(8, 12)
WEEKS_CHARTED = 8
ADMINS_CACHED_FOR = timedelta(hours=1)


def is_monday_morning(now: datetime, tz: str | None) -> bool:
    """Monday, 08:00–11:59, in ``tz``."""
    local = now.astimezone(zone(tz))
    return local.weekday() == 0 and local.hour in MORNING


def digest_text(week: Figures, gaps_from: Figures) -> str:
    """The digest's words (mrkdwn): figures of the last 7 days and the supply gaps."""
    lines = ["*Peer help: your weekly programme digest* (last 7 days)", ""]
    lines += [f"• {f}" for f in glance_fields(week)]
    lines.append("")
    if gaps_from.supply_gaps:
        lines.append("*Largest supply gaps*")
        for g in gaps_from.supply_gaps:
            label = escape_mrkdwn(one_line(g.label, 80))
            unmet, helpers = counted(g.unmet, "unmet ask"), counted(g.helpers, "helper")
            lines.append(f"• {label}: {unmet}, {helpers}")
    else:
        lines.append("No supply gaps: every topic has helpers and no ask went unmet.")
    lines.append("")
    lines.append("The chart shows asks per week (weeks with fewer than 5 askers are left out).")
    return "\n".join(lines)


def weekly_series(f: Figures, now: datetime) -> list[float]:
    """Asks in each of the last :data:`WEEKS_CHARTED` weeks (0 where fewer than 5 people)."""
    monday = now.date() - timedelta(days=now.date().weekday())
    out = []
    for i in range(WEEKS_CHARTED - 1, -1, -1):
        v = f.asks_by_week.get((monday - timedelta(weeks=i)).isoformat(), 0)
        out.append(float(v) if isinstance(v, int) else 0.0)
    return out


class DigestSender:
    """Sends the due digests (one tick's worth)."""

    def __init__(
        self,
        client: WebClient | Callable[[str], WebClient],
        view: ProgrammeView,
        ledger: DigestLedger,
        clock: Clock,
        *,
        admins: frozenset[str],
        from_slack: bool,
    ) -> None:
        #: The client for a workspace (with OAuth, that workspace's own token).
        self._client_for: Callable[[str], WebClient] = (
            client if not isinstance(client, WebClient) else (lambda _team: client)
        )
        self._view = view
        self._ledger = ledger
        self._clock = clock
        self._admins = admins
        self._from_slack = from_slack
        self._cache: dict[str, tuple[datetime, dict[str, str | None]]] = {}

    def _admin_people(self, team_id: str, now: datetime) -> dict[str, str | None]:
        """Admin user id → time zone (read from Slack at most once an hour per workspace)."""
        cached = self._cache.get(team_id)
        if cached is not None and now - cached[0] < ADMINS_CACHED_FOR:
            return cached[1]
        found = self._read_admins(team_id)
        self._cache[team_id] = (now, found)
        return found

    def _read_admins(self, team_id: str) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        cursor = None
        if self._from_slack:
            while True:
                page = self._client_for(team_id).users_list(
                    team_id=team_id, limit=200, cursor=cursor
                )
                for u in page.get("members") or []:
                    if u.get("deleted") or u.get("is_bot"):
                        continue
                    if u.get("is_admin") or u.get("is_owner") or u.get("is_primary_owner"):
                        found[u["id"]] = u.get("tz")
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        for uid in self._admins - set(found):
            try:
                user: dict[str, Any] = self._client_for(team_id).users_info(user=uid)["user"]
            except SlackApiError:
                continue
            if not user.get("deleted"):
                found[uid] = user.get("tz")
        return found

    def run_due(self) -> int:
        """Send this week's digest to each admin whose Monday morning it is; how many sent."""
        now = self._clock.now()
        if not maybe_monday_morning_somewhere(now):
            return 0
        sent = 0
        for team in self._ledger.teams(now):
            try:
                admins = self._admin_people(team, now)
            except (SlackApiError, SlackRequestError, OSError) as exc:
                log.warning("digest: could not list the admins of %s: %s", team, str(exc)[:200])
                continue
            due = {u: tz for u, tz in admins.items() if is_monday_morning(now, tz)}
            if not due:
                continue
            since = (now - timedelta(days=7)).date()
            week = self._view.figures(team, since)
            everything = self._view.figures(team)
            for uid, tz in due.items():
                week_start: date = now.astimezone(zone(tz)).date()
                if not self._ledger.claim(team, uid, week_start, now):
                    continue
                try:
                    self._send(self._client_for(team), uid, week, everything, now)
                except (SlackApiError, SlackRequestError, OSError) as exc:
                    self._ledger.release(team, uid, week_start)
                    log.warning(
                        "digest to %s not sent (retried next tick): %s", uid, str(exc)[:200]
                    )
                    continue
                sent += 1
        return sent

    def _send(
        self, client: WebClient, user_id: str, week: Figures, everything: Figures, now: datetime
    ) -> None:
        channel = client.conversations_open(users=user_id)["channel"]["id"]
        png = bar_chart_png(weekly_series(everything, now))
        client.files_upload_v2(
            channel=channel,
            content=png,
            filename="peerbot-asks-per-week.png",
            title="Asks per week",
            alt_txt="Bar chart of asks per week over the last 8 weeks",
            initial_comment=digest_text(week, everything),
        )
