"""``peerbot bench match``: time to rank N helpers beside the time to embed one ask (a short
one, :data:`ASK_TEXT`, and a typical one, :data:`TYPICAL_ASK`: production embeds every ask
before ranking it, so the ranking should cost less than that).

Synthetic workspaces: helpers with ``helps`` past helps each, vectors drawn around a few hundred
topic directions (so that partitions behave as on real text), facts filled in for every signal.
Each figure is the median over ``runs`` timed calls of the production ranker
(:class:`ProductionRanking`: :meth:`RulesThenHybrid.rank` as ``IndexedMatcher.candidates_for``
calls it, the top 10 read with their explanations), after one warm-up call, with its CPU time,
also after an offer changed one helper's facts and asked by another helper each time; beside it
the time to build the index and, for the sizes searched approximately (IVF partitions), the
recall@10 of the ranking against exact search over the same index (every partition probed)
over :data:`RECALL_ASKS` asks (the timed ask and synthetic ones drawn as the workspace's past
asks are; the number is printed).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from peerbot.domain.asks import text_for_matching
from peerbot.domain.ports import Embedder
from peerbot.matching import (
    Ask,
    Candidate,
    Eligibility,
    HelperColumns,
    HelperFacts,
    HelperIndex,
    HelperRecord,
    HybridRanker,
    PastHelp,
    Ranked,
    RankerWeights,
    RulesThenHybrid,
    Snapshot,
)
from peerbot.matching.index import EXACT_MAX_ROWS, STORAGE, release_free_memory

SIZES: tuple[int, ...] = (1_000, 10_000, 100_000)
#: Asks the recall@10 is measured over: at 20, one miss in ten at a single ask moves the mean by
#: 0.005 and a recall of 0.98 printed as 1.000; 100 asks cost about 15 s at 100,000 helpers.
RECALL_ASKS = 100
_WORDS = [
    "team",
    "deadline",
    "feedback",
    "hiring",
    "performance",
    "conflict",
    "remote",
    "burnout",
    "promotion",
    "review",
    "onboarding",
    "budget",
    "roadmap",
    "stakeholder",
    "delegation",
    "coaching",
    "meeting",
    "priorities",
    "layoffs",
    "motivation",
    "career",
    "growth",
    "interview",
    "salary",
    "process",
    "estimate",
    "quality",
    "incident",
    "morale",
]
ASK_TEXT = "how do I give feedback to a senior engineer whose performance dropped after a reorg"
#: An ask as the /peerhelp modal sends it, its three fields joined as production joins them
#: (:func:`~peerbot.domain.asks.text_for_matching`): 81 words, about the lower quartile of the
#: real manager questions' lengths (78 words; their median is 124): a typical ask, on the short
#: side. :data:`ASK_TEXT` (16 words) is the shortest sensible one.
TYPICAL_ASK = text_for_matching(
    "One of my senior engineers has stopped speaking up in design reviews since the re-org, "
    "and his last two projects slipped by weeks.",
    "A frank conversation this month in which he hears the concern, and a plan for the next "
    "quarter that we both believe in.",
    "He is well liked and was on the team long before me. I worry that he will feel pushed "
    "out, that the team will take his side, and that I will avoid the talk again.",
)


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls of ``fn`` (after one warm-up call)."""
    return median_times(fn, runs)[0]


