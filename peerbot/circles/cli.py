"""``peerbot circles``: form a round now (``form``) and measure the formation (``eval``)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any


def _cmd_form(args: argparse.Namespace, settings: Any) -> int:
    from peerbot.app import build_container
    from peerbot.clock import FrozenClock
    from peerbot.embeddings.sentence import LazyEmbedder
    from peerbot.scheduling.jobs import run_due

    settings.require("SLACK_BOT_TOKEN")
    at = None
    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            sys.stderr.write(f"peerbot: --at {args.at!r} is not an ISO-8601 time\n")
            return 2
        if at.tzinfo is None:
            sys.stderr.write("peerbot: --at needs a time zone, e.g. 2026-11-23T09:00:00+00:00\n")
            return 2
    container = build_container(
        settings,
        clock=FrozenClock(at) if at else None,
        embedder=LazyEmbedder(settings.embedding_model_path),
    )
    try:
        assert container.circles is not None
        report = container.circles.form_round(args.team, at)
        # Deliver the openings and the "not placed this round" messages now.
        run_due(container.tick)
    finally:
        container.close()
    sys.stdout.write(report.summary() + "\n")
    return 0 if not report.skipped else 1


def _cmd_eval(args: argparse.Namespace, settings: Any) -> int:
    from peerbot.circles.evaluate import run_eval
    from peerbot.embeddings import load_embedder

    if not 2 <= args.size <= 10:
        sys.stderr.write("peerbot: --size must be between 2 and 10\n")
        return 2
    if not args.data.is_file():
        sys.stderr.write(f"peerbot: {args.data} is not a file\n")
        return 2
    embedder = load_embedder(getattr(settings, "embedding_model_path", None))
    return run_eval(args.data, embedder, size=args.size, as_json=args.json)


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``circles form`` and ``circles eval`` on the top-level ``subparsers``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "circles",
        help="peer circles: form a round now, or measure the formation",
        description="Peer circles: small groups of managers formed from what they want to "
        "work on. Rounds form on schedule (CIRCLE_EVERY_WEEKS) in the tick; these commands "
        "are for operators.",
    )
    sub = p.add_subparsers(dest="circles_command", metavar="COMMAND", required=True)
    fp = sub.add_parser(
        "form",
        help="form a round of circles now from everyone waiting in a workspace",
        description="Form circles from the people waiting in --team (at least 4 are needed), "
        "open their group DMs (private channels for circles of 9 or 10), and tell anyone who "
        "could not be placed why; they stay in the pool. Exit status 1 when no round formed.",
    )
    fp.add_argument("--team", required=True, help="workspace id (T...)")
    fp.add_argument("--at", help="form as if it were this ISO-8601 instant (with offset)")
    fp.set_defaults(handler=_cmd_form)
    ep = sub.add_parser(
        "eval",
        help="form circles from a JSONL file and compare them with random groups",
        description="Read one JSON object per line (id, text; optional function, tz, label), "
        "form circles with the production code and print: circles, smallest and largest "
        "size, mean within-circle cosine similarity for peerbot and for random groups of the "
        "same sizes (mean of 20 seeds), the function mix, and label purity when rows carry "
        "a label.",
    )
    ep.add_argument("--data", required=True, type=Path, help="the JSONL file")
    ep.add_argument("--size", type=int, default=6, help="target circle size (default 6)")
    ep.add_argument(
        "--json",
        action="store_true",
        help="one JSON object: circles, min_size, max_size, coherence, function_mix, purity",
    )
    ep.set_defaults(handler=_cmd_eval)
    return p
