"""Run ``peerbot bench match`` without the CLI wiring: ``python benchmarks/match.py [sizes...]``."""

from __future__ import annotations

import sys

from peerbot.embeddings import load_embedder
from peerbot.eval.bench import SIZES, run_bench

if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or list(SIZES)
    run_bench(load_embedder(), sizes=sizes)
