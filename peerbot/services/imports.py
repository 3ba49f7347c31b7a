"""`peerbot helpers import FILE.csv`: bulk-load helper profiles for the programme team.

An import invites, it does not enrol: each new person gets a DM with Yes, I'll help / Not now,
and nobody is offered an ask before yes. A re-import never overwrites what a helper chose.

Columns: ``email`` or ``slack_user_id`` (one is required), ``expertise``, ``topics`` (separated by
``;`` or ``,``), ``years_managing``, ``function``, ``manager_email``, ``capacity``. Users are
resolved in Slack by email; rows are upserted, so importing the same file twice
changes nothing. Every row that cannot be imported is reported with its reason.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from peerbot.domain.asks import clean_text
from peerbot.domain.ports import Clock, Directory, DirectoryError, UserInfo
from peerbot.domain.profiles import ProfileInput, validate_profile
from peerbot.services.helpers import HelperService
from peerbot.store.db import unit_of_work

KNOWN_COLUMNS = {
    "email",
    "slack_user_id",
    "expertise",
    "topics",
    "years_managing",
    "function",
    "manager_email",
    "capacity",
}
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_ROWS = 50_000


@dataclass
class RowProblem:
    """A row that was not imported, and why (line numbers count the header as line 1)."""

    line: int
    who: str
    reason: str


@dataclass
class ImportReport:
    """What an import did."""

    created_or_updated: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    #: Rows by the person's answer: invited (no answer yet), already helping, declined, and
    #: opted out (a helper who stopped; the import leaves them so).
    invited: int = 0
    helping: int = 0
    declined: int = 0
    opted_out: int = 0

    @property
    def total(self) -> int:
        """Rows read."""
        return self.created_or_updated + self.unchanged + len(self.problems)


class HelperImporter:
    """Reads a CSV and upserts helper profiles through :class:`HelperService`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        directory: Directory,
        helpers: HelperService,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._directory = directory
        self._helpers = helpers
        self._cache: dict[tuple[str, str], UserInfo | None] = {}

    def _lookup(self, team_id: str, key: str) -> UserInfo | None:
        if (team_id, key) not in self._cache:
            if "@" in key:
                self._cache[(team_id, key)] = self._directory.lookup_by_email(team_id, key)
            else:
                self._cache[(team_id, key)] = self._directory.user(team_id, key)
        return self._cache[(team_id, key)]

    def run(
        self,
        team_id: str,
        text: str,
        progress: Callable[[int, int], None] = lambda done, total: None,
    ) -> ImportReport:
        """Import every row of the CSV ``text``; ``progress(done, total)`` after each row."""
        report = ImportReport()
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        fields = {(f or "").strip().lower() for f in reader.fieldnames or []}
        if not fields & {"email", "slack_user_id"}:
            report.problems.append(
                RowProblem(1, "header", "needs an 'email' or 'slack_user_id' column")
            )
            return report
        rows = list(reader)
        if len(rows) > MAX_ROWS:
            report.problems.append(RowProblem(1, "file", f"more than {MAX_ROWS} rows"))
            return report
        seen: dict[str, int] = {}
        for i, raw in enumerate(rows, start=2):
            row = {(k or "").strip().lower(): clean_text(v) for k, v in raw.items() if k}
            self._row(team_id, i, row, seen, report)
            progress(i - 1, len(rows))
        return report

    def _row(
        self,
        team_id: str,
        line: int,
        row: dict[str, str],
        seen: dict[str, int],
        report: ImportReport,
    ) -> None:
        who = row.get("slack_user_id") or row.get("email") or ""
        if not who:
            report.problems.append(RowProblem(line, "(blank)", "no email or slack_user_id"))
            return
        if row.get("slack_user_id") and not _USER_ID.match(row["slack_user_id"]):
            report.problems.append(RowProblem(line, who, "slack_user_id is not a Slack user id"))
            return
        if not row.get("slack_user_id") and not _EMAIL.match(who):
            report.problems.append(RowProblem(line, who, "email is not an email address"))
            return
        try:
            profile = ProfileInput(
                opted_in=True,
                expertise=row.get("expertise", ""),
                topics=tuple(_split(row.get("topics", ""))),
                years_managing=int(row["years_managing"]) if row.get("years_managing") else None,
                function=row.get("function", ""),
                capacity=int(row["capacity"]) if row.get("capacity") else 2,
            )
        except ValueError:
            report.problems.append(
                RowProblem(line, who, "years_managing and capacity must be whole numbers")
            )
            return
        errors = validate_profile(profile, today=self._clock.now().date())
        if errors:
            report.problems.append(RowProblem(line, who, "; ".join(errors.values())))
            return
        try:
            info = self._lookup(team_id, who)
        except DirectoryError as err:
            report.problems.append(RowProblem(line, who, f"Slack error: {err.reason}"))
            return
        if info is None:
            report.problems.append(
                RowProblem(line, who, "no active user in this workspace (unknown or deactivated)")
            )
            return
        if info.deleted:
            report.problems.append(RowProblem(line, who, "the user is deactivated"))
            return
        if info.is_bot:
            report.problems.append(RowProblem(line, who, "the user is a bot"))
            return
        if info.is_guest:
            report.problems.append(RowProblem(line, who, "guests and app users cannot be helpers"))
            return
        if info.user_id in seen:
            report.problems.append(RowProblem(line, who, f"duplicate of line {seen[info.user_id]}"))
            return
        seen[info.user_id] = line
        manager_id: str | None = None
        if row.get("manager_email"):
            try:
                manager = self._lookup(team_id, row["manager_email"])
            except DirectoryError as err:
                report.problems.append(RowProblem(line, who, f"Slack error: {err.reason}"))
                return
            if manager is None:
                report.problems.append(
                    RowProblem(line, who, f"manager {row['manager_email']} not found")
                )
                return
            manager_id = manager.user_id
        with unit_of_work(self._sessions) as session:
            state, changed = self._helpers.import_in(
                session, team_id, info, profile, self._clock.now(), manager_id
            )
        if state == "invited":
            report.invited += 1
        elif state == "declined":
            report.declined += 1
        elif state == "helping":
            report.helping += 1
        else:
            report.opted_out += 1
        if changed:
            report.created_or_updated += 1
        else:
            report.unchanged += 1


def _split(topics: str) -> Iterable[str]:
    return (t.strip() for t in re.split(r"[;,]", topics) if t.strip())
