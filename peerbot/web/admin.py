"""The programme dashboard for admins: ``/admin`` in HTTP mode, or its own local address in
Socket Mode (``ADMIN_WEB_HOST``/``ADMIN_WEB_PORT``).

Sign-in is a one-time link an admin gets from App Home (:mod:`peerbot.services.admins`): it
sets a signed, HttpOnly session cookie; every request then checks again that its holder is a
programme admin. Pages show figures only (no question text, no asker names; breakdowns of
fewer than 5 people say so), each chart next to its table, each table downloadable as CSV with
formula-looking cells neutralised.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from peerbot.domain.wording import counted
from peerbot.services.admins import AdminIdentity, AdminPolicy, AdminSignIn
from peerbot.services.programme import Figures, HelperRow, ProgrammeView
from peerbot.web.charts import bar_chart

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

COOKIE = "peerbot_admin"
PREFIX = "/admin"
#: A cell starting with one of these is read as a formula by spreadsheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Row = Sequence[Any]


def neutralise(value: object) -> str:
    """A CSV cell that no spreadsheet evaluates: a leading ``= + - @`` gets a ``'`` before it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def to_csv(header: Row, rows: Iterable[Row]) -> str:
    """``header`` and ``rows`` as CSV, every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([neutralise(c) for c in row])
    return out.getvalue()


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)}%"


@dataclass(frozen=True)
class Table:
    """A table of a page: its CSV name, title, header and rows."""

    name: str
    title: str
    header: Row
    rows: Sequence[Row]


def _tables(f: Figures, helpers: list[HelperRow]) -> dict[str, Table]:
    def pairs(name: str, title: str, head: str, data: dict[str, Any]) -> Table:
        return Table(name, title, (head, "count"), [(k, v) for k, v in data.items()])

    overview = [
        ("asks", f.asks),
        ("intros", f.intros),
        ("match_rate", f.match_rate),
        ("median_hours_to_intro", f.median_hours_to_intro),
        ("acceptance_rate", f.acceptance_rate),
        ("checkin_completion", f.checkin_completion),
        ("mean_rating", f.mean_rating),
        ("unmet", f.unmet),
        ("helpers", f.helpers),
    ]
    return {
        t.name: t
        for t in (
            Table("overview", "Figures", ("figure", "value"), overview),
            pairs("funnel", "Funnel", "step", f.funnel),
            pairs("pass_reasons", "Passes and unanswered offers", "reason", f.pass_reasons),
            pairs("checkin_answers", "Check-in answers", "answer", f.checkin_answers),
            pairs("commitments", "Commitments", "status", f.commitments),
            pairs("outcomes", "Outcomes (askers)", "outcome", f.outcomes),
            pairs("pairs", "Pairs", "status", f.pairs),
            pairs("asks_by_week", "Asks per week", "week of", f.asks_by_week),
            pairs("unmet_by_topic", "Unmet asks by topic", "topic", f.unmet_by_topic),
            Table(
                "topics",
                "Demand and supply per topic",
                ("topic", "asks", "unmet", "helpers"),
                [(t.label, t.asks, t.unmet, t.helpers) for t in f.topics],
            ),
            pairs("helper_load", "Helpers by active pairs", "active pairs", f.helper_load),
            Table(
                "helpers",
                "Helpers",
                ("helper", "state", "capacity", "active pairs", "near capacity"),
                [
                    (h.name, h.state, h.capacity, h.active_pairs, "yes" if h.near_capacity else "")
                    for h in helpers
                ],
            ),
        )
    }


#: Each page: (path, nav title, [(chart source table, chart title)], [tables]).
PAGES: tuple[tuple[str, str, tuple[tuple[str, str], ...], tuple[str, ...]], ...] = (
    ("/", "Overview", (("asks_by_week", "Asks per week"),), ("overview", "unmet_by_topic")),
    (
        "/matching",
        "Asks and matching",
        (("funnel", "Funnel"), ("pass_reasons", "Passes by reason")),
        ("funnel", "pass_reasons"),
    ),
    (
        "/accountability",
        "Accountability",
        (("checkin_answers", "Check-in answers"), ("commitments", "Commitments")),
        ("checkin_answers", "commitments", "outcomes", "pairs"),
    ),
    (
        "/topics",
        "Topics",
        (("topics", "Asks per topic"), ("asks_by_week", "Asks per week")),
        ("topics", "asks_by_week"),
    ),
    (
        "/helpers",
        "Helpers",
        (("helper_load", "Helpers by active pairs"),),
        ("helper_load", "helpers"),
    ),
    ("/circles", "Circles", (), ()),
)

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d1c1d;background:#f8f8f8}
header{background:#3f0e40;color:#fff;padding:10px 20px}header a{color:#fff;margin-right:14px}
main{padding:16px 20px;max-width:1000px}section{background:#fff;padding:12px 16px;margin:12px 0;
border-radius:6px}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;
padding:4px 10px;text-align:left}dl.cards{display:flex;flex-wrap:wrap;gap:10px}
dl.cards div{background:#fff;
padding:8px 14px;border-radius:6px;min-width:140px}dt{font-size:12px;color:#616061}
dd{margin:0;font-size:22px}.chart text{font-size:13px;fill:#1d1c1d}.chart .bar{fill:#1264a3}
.chart .muted,.chart .empty{fill:#616061;font-style:italic}.note{color:#616061}
"""


