"""``peerbot eval routing``: the routing protocol of ``shared/data/routing/README.md``.

The protocol, in short: sort by question id; the first 80% is history ("helped on" records for
each answerer), the rest are new asks; candidates are users with at least 3 answers in the
history; an ask is scored when one of its answerers is a candidate, and everyone who answered it
is relevant. peerbot's ranker runs exactly as in production (a :class:`HelperIndex` of profiles
built from the history, a :class:`HybridRanker` over all candidates), beside two baselines:
popularity (answer count in history) and BM25 (k1=1.2, b=0.75; one document per helper of the
concatenated texts of the questions they answered).

The data carry no timestamps; question ids rise with posting time, so the history is spread
evenly over ``history_days`` ending at the first ask, which is "now" for every ask.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from peerbot.domain.ports import Embedder
from peerbot.eval.metrics import METRICS, all_metrics, mean_metrics
from peerbot.matching import (
    Ask,
    BM25Index,
    HelperFacts,
    HelperIndex,
    HelperRecord,
    HybridRanker,
    PastHelp,
    RankerWeights,
    tokenize,
)
from peerbot.matching.scoring import gini

if TYPE_CHECKING:
    from peerbot.config import Settings

RANKERS: tuple[str, ...] = ("peerbot", "bm25", "popularity")
HISTORY_SHARE = 0.8
MIN_ANSWERS = 3
#: Words of each question given to the embedding model (the title comes first). Longer texts cost
#: embedding time roughly linearly and, measured on the development sets, add little.
EMBED_WORDS = 32
HISTORY_DAYS = 365.0
_EPOCH = datetime(2019, 9, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Question:
    """One Stack Exchange question of the routing data."""

    question_id: int
    title: str
    body: str
    answerer_ids: tuple[str, ...]

    @property
    def text(self) -> str:
        """Title and body."""
        return f"{self.title} {self.body}".strip()

    def embed_text(self, words: int = EMBED_WORDS) -> str:
        """The first ``words`` words of :attr:`text`."""
        return " ".join(self.text.split()[:words])


def load_questions(path: Path) -> list[Question]:
    """Read a routing JSONL file, sorted by question id."""
    out: list[Question] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            out.append(
                Question(
                    question_id=int(row["question_id"]),
                    title=str(row.get("title", "")),
                    body=str(row.get("body", "")),
                    answerer_ids=tuple(str(a) for a in row.get("answerer_ids", [])),
                )
            )
    out.sort(key=lambda q: q.question_id)
    return out


@dataclass(frozen=True, slots=True)
class Split:
    """History, candidates and the scored asks of one data set."""

    history: list[Question]
    asks: list[Question]
    candidates: list[str]
    help_counts: Counter[str]


def split(questions: Sequence[Question]) -> Split:
    """Apply steps 1-3 of the protocol."""
    cut = int(len(questions) * HISTORY_SHARE)
    history = list(questions[:cut])
    counts: Counter[str] = Counter(a for q in history for a in dict.fromkeys(q.answerer_ids))
    candidates = sorted(u for u, c in counts.items() if c >= MIN_ANSWERS)
    cset = set(candidates)
    asks = [q for q in questions[cut:] if any(a in cset for a in q.answerer_ids)]
    return Split(history, asks, candidates, counts)


def build_index(
    data: Split, vectors: dict[int, np.ndarray], model_name: str, dimension: int, now: datetime
) -> HelperIndex:
    """Profiles of the candidates from the history, as production would hold them."""
    cset = set(data.candidates)
    helps: dict[str, list[PastHelp]] = {c: [] for c in data.candidates}
    n = max(1, len(data.history))
    for i, q in enumerate(data.history):
        at = now - timedelta(days=HISTORY_DAYS * (n - i) / n)
        for a in dict.fromkeys(q.answerer_ids):
            if a in cset:
                helps[a].append(PastHelp(str(q.question_id), vectors[q.question_id], q.text, at))
    records = [
        HelperRecord(c, None, "", helps[c], HelperFacts(helps_given=data.help_counts[c]))
        for c in data.candidates
    ]
    return HelperIndex.build(records, dimension, model_name)


def run_routing_eval(
    path: Path | str,
    embedder: Embedder,
    weights: RankerWeights | None = None,
    *,
    embed_words: int = EMBED_WORDS,
) -> dict[str, Any]:
    """Run the protocol on ``path``; metrics per ranker plus counts and the first-offer Gini.

    Returns ``{"peerbot": {metric: value}, "bm25": {...}, "popularity": {...}, "info": {...}}``.
    """
    data = split(load_questions(Path(path)))
    weights = weights or RankerWeights()
    needed = {q.question_id: q for q in data.history} | {q.question_id: q for q in data.asks}
    ids = list(needed)
    mat = embedder.embed([needed[i].embed_text(embed_words) for i in ids])
    vectors = {qid: mat[k] for k, qid in enumerate(ids)}
    return evaluate(data, vectors, embedder.model_name, embedder.dimension, weights)


def evaluate(
    data: Split,
    vectors: dict[int, np.ndarray],
    model_name: str,
    dimension: int,
    weights: RankerWeights,
) -> dict[str, Any]:
    """Score the three rankers on ``data`` given precomputed question vectors."""
    now = _EPOCH
    index = build_index(data, vectors, model_name, dimension, now)
    ranker = HybridRanker(index, weights)

    baseline = BM25Index()
    slot_of = {c: i for i, c in enumerate(data.candidates)}
    cset = set(data.candidates)
    for q in data.history:
        toks = tokenize(q.text)
        for a in dict.fromkeys(q.answerer_ids):
            if a in cset:
                baseline.add(slot_of[a], toks)
    cands = np.array(data.candidates, dtype=object)
    pop = np.array([data.help_counts[c] for c in data.candidates], dtype=np.float64)
    pop_ranking = list(cands[np.argsort(-pop, kind="stable")])

    rows: dict[str, list[dict[str, float]]] = {r: [] for r in RANKERS}
    firsts: dict[str, Counter[str]] = {r: Counter() for r in RANKERS}
    for q in data.asks:
        relevant = {a for a in q.answerer_ids if a in cset}
        scoring = ranker.score(Ask(q.text, vectors[q.question_id], now))
        ours = [scoring.scored.ids[int(i)] for i in scoring.scored.order()]
        bm = baseline.score(tokenize(q.text), len(data.candidates))
        bm_ranking = list(cands[np.argsort(-bm, kind="stable")])
        for name, ranking in (("peerbot", ours), ("bm25", bm_ranking), ("popularity", pop_ranking)):
            rows[name].append(all_metrics(ranking, relevant))
            firsts[name][ranking[0]] += 1
    result: dict[str, Any] = {name: mean_metrics(rows[name]) for name in RANKERS}
    result["info"] = {
        "asks_scored": len(data.asks),
        "candidates": len(data.candidates),
        "history_questions": len(data.history),
        "first_offer_gini": {
            name: gini([firsts[name].get(c, 0) for c in data.candidates]) for name in RANKERS
        },
        "distinct_first_offers": {name: len(firsts[name]) for name in RANKERS},
    }
    return result


def format_table(result: dict[str, Any]) -> str:
    """The metrics side by side, plus how evenly peerbot's first offers spread."""
    lines = [f"{'ranker':<12}" + "".join(f"{m:>11}" for m in METRICS)]
    for name in RANKERS:
        lines.append(f"{name:<12}" + "".join(f"{result[name][m]:>11.4f}" for m in METRICS))
    info = result["info"]
    lines.append(
        f"asks scored: {info['asks_scored']}, candidates: {info['candidates']}, "
        f"history questions: {info['history_questions']}"
    )
    lines.append(
        f"peerbot first offers: Gini {info['first_offer_gini']['peerbot']:.3f} over "
        f"{info['candidates']} candidates ({info['distinct_first_offers']['peerbot']} distinct "
        f"helpers offered first; BM25 Gini {info['first_offer_gini']['bm25']:.3f})"
    )
    return "\n".join(lines) + "\n"


