"""Where a worker's memory goes: RSS after each start-up stage, in one process.

Runs what `peerbot serve` does at start-up, one stage after the other (the server runs the
index and the model side by side), against an existing database (e.g. one that
``benchmarks/scale.py --db-file`` seeded), and prints after each stage the process's RSS,
RssAnon, RssFile and PSS (``/proc/self/smaps_rollup``), then the largest file mappings by
resident size (which snapshot arrays a stage touched):

1. ``import``: the app's modules and the container (the model not loaded yet);
2. ``index``: the matching index loaded from its snapshot (or built), the semantic_profile
   centroids, the helpers' facts and the warm-up ranking (the server's background warm-up);
3. ``trim``: the heap freed by the warm-up handed back (``malloc_trim``), as the server does;
4. ``model``: the embedding model loaded and one text embedded;
5. ``ask``: one ask embedded and ranked, five explanations written (the first ask's work).

    PYTHONPATH=. HF_HUB_OFFLINE=1 python benchmarks/rss_stages.py sqlite:////work/bench/x.sqlite
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def rollup() -> dict[str, int]:
    """This process's memory from ``/proc/self/smaps_rollup`` (kB)."""
    out: dict[str, int] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            out[parts[0].rstrip(":")] = int(parts[1])
    return out


def file_mappings(top: int) -> list[tuple[str, int]]:
    """The ``top`` file mappings with the most resident kB (summed per file)."""
    per: dict[str, int] = {}
    name = ""
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            name = head[5] if len(head) >= 6 else "[anon]"
        elif head and head[0] == "Rss:" and name.startswith("/"):
            per[name] = per.get(name, 0) + int(head[1])
    return sorted(per.items(), key=lambda kv: -kv[1])[:top]


def report(stage: str, started: float, top: int) -> None:
    """Print one stage's line (and its largest file mappings)."""
    r = rollup()
    mb = {k: r.get(k, 0) / 1024 for k in ("Rss", "Anonymous", "Pss")}
    rss_file = (r.get("Rss", 0) - r.get("Anonymous", 0) - r.get("Shmem", 0)) / 1024
    print(
        f"{stage:<8} {time.monotonic() - started:7.1f} s  RSS {mb['Rss']:7.0f}  "
        f"anon {mb['Anonymous']:7.0f}  file {rss_file:7.0f}  PSS {mb['Pss']:7.0f} MB",
        flush=True,
    )
    for path, kb in file_mappings(top):
        if kb >= 1024:
            print(f"           {kb / 1024:7.0f} MB  {path}")


def main(argv: list[str] | None = None) -> int:
    """Run the stages and print the memory after each."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("database_url", help="the database to serve (e.g. sqlite:////path/to.db)")
    p.add_argument("--top", type=int, default=6, help="file mappings listed per stage (6)")
    p.add_argument(
        "--hold",
        type=float,
        default=0.0,
        help="seconds to stay alive at the end (to read PSS with a second process)",
    )
    p.add_argument(
        "--provisional",
        action="store_true",
        help="start as a worker with no snapshot does at this size: the provisional index "
        "(when above INDEX_PROVISIONAL_ABOVE) and no full build (the child's part)",
    )
    p.add_argument(
        "--tracemalloc",
        type=int,
        default=0,
        metavar="N",
        help="trace Python allocations; print the N largest sites (by line) still held "
        "after the last stage",
    )
    args = p.parse_args(argv)
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start(1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ["DATABASE_URL"] = args.database_url
    if args.provisional:  # no snapshot to load: an empty directory
        import tempfile

        os.environ["INDEX_SNAPSHOT_DIR"] = tempfile.mkdtemp(prefix="rss-stages-")
    os.environ.setdefault("SLACK_BOT_TOKEN", "xoxb-rss-stages")
    os.environ.setdefault("SLACK_SIGNING_SECRET", "rss-stages")
    started = time.monotonic()
    report("start", started, 0)

    from sqlalchemy import select

    from peerbot.app import build_container
    from peerbot.cli import release_freed_memory
    from peerbot.config import load_settings
    from peerbot.embeddings.sentence import LazyEmbedder
    from peerbot.store.db import read_only
    from peerbot.store.models import Ask, Person

    settings = load_settings()
    container = build_container(settings, embedder=LazyEmbedder(settings.embedding_model_path))
    if args.provisional:  # the full build (a child's part) left out
        container.asks._ranker._build_apart = lambda *a, **k: None  # a benchmark reaching in
    report("import", started, 0)
    container.asks.warm_index()
    report("index", started, args.top)
    release_freed_memory()
    report("trim", started, args.top)
    container.asks.warm_model()
    report("model", started, args.top)

    asks = container.asks
    embedder = asks._embedder  # a benchmark reaching in
    matcher = asks._ranker
    text = "How do I give hard feedback to a senior engineer whose reviews hurt the team?"
    with read_only(container.sessions) as session:
        asker = session.scalars(select(Person).limit(1)).one()
        ask = Ask(
            team_id=asker.team_id,
            asker_id=asker.id,
            challenge=text,
            desired_result="",
            obstacles="",
            anonymous=False,
        )
        vector = embedder.embed([text])[0]
        ranked = matcher.candidates_for(session, ask, asker, vector, container.clock.now())
        print(f"ranked {len(ranked)} helpers", file=sys.stderr)
        for i in range(min(5, len(ranked))):
            ranked[i]
    report("ask", started, args.top)
    if args.tracemalloc:
        import tracemalloc

        snap = tracemalloc.take_snapshot()
        total = sum(s.size for s in snap.statistics("filename"))
        print(f"traced Python allocations held: {total / 2**20:.0f} MB")
        for stat in snap.statistics("lineno")[: args.tracemalloc]:
            print(f"  {stat.size / 2**20:7.1f} MB  {stat.count:9d}  {stat.traceback[0]}")
    if args.hold:
        time.sleep(args.hold)
        report("held", started, 0)
    container.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
