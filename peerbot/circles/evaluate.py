"""``peerbot circles eval``: form circles from a JSONL file with the production code and compare
them with random groups of the same sizes.

Each line is one JSON object with ``id`` and ``text``, and optionally ``function``, ``tz`` and
``label``. Printed: the number of circles, their smallest and largest size, the mean
within-circle cosine similarity for peerbot and for a random assignment of the same sizes (mean
of :data:`RANDOM_SEEDS` seeds), the function mix, and with labels, purity (the mean share of
each circle's most common label) for both.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from peerbot.circles.formation import Formation, PoolEntry, Rules, form_circles, within_similarity
from peerbot.circles.hours import week_start
from peerbot.domain.ports import Embedder

RANDOM_SEEDS = 20
#: The evaluation's reference week (working hours are computed for it).
EVAL_WEEK = week_start(datetime(2026, 3, 2, tzinfo=UTC))


class DataError(ValueError):
    """The data file is not what ``circles eval`` reads (the message says where)."""


@dataclass(frozen=True)
class Row:
    """One line of the data file."""

    id: str
    text: str
    function: str | None = None
    tz: str | None = None
    label: str | None = None


def load_rows(path: Path) -> list[Row]:
    """The rows of a JSONL file; :class:`DataError` naming the line for a bad one."""
    rows: list[Row] = []
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"line {number}: not JSON ({exc.msg})") from exc
        if not isinstance(obj, dict) or "id" not in obj or not isinstance(obj.get("text"), str):
            raise DataError(f"line {number}: needs an object with 'id' and 'text'")
        rid = str(obj["id"])
        if rid in seen:
            raise DataError(f"line {number}: id {rid!r} appears twice")
        seen.add(rid)

        def opt(name: str, obj: dict[str, Any] = obj) -> str | None:
            value = obj.get(name)
            return None if value is None or value == "" else str(value)

        rows.append(Row(rid, obj["text"], opt("function"), opt("tz"), opt("label")))
    if not rows:
        raise DataError(f"{path} holds no rows")
    return rows


def purity(labels: Sequence[str | None], groups: Sequence[Sequence[int]]) -> float:
    """Mean over groups of the share of the group's most common label."""
    values = []
    for g in groups:
        known = [labels[i] for i in g]
        if not known:
            continue
        values.append(Counter(known).most_common(1)[0][1] / len(known))
    return float(np.mean(values)) if values else 0.0


def function_mix(functions: Sequence[str | None], groups: Sequence[Sequence[int]]) -> float:
    """Mean over groups of the number of distinct known functions."""
    values = [len({functions[i] for i in g if functions[i]}) for g in groups]
    return float(np.mean(values)) if values else 0.0


def random_groups(sizes: Sequence[int], n: int, seed: int) -> list[list[int]]:
    """A random assignment of ``n`` people into groups of ``sizes`` (the rest unassigned)."""
    perm = np.random.default_rng(seed).permutation(n)
    out, start = [], 0
    for size in sizes:
        out.append([int(i) for i in perm[start : start + size]])
        start += size
    return out


def evaluate(
    rows: Sequence[Row], vectors: npt.NDArray[np.float32], rules: Rules, seed: int = 0
) -> dict[str, Any]:
    """Form circles from ``rows`` and measure them beside random groups of the same sizes."""
    pool = [
        PoolEntry(id=r.id, vector=vectors[i], text=r.text, function=r.function, tz=r.tz)
        for i, r in enumerate(rows)
    ]
    formation: Formation = form_circles(pool, week=EVAL_WEEK, rules=rules, seed=seed)
    index = {r.id: i for i, r in enumerate(rows)}
    groups = [[index[m] for m in c.members] for c in formation.circles]
    sizes = [len(g) for g in groups]
    placed = sum(sizes)
    # Random groups of the same sizes drawn from the people peerbot placed.
    placed_ids = sorted(i for g in groups for i in g)
    randoms = [
        [[placed_ids[i] for i in g] for g in random_groups(sizes, placed, s)]
        for s in range(RANDOM_SEEDS)
    ]
    functions = [r.function for r in rows]
    result: dict[str, Any] = {
        "people": len(rows),
        "placed": placed,
        "unplaced": len(formation.unplaced),
        "circles": len(groups),
        "min_size": min(sizes) if sizes else 0,
        "max_size": max(sizes) if sizes else 0,
        "coherence": {
            "peerbot": round(within_similarity(vectors, groups), 4),
            "random": round(float(np.mean([within_similarity(vectors, g) for g in randoms])), 4),
        },
        "function_mix": {
            "peerbot": round(function_mix(functions, groups), 3),
            "random": round(float(np.mean([function_mix(functions, g) for g in randoms])), 3),
        },
        "themes": [c.theme for c in formation.circles[:5]],
    }
    labels = [r.label for r in rows]
    if any(labels):
        result["purity"] = {
            "peerbot": round(purity(labels, groups), 4),
            "random": round(float(np.mean([purity(labels, g) for g in randoms])), 4),
        }
    return result


def format_result(result: dict[str, Any]) -> str:
    """The evaluation as a few lines of text."""
    lines = [
        f"people {result['people']}, placed {result['placed']}, not placed {result['unplaced']}",
        f"circles {result['circles']} (sizes {result['min_size']}–{result['max_size']})",
        f"within-circle cosine: peerbot {result['coherence']['peerbot']:.4f}, random "
        f"{result['coherence']['random']:.4f} (mean of {RANDOM_SEEDS} seeds)",
        f"functions per circle: peerbot {result['function_mix']['peerbot']:.2f}, random "
        f"{result['function_mix']['random']:.2f}",
    ]
    if "purity" in result:
        lines.append(
            f"label purity: peerbot {result['purity']['peerbot']:.4f}, random "
            f"{result['purity']['random']:.4f}"
        )
    lines.append("example themes: " + "; ".join(result["themes"]))
    return "\n".join(lines) + "\n"


def run_eval(
    path: Path, embedder: Embedder, *, size: int = 6, stream: TextIO | None = None, as_json: bool
) -> int:
    """Read ``path``, embed, form and print; 2 on bad data (with the reason on stderr)."""
    out = stream or sys.stdout
    try:
        rows = load_rows(path)
        rules = Rules(target=size, min_size=min(4, size), max_size=max(8, size))
    except (DataError, ValueError) as exc:
        sys.stderr.write(f"circles eval: {exc}\n")
        return 2
    vectors = embedder.embed([r.text for r in rows])
    result = evaluate(rows, vectors, rules)
    if as_json:
        keys = ["circles", "min_size", "max_size", "coherence", "function_mix"]
        keys += ["purity"] if "purity" in result else []
        out.write(json.dumps({k: result[k] for k in keys}) + "\n")
    else:
        out.write(format_result(result))
    return 0
