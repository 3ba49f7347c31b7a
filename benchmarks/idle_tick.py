"""`peerbot jobs run-due` with nothing due: wall and CPU time of the whole command (what cron
pays every minute), and where its start-up goes.

Migrates a fresh SQLite file, runs the command ``--runs`` times (the first run compiles nothing
more than later ones: bytecode is compiled beforehand, as an installed package has it), and
prints the median wall time, user+system CPU, the load average beside them, and the slowest
imports by ``python -X importtime`` (cumulative, top level of each package).

    PYTHONPATH=. python benchmarks/idle_tick.py [--runs 5] [--json] [--root DIR]
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from procstats import print_result  # benchmarks/ is on the path

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp: Path, root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(root),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "DATABASE_URL": f"sqlite:///{tmp}/idle.db",
            "SLACK_BOT_TOKEN": "xoxb-idle-tick",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",  # nothing is due: nothing is sent
        }
    )
    return env


def _timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, child CPU seconds (user + system), stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stderr


def _top_imports(stderr: str, n: int) -> list[tuple[str, float]]:
    """The top-level imports (depth 0) by cumulative time, in seconds."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        if name.startswith(" ") and not name.startswith("  "):
            out.append((name.strip(), int(cumulative) / 1e6))
    return sorted(out, key=lambda r: -r[1])[:n]


def main(argv: list[str] | None = None) -> int:
    """Measure and print (one JSON object with ``--json``)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="timed runs (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="the checkout whose peerbot is measured (default: this one), e.g. an export of "
        "an older commit for a before/after at the same load",
    )
    args = p.parse_args(argv)
    compileall.compile_dir(str(args.root / "peerbot"), quiet=1)
    cli = [sys.executable, "-m", "peerbot.cli"]
    with tempfile.TemporaryDirectory(prefix="peerbot-idle-") as d:
        tmp = Path(d)
        env = _env(tmp, args.root)
        _timed([*cli, "migrate"], env, tmp)
        _timed([*cli, "jobs", "run-due"], env, tmp)  # warm the page cache
        walls, cpus = [], []
        for _ in range(args.runs):
            wall, cpu, _ = _timed([*cli, "jobs", "run-due"], env, tmp)
            walls.append(wall)
            cpus.append(cpu)
        _, _, imports = _timed(
            [sys.executable, "-X", "importtime", *cli[1:], "jobs", "run-due"], env, tmp
        )
    result = {
        "wall_s": round(statistics.median(walls), 3),
        "cpu_s": round(statistics.median(cpus), 3),
        "wall_min_s": round(min(walls), 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "top_imports_s": {name: round(s, 3) for name, s in _top_imports(imports, 8)},
    }
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