class AdminWeb:
    """The dashboard as a WSGI application (mounted at ``prefix``)."""

    def __init__(
        self,
        view: ProgrammeView,
        signin: AdminSignIn,
        policy: AdminPolicy,
        *,
        prefix: str = PREFIX,
        secure_cookie: bool = False,
    ) -> None:
        self._view = view
        self._signin = signin
        self._policy = policy
        self._prefix = prefix.rstrip("/")
        self._secure = secure_cookie

    # ------------------------------------------------------------------ plumbing

    def handles(self, path: str) -> bool:
        """True for paths under the dashboard's prefix."""
        return path == self._prefix or path.startswith(self._prefix + "/")

    def _send(
        self,
        start_response: StartResponse,
        status: str,
        body: str,
        content_type: str = "text/html; charset=utf-8",
        extra: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        data = body.encode()
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            (
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                "form-action 'self'; frame-ancestors 'none'",
            ),
            *(extra or []),
        ]
        start_response(status, headers)
        return [data]

    def _message(
        self, start_response: StartResponse, status: str, title: str, text: str
    ) -> list[bytes]:
        body = self._html(
            title, f"<section><h1>{escape(title)}</h1><p>{escape(text)}</p></section>"
        )
        return self._send(start_response, status, body)

    def _cookie(self, value: str, max_age: int) -> tuple[str, str]:
        attrs = (
            f"{COOKIE}={value}; Path={self._prefix}/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
        )
        return ("Set-Cookie", attrs + ("; Secure" if self._secure else ""))

    def _identity(self, environ: WSGIEnvironment) -> AdminIdentity | None:
        raw = environ.get("HTTP_COOKIE", "")
        try:
            jar: SimpleCookie = SimpleCookie(raw)
        except CookieError:
            return None
        morsel = jar.get(COOKIE)
        return self._signin.from_cookie(morsel.value) if morsel else None

    # ------------------------------------------------------------------ entry

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """WSGI entry point."""
        path = environ.get("PATH_INFO", "") or "/"
        sub = path[len(self._prefix) :] if self.handles(path) else path
        sub = sub or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if sub == "/login" and method == "GET":
            return self._login(query.get("token", [""])[0], start_response)
        who = self._identity(environ)
        if who is None:
            log.info("admin dashboard: refused %s without a session", sub)
            return self._message(
                start_response,
                "401 Unauthorized",
                "Sign in first",
                "Open peerbot's App Home in Slack and press 'Open the dashboard' to get a "
                "one-time sign-in link (it works once, for 10 minutes).",
            )
        if not self._policy.is_admin(who.team_id, who.user_id):
            log.warning("admin dashboard: %s in %s is not an admin", who.user_id, who.team_id)
            return self._message(
                start_response,
                "403 Forbidden",
                "Programme admins only",
                "This dashboard is for the people who run the peer-help programme.",
            )
        if sub == "/logout" and method == "POST":
            return self._send(
                start_response,
                "303 See Other",
                "",
                extra=[self._cookie("", 0), ("Location", self._prefix + "/signed-out")],
            )
        since_raw = query.get("since", [""])[0]
        since: date | None = None
        if since_raw:
            try:
                since = date.fromisoformat(since_raw)
            except ValueError:
                return self._message(
                    start_response, "400 Bad Request", "Not a date", "since: use YYYY-MM-DD."
                )
        if method != "GET":
            return self._message(
                start_response, "405 Method Not Allowed", "Not allowed", "GET only."
            )
        if sub.startswith("/csv/") and sub.endswith(".csv"):
            return self._csv(who, sub[5:-4], since, start_response)
        for page in PAGES:
            if sub == page[0]:
                return self._page(who, page, since, since_raw, start_response)
        return self._message(start_response, "404 Not Found", "Not found", "No such page.")

    def _login(self, token: str, start_response: StartResponse) -> list[bytes]:
        who = self._signin.use_link(token) if token else None
        if who is None:
            log.info("admin dashboard: refused a sign-in link (invalid, expired or used)")
            return self._message(
                start_response,
                "403 Forbidden",
                "This link does not work",
                "Sign-in links work once and for 10 minutes. Get a new one from peerbot's App "
                "Home in Slack.",
            )
        if not self._policy.is_admin(who.team_id, who.user_id):
            return self._message(
                start_response,
                "403 Forbidden",
                "Programme admins only",
                "This dashboard is for the people who run the peer-help programme.",
            )
        cookie = self._signin.session_cookie(who)
        return self._send(
            start_response,
            "303 See Other",
            "",
            extra=[self._cookie(cookie, 8 * 3600), ("Location", self._prefix + "/")],
        )

    # ------------------------------------------------------------------ pages

    def _data(self, who: AdminIdentity, since: date | None) -> dict[str, Table]:
        figures = self._view.figures(who.team_id, since)
        return _tables(figures, self._view.helpers(who.team_id))

    def _csv(
        self, who: AdminIdentity, name: str, since: date | None, start_response: StartResponse
    ) -> list[bytes]:
        table = self._data(who, since).get(name)
        if table is None:
            return self._message(start_response, "404 Not Found", "Not found", "No such table.")
        return self._send(
            start_response,
            "200 OK",
            to_csv(table.header, table.rows),
            "text/csv; charset=utf-8",
            [("Content-Disposition", f'attachment; filename="peerbot-{name}.csv"')],
        )

    def _html(self, title: str, content: str, since_raw: str = "") -> str:
        q = f"?since={quote(since_raw)}" if since_raw else ""
        nav = "".join(
            f'<a href="{self._prefix}{path}{q}">{escape(label)}</a>' for path, label, _, _ in PAGES
        )
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)} · peerbot programme</title><style>{CSS}</style></head>"
            f"<body><header><nav>{nav}</nav></header><main>{content}</main></body></html>"
        )

    def _page(
        self,
        who: AdminIdentity,
        page: tuple[str, str, tuple[tuple[str, str], ...], tuple[str, ...]],
        since: date | None,
        since_raw: str,
        start_response: StartResponse,
    ) -> list[bytes]:
        path, title, charts, tables = page
        parts = [f"<h1>{escape(title)}</h1>"]
        parts.append(
            '<p class="note">'
            + (f"Since {escape(since_raw)}" if since else "Since the programme began")
            + ". No question text and no asker names are shown; a breakdown that would describe "
            "fewer than 5 people says “fewer than 5”.</p>"
        )
        if path == "/circles":
            circles = self._view.circles(who.team_id)
            text = (
                "No circles yet."
                if not circles or not circles.get("circles")
                else f"{counted(circles['circles'], 'circle')}."
            )
            parts.append(f'<section id="circles"><p>{escape(text)}</p></section>')
        else:
            data = self._data(who, since)
            if path == "/":
                f = self._view.figures(who.team_id, since)
                parts.append(self._cards(f))
            for source, chart_title in charts:
                t = data[source]
                items = [(str(r[0]), r[1]) for r in t.rows]
                parts.append(
                    f"<section>{bar_chart('chart-' + source, chart_title, items)}</section>"
                )
            for name in tables:
                parts.append(self._table(data[name], since_raw))
        return self._send(start_response, "200 OK", self._html(title, "".join(parts), since_raw))

    def _cards(self, f: Figures) -> str:
        cards = [
            ("asks", "Asks", _fmt(f.asks)),
            ("intros", "Introductions", _fmt(f.intros)),
            ("match_rate", "Matched", _pct(f.match_rate)),
            ("median_hours_to_intro", "Median hours to intro", _fmt(f.median_hours_to_intro)),
            ("acceptance_rate", "Offers accepted", _pct(f.acceptance_rate)),
            ("checkin_completion", "Check-ins answered", _pct(f.checkin_completion)),
            ("mean_rating", "Mean rating", _fmt(f.mean_rating)),
            ("unmet", "Unmet asks", _fmt(f.unmet)),
        ]
        inner = "".join(
            f'<div><dt>{escape(label)}</dt><dd data-figure="{key}">{escape(value)}</dd></div>'
            for key, label, value in cards
        )
        return f'<dl class="cards">{inner}</dl>'

    def _table(self, t: Table, since_raw: str) -> str:
        q = f"?since={quote(since_raw)}" if since_raw else ""
        head = "".join(f"<th>{escape(str(h))}</th>" for h in t.header)
        body = (
            "".join(
                "<tr>" + "".join(f"<td>{escape(_fmt(c))}</td>" for c in row) + "</tr>"
                for row in t.rows
            )
            or f'<tr><td colspan="{len(t.header)}">Nothing yet</td></tr>'
        )
        return (
            f'<section><h2>{escape(t.title)}</h2><table id="table-{t.name}"><thead><tr>{head}'
            f"</tr></thead><tbody>{body}</tbody></table>"
            f'<p><a class="csv" href="{self._prefix}/csv/{t.name}.csv{q}" download>'
            "Download CSV</a></p></section>"
        )


def mount(app: Callable[..., Any], admin: AdminWeb | None) -> Callable[..., Any]:
    """``app`` with the dashboard answering under its prefix (``admin`` None: unchanged)."""
    if admin is None:
        return app

    def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if admin.handles(environ.get("PATH_INFO", "")):
            return admin(environ, start_response)
        return app(environ, start_response)

    return wsgi
