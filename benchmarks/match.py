"""Run ``peerbot bench match`` without the CLI wiring: ``python benchmarks/match.py [sizes...]``."""

from __future__ import annotations

import argparse

from peerbot.embeddings import load_embedder
from peerbot.eval.bench import SIZES, run_bench

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Time ranking synthetic helpers for one ask beside embedding one ask with "
        "the model, with the defaults of `peerbot bench match` (which has every option)."
    )
    parser.add_argument(
        "sizes",
        type=int,
        nargs="*",
        default=list(SIZES),
        help=f"helper counts (default {' '.join(str(s) for s in SIZES)})",
    )
    args = parser.parse_args()
    run_bench(load_embedder(), sizes=args.sizes)