def median_times(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time of the process (all its threads: the embedding
    model's too) over ``runs`` calls of ``fn`` (after one warm-up call): the CPU time says
    what the call costs when other processes share the cores."""
    fn()
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


class ProductionRanking:
    """One ask ranked as production ranks it (``IndexedMatcher.candidates_for`` after its
    snapshot is loaded): :meth:`RulesThenHybrid.rank` with the helpers' :class:`Eligibility`
    kept between asks, the first 10 read (each explained); the same ranker kept from one
    call to the next, as the matcher keeps it.

    :meth:`after_offer` first changes one helper's facts as an offer does (one more recent
    offer: every ranking after an offer is made sees one), so the ask-independent
    contributions kept are brought up to date. :meth:`other_asker` asks as another helper
    each time (an asker who is a helper is not a candidate for their own ask: other
    candidates, whose ask-independent contributions are derived from those kept for every
    helper passing the fixed rules)."""

    def __init__(
        self,
        index: HelperIndex,
        helper_ids: Sequence[str],
        facts: Sequence[HelperFacts],
        ask: Ask,
    ) -> None:
        self.index = index
        self.ask = ask
        self.helpers = [
            Candidate(i, uid, None, f)
            for i, (uid, f) in enumerate(zip(helper_ids, facts, strict=True))
        ]
        self.eligibility = Eligibility(self.helpers, {})
        self.ranker = RulesThenHybrid(RankerWeights())
        self._next = 0
        self._asker = 0

    def __call__(self) -> list[Ranked]:
        """Rank the ask; the top 10 with their explanations."""
        snapshot = Snapshot(self.ask, self.helpers, {}, self.eligibility)
        return list(self.ranker.rank(self.index, snapshot)[:10])

    def other_asker(self) -> list[Ranked]:
        """:meth:`__call__` asked by the next helper in turn (a stride through them)."""
        self._asker = (self._asker + 7919) % len(self.helpers)
        ask = replace(self.ask, asker_id=self.helpers[self._asker].user_id)
        snapshot = Snapshot(ask, self.helpers, {}, self.eligibility)
        return list(self.ranker.rank(self.index, snapshot)[:10])

    def after_offer(self) -> list[Ranked]:
        """One helper (the next in turn) has one more recent offer; then :meth:`__call__`."""
        i = self._next % len(self.helpers)
        self._next += 1
        old = self.helpers[i]
        facts = replace(old.facts, recent_offers=(old.facts.recent_offers or 0) + 1)
        self.helpers[i] = Candidate(old.person_id, old.user_id, old.tz, facts)
        self.eligibility.replace([self.helpers[i]])
        return self()


def _top10(ranker: HybridRanker, q: np.ndarray[Any, Any], now: datetime) -> set[str]:
    ask = Ask(ASK_TEXT, q, now, asker_utc_offset_minutes=60)
    return {r.helper_id for r in ranker.rank(ask, limit=10)}


def recall_between(
    approx: HybridRanker,
    exact: HybridRanker,
    queries: Sequence[np.ndarray[Any, Any]],
    now: datetime,
) -> float:
    """Mean share of ``exact``'s top 10 helpers that ``approx`` also ranks in its top 10."""
    shares = []
    for q in queries:
        want = _top10(exact, q, now)
        shares.append(len(_top10(approx, q, now) & want) / max(1, len(want)))
    return float(np.mean(shares))


def recall_at_10(
    index: HelperIndex,
    queries: Sequence[np.ndarray[Any, Any]],
    now: datetime,
    weights: RankerWeights | None = None,
) -> float | None:
    """Mean share of the top 10 helpers of the full ranking that the approximate (IVF) search
    keeps, against exact search (every partition probed) of the same index; ``None`` in
    exact mode (nothing approximate). ``weights``: the ranker's (default ones otherwise)."""
    if index.centroids is None:
        return None
    ranker = HybridRanker(index, weights or RankerWeights())
    probe = index.n_probe
    shares = []
    for q in queries:
        approx = _top10(ranker, q, now)
        index.n_probe = index.centroids.shape[0]
        try:
            exact = _top10(ranker, q, now)
        finally:
            index.n_probe = probe
        shares.append(len(approx & exact) / max(1, len(exact)))
    return float(np.mean(shares))


def rss_mb() -> tuple[float, float]:
    """This process's resident memory now and at its peak, in MB (``/proc``; 0 elsewhere)."""
    now = peak = 0.0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return now, peak


def synthetic_queries(
    n: int, dimension: int = 384, seed: int = 0, topics: int = 512
) -> list[np.ndarray[Any, Any]]:
    """``n`` queries drawn as the synthetic workspace's asks are (around its topics)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dimension)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    pick = np.random.default_rng(seed + 1).integers(0, topics, size=n)
    noise = np.random.default_rng(seed + 2).standard_normal((n, dimension)).astype(np.float32)
    q = centres[pick] + 0.08 * noise
    return list(q / np.linalg.norm(q, axis=1, keepdims=True))


def synthetic_index(
    n_helpers: int, helps: int = 10, dimension: int = 384, seed: int = 0, topics: int = 512
) -> HelperIndex:
    """A workspace of ``n_helpers`` helpers with ``helps`` past helps each (seeded)."""
    records = synthetic_records(n_helpers, helps, dimension, seed, topics)
    return HelperIndex.build(records, dimension, "synthetic")


def synthetic_records(
    n_helpers: int, helps: int = 10, dimension: int = 384, seed: int = 0, topics: int = 512
) -> list[HelperRecord]:
    """The records of :func:`synthetic_index` (seeded), before any index is built."""
    cols = synthetic_columns(n_helpers, helps, dimension, seed, topics)
    times = cols.help_times.tolist()
    records = []
    for h in range(n_helpers):
        past = [
            PastHelp(
                cols.help_ask_ids[j],
                cols.help_vectors[j],
                cols.help_texts[j],
                datetime.fromtimestamp(times[j], UTC),
            )
            for j in range(h * helps, (h + 1) * helps)
        ]
        records.append(
            HelperRecord(
                cols.helper_ids[h],
                cols.expertise_vectors[h],
                "",
                past,
                cols.facts[h] if cols.facts is not None else HelperFacts(),
            )
        )
    return records


def synthetic_columns(
    n_helpers: int, helps: int = 10, dimension: int = 384, seed: int = 0, topics: int = 512
) -> HelperColumns:
    """The workspace of :func:`synthetic_records` as the bulk build's columnar input (what the
    database loader gives :meth:`HelperIndex.build`): no object per past help."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dimension)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    total = n_helpers * helps
    topic_of = rng.integers(0, topics, size=total)
    vecs = centres[topic_of] + 0.08 * rng.standard_normal((total, dimension)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    words = rng.integers(0, len(_WORDS), size=(total, 6))
    ages = rng.integers(0, 365, size=total)
    facts = [
        HelperFacts(
            helps_given=helps,
            rating_mean=float(rng.uniform(3, 5)),
            rating_count=int(rng.integers(0, 10)),
            years_managing=float(rng.integers(1, 15)),
            capacity_total=3,
            capacity_used=int(rng.integers(0, 3)),
            utc_offset_minutes=int(rng.integers(-8, 10)) * 60,
            offers_received=int(rng.integers(0, 20)),
            offers_accepted=int(rng.integers(0, 10)),
            median_accept_hours=float(rng.uniform(0.5, 48)),
            recent_offers=int(rng.integers(0, 5)),
        )
        for _ in range(n_helpers)
    ]
    word = np.array(_WORDS, dtype=object)
    texts = [" ".join(w) for w in word[words].tolist()]
    return HelperColumns(
        helper_ids=[f"U{h:06d}" for h in range(n_helpers)],
        expertise_texts=[""] * n_helpers,
        expertise_of=np.arange(n_helpers, dtype=np.intp),
        expertise_vectors=vecs[:: max(1, helps)][:n_helpers] if helps else vecs[:0],
        help_counts=np.full(n_helpers, helps, dtype=np.int64),
        help_vectors=vecs,
        help_ask_ids=[f"a{h}-{j}" for h in range(n_helpers) for j in range(helps)],
        help_texts=texts,
        help_times=now.timestamp() - ages.astype(np.float64) * 86400.0,
        facts=facts,
    )


def run_bench(
    embedder: Embedder | None,
    sizes: Sequence[int] = SIZES,
    helps: int = 10,
    runs: int = 30,
    stream: TextIO | None = None,
    *,
    storage: str | None = None,
    n_probe: int | None = None,
    shortlist: int | None = None,
    exact_max_rows: int = EXACT_MAX_ROWS,
    check_storage: bool = False,
    model_mb: float | None = None,
    recall_asks: int = RECALL_ASKS,
) -> dict[str, float]:
    """Median seconds to rank each size (``rank_<n>``) and to embed one ask (``embed_one``:
    the short :data:`ASK_TEXT`; ``embed_typical``: :data:`TYPICAL_ASK`);
    per size also the build's wall and CPU seconds (``build_<n>``, ``build_cpu_<n>``), the
    process's RSS in MB once the index is built and the records it was built from are freed
    (``rss_mb_<n>``, with ``rss_base_mb_<n>`` before the records were made), the recall@10 of
    the approximate search against exact search (``recall10_<n>``, IVF sizes only) and, with
    ``check_storage``, of exact search on the stored vectors (float16/int8) against exact
    search on float32 copies (``storage_recall10_<n>``). ``model_mb``: the RSS that loading
    ``embedder`` added (measured by the caller); the RSS is then also given without it
    (``rss_no_model_mb_<n>``; without a model loaded it is ``rss_mb_<n>`` itself).
    ``recall_asks``: how many asks the recall figures are measured over (the timed one first)."""
    out = stream or sys.stdout
    results: dict[str, float] = {}
    dim = embedder.dimension if embedder is not None else 384
    now = datetime(2025, 1, 1, tzinfo=UTC)
    if embedder is not None:
        results["embed_one"], results["embed_one_cpu"] = median_times(
            lambda: embedder.embed([ASK_TEXT]), runs
        )
        results["embed_typical"], results["embed_typical_cpu"] = median_times(
            lambda: embedder.embed([TYPICAL_ASK]), runs
        )
        query = embedder.embed([ASK_TEXT])[0]
    else:
        query = np.random.default_rng(1).standard_normal(dim).astype(np.float32)
    options: dict[str, Any] = {"exact_max_rows": exact_max_rows, "storage": storage}
    if n_probe is not None:
        options["n_probe"] = n_probe
    if shortlist is not None:
        options["shortlist"] = shortlist
    for n in sizes:
        gc.collect()
        base, _ = rss_mb()
        records = synthetic_columns(n, helps, dim)
        t0, c0 = time.perf_counter(), time.process_time()
        index = HelperIndex.build(records, dim, "synthetic", **options)
        built, cpu = time.perf_counter() - t0, time.process_time() - c0
        queries = [query, *synthetic_queries(max(0, recall_asks - 1), dim)][: max(1, recall_asks)]
        if check_storage and index.storage != "float32":
            ref = HelperIndex.build(
                records, dim, "synthetic", storage="float32", centroids=index.centroids
            )
            probe = index.n_probe
            if index.centroids is not None:  # every partition: exact search on both
                index.n_probe = ref.n_probe = index.centroids.shape[0]
            results[f"storage_recall10_{n}"] = recall_between(
                HybridRanker(index), HybridRanker(ref), queries, now
            )
            index.n_probe = probe
            del ref
        helper_ids, facts = records.helper_ids, records.facts or [HelperFacts()] * n
        del records
        gc.collect()
        release_free_memory()
        ask = Ask(ASK_TEXT, query, now, asker_utc_offset_minutes=60)
        production = ProductionRanking(index, helper_ids, facts, ask)
        results[f"rank_{n}"], results[f"rank_cpu_{n}"] = median_times(production, runs)
        results[f"rank_offer_{n}"], results[f"rank_offer_cpu_{n}"] = median_times(
            production.after_offer, runs
        )
        del production
        results[f"build_{n}"] = built
        results[f"build_cpu_{n}"] = cpu
        results[f"rss_mb_{n}"], _ = rss_mb()
        results[f"rss_base_mb_{n}"] = base
        model = model_mb if embedder is not None and model_mb is not None else 0.0
        results[f"rss_no_model_mb_{n}"] = results[f"rss_mb_{n}"] - model
        # After the RSS is read: what is kept for each asker's candidates (up to 8 sets,
        # ~8 MB each at 100,000 helpers) is not in the figure above, as before.
        production = ProductionRanking(index, helper_ids, facts, ask)
        results[f"rank_asker_{n}"], results[f"rank_asker_cpu_{n}"] = median_times(
            production.other_asker, runs
        )
        del production
        mode = (
            "exact"
            if index.centroids is None
            else f"IVF {index.centroids.shape[0]} lists, {index.n_probe} probed, "
            f"shortlist {index.shortlist}"
        )
        out.write(
            f"rank {n:>7,} helpers ({index.n_rows:>9,} vectors, {mode}, {index.storage}): "
            f"{results[f'rank_{n}'] * 1e3:8.2f} ms median of {runs} "
            f"({results[f'rank_cpu_{n}'] * 1e3:.2f} ms CPU)\n"
            f"  after an offer changed one helper's facts: "
            f"{results[f'rank_offer_{n}'] * 1e3:.2f} ms ({results[f'rank_offer_cpu_{n}'] * 1e3:.2f}"
            f" ms CPU)\n"
            f"  asked by another helper each time (other candidates, derived from those kept): "
            f"{results[f'rank_asker_{n}'] * 1e3:.2f} ms ({results[f'rank_asker_cpu_{n}'] * 1e3:.2f}"
            f" ms CPU)\n"
            f"  index built in {built:.1f} s wall ({cpu:.1f} s CPU) from columns "
            f"(vectors and columns held: {index.nbytes() / 2**20:.0f} MB)\n"
            f"  {_rss_line(results, n, embedder, model_mb)}\n"
        )
        recall = recall_at_10(index, queries, now)
        if recall is not None:
            results[f"recall10_{n}"] = recall
            out.write(
                f"  recall@10 of the IVF search against exact search, {len(queries)} asks: "
                f"{recall:.3f}\n"
            )
        if f"storage_recall10_{n}" in results:
            out.write(
                f"  recall@10 of exact search on {index.storage} vectors against float32, "
                f"{len(queries)} asks: {results[f'storage_recall10_{n}']:.3f}\n"
            )
        out.flush()
        del index
    if "embed_one" in results:
        out.write(
            f"embed one ask: {results['embed_one'] * 1e3:8.2f} ms median of {runs} "
            f"({results['embed_one_cpu'] * 1e3:.2f} ms CPU) for a short one "
            f"({len(ASK_TEXT.split())} words); {results['embed_typical'] * 1e3:.2f} ms "
            f"({results['embed_typical_cpu'] * 1e3:.2f} ms CPU) for a typical one "
            f"({len(TYPICAL_ASK.split())} words in three fields)\n"
        )
        for n in sizes:
            out.write(f"  {_against_embedding(results, n)}\n")
    _, peak = rss_mb()
    results["peak_rss_mb"] = peak
    out.write(f"peak RSS of the process: {peak:.0f} MB\n")
    return results


def _against_embedding(results: dict[str, float], n: int) -> str:
    """The slowest of the three rankings of size ``n`` (plain, after an offer, asked by a
    helper) against embedding the short and the typical ask, in CPU time."""
    slowest = max(results[f"rank{kind}_cpu_{n}"] for kind in ("", "_offer", "_asker"))
    parts = []
    for key, name in (("embed_one_cpu", "short"), ("embed_typical_cpu", "typical")):
        embed = results[key]
        word = "under" if slowest < embed else "NOT under"
        parts.append(f"{word} embedding a {name} ask ({slowest / embed:.2f}x)")
    return f"{n:,} helpers, slowest ranking {slowest * 1e3:.2f} ms CPU: " + ", ".join(parts)


def _rss_line(
    results: dict[str, float], n: int, embedder: Embedder | None, model_mb: float | None
) -> str:
    """The RSS figures of size ``n`` in words: with and without the model."""
    rss, base = results[f"rss_mb_{n}"], results[f"rss_base_mb_{n}"]
    before = f"{base:.0f} MB before the workspace was made"
    if embedder is None:
        return f"RSS {rss:.0f} MB holding it WITHOUT the model (not loaded; {before})"
    if model_mb is None:
        return f"RSS {rss:.0f} MB holding it WITH the model loaded ({before})"
    return (
        f"RSS {rss:.0f} MB holding it WITH the model loaded, {rss - model_mb:.0f} MB "
        f"WITHOUT it (loading the model added {model_mb:.0f} MB; {before})"
    )


def _run(
    args: argparse.Namespace, stream: TextIO | None = None, *, model_path: str | None = None
) -> int:
    from peerbot.embeddings import load_embedder

    before, _ = rss_mb()
    embedder = None if args.no_model else load_embedder(model_path)
    if embedder is not None:
        embedder.embed([ASK_TEXT])  # the first call allocates its working memory too
    model_mb = None if embedder is None else rss_mb()[0] - before
    run_bench(
        embedder,
        sizes=args.sizes,
        helps=args.helps,
        runs=args.runs,
        stream=stream,
        storage=args.storage,
        n_probe=args.n_probe,
        shortlist=args.shortlist,
        exact_max_rows=args.exact_max_rows,
        check_storage=args.check_storage,
        model_mb=model_mb,
        recall_asks=args.recall_asks,
    )
    return 0


def _handle(args: argparse.Namespace, settings: Any) -> int:
    """``peerbot`` handler: the model path from the settings."""
    return _run(args, model_path=getattr(settings, "embedding_model_path", None))


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``bench match`` on ``subparsers`` (the top-level subcommands of ``peerbot``)."""
    from peerbot.eval.routing import _group

    group = _group(
        subparsers,
        "bench",
        "benchmarks",
        "Benchmarks of peerbot's own parts on this machine (no Slack, no database).",
    )
    p: argparse.ArgumentParser = group.add_parser(
        "match",
        help="time ranking 1k/10k/100k helpers against embedding one ask; build time, "
        "RSS and recall@10 of the approximate search",
        description="Build a matching index of synthetic helpers at each of --sizes and print "
        "the median time to rank them for one ask beside the median time to embed one ask "
        "with the model (unless --no-model; a short ask and a typical three-field one, with "
        "whether the slowest ranking is under each), the build time (wall and CPU), the process's "
        "RSS and, where the search is approximate (IVF), its recall@10 against exact search.",
    )
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="helper counts")
    p.add_argument("--helps", type=int, default=10, help="past helps per helper")
    p.add_argument("--runs", type=int, default=30, help="timed runs per figure (median)")
    p.add_argument(
        "--storage",
        choices=STORAGE,
        default=None,
        help="vector storage (default: float32 for exact search, int8 for IVF)",
    )
    p.add_argument("--n-probe", type=int, default=None, help="IVF partitions probed per ask")
    p.add_argument(
        "--shortlist",
        type=int,
        default=None,
        help="IVF: helpers re-scored on all their vectors after the probe (0: none)",
    )
    p.add_argument(
        "--exact-max-rows",
        type=int,
        default=EXACT_MAX_ROWS,
        help=f"vectors up to which search is exact (above: IVF; default {EXACT_MAX_ROWS:,}, "
        "production's)",
    )
    p.add_argument(
        "--check-storage",
        action="store_true",
        help="also print the recall@10 of exact search on the stored vectors against float32",
    )
    p.add_argument(
        "--recall-asks",
        type=int,
        default=RECALL_ASKS,
        help=f"asks the recall@10 figures are measured over (default {RECALL_ASKS})",
    )
    p.add_argument(
        "--no-model",
        action="store_true",
        help="do not load the embedding model (no embedding time; a random ask vector)",
    )
    p.set_defaults(handler=_handle, func=_run)
    return p
