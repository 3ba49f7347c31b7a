"""``peerbot report``: the programme view's figures for one workspace, as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import Any

from peerbot.config import Settings
from peerbot.domain.wording import counted


def _since(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_text(data: dict[str, Any]) -> str:
    """The figures as plain lines (the same values as ``--json``)."""
    lines = [
        f"programme {data['team_id']}, {data['since'] or 'from the start'} to {data['until']}",
        f"asks: {data['asks']}",
        f"intros: {data['intros']}",
        f"match rate: {_cell(data['match_rate'])}",
        f"median hours to intro: {_cell(data['median_hours_to_intro'])}",
        f"acceptance rate: {_cell(data['acceptance_rate'])}"
        f" ({data['offers_accepted']} of {counted(data['offers_answered'], 'offer')} answered)",
        f"check-in completion: {_cell(data['checkin_completion'])}"
        f" ({data['checkins_answered']} of {data['checkins_sent']})",
        f"mean rating: {_cell(data['mean_rating'])} ({counted(data['ratings'], 'rating')})",
        f"unmet asks: {data['unmet']}",
    ]
    for title, key in (
        ("unmet by topic", "unmet_by_topic"),
        ("funnel", "funnel"),
        ("pass reasons", "pass_reasons"),
        ("outcomes", "outcomes"),
        ("helper load (active pairs: helpers)", "helper_load"),
    ):
        lines.append(f"{title}:")
        lines.extend(f"  {k}: {v}" for k, v in data[key].items())
    lines.append(
        f"helpers: {data['helpers']} ({data['helpers_paused']} paused, "
        f"{data['helpers_near_capacity']} near capacity)"
    )
    return "\n".join(lines)


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    from peerbot.clock import SystemClock
    from peerbot.services.programme import Period, figures
    from peerbot.store.db import create_engine_for, read_only, session_factory
    from peerbot.store.migrate import ensure_migrated

    engine = create_engine_for(settings.database_url)
    try:
        ensure_migrated(engine)
        period = Period.from_date(args.since, SystemClock().now())
        with read_only(session_factory(engine)) as session:
            data = figures(session, args.team, period).to_json()
    finally:
        engine.dispose()
    if args.json:
        json.dump(data, sys.stdout, ensure_ascii=False, sort_keys=True)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_text(data) + "\n")
    return 0


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``report`` on the top-level subcommands of ``peerbot``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="the programme's figures for one workspace (asks, intros, match rate, ...)",
        description="Print the programme view's figures for workspace T: asks, intros, match "
        "rate, median hours from ask to intro, offer acceptance, check-in completion, mean "
        "rating, unmet asks by topic, the funnel, pass reasons by category and helper load. "
        "No question text and no names; a breakdown describing fewer than 5 people says "
        "'fewer than 5'. Reads only the database (no Slack token needed).",
    )
    p.add_argument("--team", required=True, help="Slack team id (T...)")
    p.add_argument("--since", type=_since, help="start date, YYYY-MM-DD (UTC); default: all")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_handle)
    return p