def _run(
    args: argparse.Namespace,
    stream: TextIO | None = None,
    *,
    model_path: str | None = None,
    weights: RankerWeights | None = None,
) -> int:
    from peerbot.embeddings import load_embedder

    out = stream or sys.stdout
    embedder = load_embedder(model_path)
    result = run_routing_eval(args.data, embedder, weights, embed_words=args.embed_words)
    if args.json:
        out.write(json.dumps({k: result[k] for k in (*RANKERS, "info")}, indent=2) + "\n")
    else:
        out.write(format_table(result))
    return 0


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    """``peerbot`` handler: the model path and the ranker weights (``RANKER_WEIGHTS``) of the
    settings, read exactly as production reads them."""
    return _run(
        args,
        model_path=settings.embedding_model_path,
        weights=settings.ranker_weights_parsed(),
    )


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``eval routing`` on ``subparsers`` (the top-level subcommands of ``peerbot``).

    Creates the ``eval`` group when absent. Sets ``args.handler(args, settings) -> int`` (model
    path and weights from the settings) and ``args.func(args) -> int`` (defaults).
    """
    group = _group(subparsers, "eval", "offline evaluations")
    p: argparse.ArgumentParser = group.add_parser(
        "routing", help="route Stack Exchange questions; compare peerbot with baselines"
    )
    p.add_argument("--data", required=True, type=Path, help="routing JSONL file")
    p.add_argument("--json", action="store_true", help="one JSON object keyed by ranker")
    p.add_argument(
        "--embed-words", type=int, default=EMBED_WORDS, help="words of each question embedded"
    )
    p.set_defaults(handler=_handle, func=_run)
    return p


def _group(subparsers: Any, name: str, help_text: str) -> Any:
    """The sub-subparsers of group ``name`` under ``subparsers``, created when missing."""
    choices = getattr(subparsers, "choices", {}) or {}
    parser = choices.get(name)
    if parser is None:
        parser = subparsers.add_parser(name, help=help_text)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest=f"{name}_command", required=True)
