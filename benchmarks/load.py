"""Load: signed Slack requests at rising rates against 1 and 3 `peerbot serve` workers on one
PostgreSQL, from this separate process (the Slack emulator runs here too).

Per rate (requests a second, offered open-loop for ``--duration`` seconds) the mix is what a
workspace sends: App Home openings (events) 40 %, `/peerhelp` commands 25 %, button clicks 20 %
and intake submissions 15 % (each submission is a whole ask: command, modal, submit). Requests
go round-robin to the workers, as a load balancer would send them; a submission is two requests
(command, then submit), so "done/s" (HTTP requests answered a second) exceeds the task rate.
Printed per rate: offered and achieved throughput, p50 and p99 acknowledgement latency (HTTP
answer), the time from a submission's answer to the helper's offer DM arriving in the emulator
(p50/p99), and errors (non-200 answers, timeouts) by request kind; then the saturation point:
the first rate where p99 passes Slack's 3 s limit, errors appear, or achieved throughput falls
below 90 % of offered.

Errors named "no ack within 3 s (Bolt's 404)" are requests whose listener did not call
``ack()`` within Bolt's ``ack_timeout`` (3 s, Slack's own limit): Bolt then answers 404
"unhandled request". They appear only past saturation (requests queue in the workers); the
listener still finishes (a submission is saved and offered, and its view id makes a retry
return the same ask), but Slack would have shown the person an error. The workers' warnings
(``didn't call ack()``) are in ``worker-N.log`` in the run's temporary home, printed with them.

Run: .venv/bin/python benchmarks/load.py [--workers 1 3] [--rates 2 5 10 20 40] [--duration 15]
     [--database-url postgresql://...]   (default: a throwaway cluster, as the tests start)
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from benchmarks.procstats import free_port
from peerbot.sandbox import SlackDriver, SlackEmulator

ROOT = Path(__file__).resolve().parents[1]
SECRET = "load-bench-secret"
SLACK_LIMIT_MS = 3000.0
MIX = (("event", 40), ("command", 25), ("click", 20), ("submission", 15))
MARK = re.compile(r"LOADQ-(\d+)")
#: Bolt's answer when no listener called ack() within its ``ack_timeout`` (3 s): a saturated
#: worker (requests queued in waitress, the CPU shared), not a request no listener handles.
UNACKED = {"error": "unhandled request"}


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, round(q * len(s)) - 1))]


@dataclass
class RateResult:
    """What one rate gave."""

    rate: float
    sent: int = 0
    errors: int = 0
    acks: list[float] = field(default_factory=list)
    offer_ms: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    lost_offers: int = 0
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def throughput(self) -> float:
        return (self.sent - self.errors) / self.elapsed if self.elapsed else 0.0

    def saturated(self) -> bool:
        return (
            self.errors > 0
            or _pct(self.acks, 0.99) > SLACK_LIMIT_MS
            or self.throughput < 0.9 * self.rate
        )


class OfferWatch:
    """Watches the emulator for offer DMs carrying a submission's marker."""

    def __init__(self, emu: SlackEmulator) -> None:
        self._emu = emu
        self._seen = 0
        self.submitted: dict[int, float] = {}
        self.offered: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            calls = self._emu.calls
            now = time.perf_counter()
            for c in calls[self._seen :]:
                if c.method == "chat.postMessage" and c.ok:
                    for m in MARK.finditer(str(c.args.get("blocks") or c.args.get("text"))):
                        with self._lock:
                            self.offered.setdefault(int(m.group(1)), now)
            self._seen = len(calls)

    def times(self, ids: list[int]) -> tuple[list[float], int]:
        """(ms from submission answer to offer DM for those offered, how many got none)."""
        with self._lock:
            got = [
                (self.offered[i] - self.submitted[i]) * 1000
                for i in ids
                if i in self.offered and i in self.submitted
            ]
        return got, len(ids) - len(got)

    def stop(self) -> None:
        self._stop.set()


def _worker_env(emu: SlackEmulator, db_url: str, home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "SLACK_BOT_TOKEN": emu.bot_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": emu.api_url,
        "DATABASE_URL": db_url,
        "MAX_PENDING_OFFERS_PER_HELPER": "20",
        "MAX_OPEN_ASKS_PER_ASKER": "50",
        "LOG_LEVEL": "WARNING",
    }


def _start_workers(
    n: int, env: dict[str, str], home: Path
) -> list[tuple[subprocess.Popen[bytes], str]]:
    out = []
    for i in range(n):
        port = free_port()
        # Each worker's warnings (e.g. a request no listener took) in a log beside its home.
        with open(home / f"worker-{i}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "peerbot.cli", "serve", "--port", str(port)],
                cwd=home,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        out.append((proc, f"http://127.0.0.1:{port}"))
    for proc, url in out:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {url} exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1) as r:  # noqa: S310
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {url} not healthy")
            time.sleep(0.2)
    return out


def _seed(db_url: str, emu: SlackEmulator) -> None:
    """Migrate and add the demo helpers (35, varied expertise) through the services."""
    from peerbot.app import build_container
    from peerbot.config import Settings
    from peerbot.demo_data import demo_helpers
    from peerbot.domain.profiles import ProfileInput
    from peerbot.store.db import unit_of_work
    from peerbot.store.migrate import upgrade

    upgrade(db_url)
    settings = Settings(
        slack_bot_token=emu.bot_token,
        slack_signing_secret=SECRET,
        slack_api_url=emu.api_url,
        database_url=db_url,
    )
    container = build_container(settings)
    try:
        for h in demo_helpers():
            uid = emu.add_user(h.name, tz=h.tz)
            with unit_of_work(container.sessions) as s:
                container.helpers.save_in(
                    s,
                    emu.team_id,
                    uid,
                    ProfileInput(opted_in=True, expertise=h.expertise, capacity=10),
                    container.clock.now(),
                    container.gateway.user(emu.team_id, uid),
                )
    finally:
        container.close()


def _one_rate(
    rate: float,
    duration: float,
    drivers: list[SlackDriver],
    emu: SlackEmulator,
    watch: OfferWatch,
    users: list[str],
    askers: list[str],
    counter: itertools.count[int],
) -> RateResult:
    result = RateResult(rate)
    lock = threading.Lock()
    rng = random.Random(int(rate * 1000))
    kinds = [k for k, w in MIX for _ in range(w)]
    rr = itertools.cycle(drivers)
    submissions: list[int] = []
    challenge = "How do I give hard feedback to a senior engineer whose reviews hurt the team?"

    def timed(fn: Callable[[], object], what: str) -> bool:
        t0 = time.perf_counter()
        reason = ""
        try:
            r = fn()
            status = getattr(r, "status", 0)
            if status == 404 and getattr(r, "body", None) == UNACKED:
                # Bolt waits 3 s for the listener's ack(), then answers 404 "unhandled
                # request" (a listener that never started or never got that far in time).
                reason = f"{what}: no ack within 3 s (Bolt's 404)"
            elif status != 200:
                reason = f"{what}: HTTP {status}"
        except Exception as exc:
            reason = f"{what}: {type(exc).__name__}"
        ms = (time.perf_counter() - t0) * 1000
        with lock:
            result.sent += 1
            if not reason:
                result.acks.append(ms)
            else:
                result.errors += 1
                result.reasons[reason] += 1
        return not reason

    def task(kind: str, driver: SlackDriver, user: str) -> None:
        if kind == "event":
            timed(lambda: driver.app_home_opened(user), "app_home_opened")
        elif kind == "command":
            timed(lambda: driver.slash_command("/peerhelp", user, ""), "/peerhelp")
        elif kind == "click":
            home = emu.home_view(user)
            if home is None:
                timed(lambda: driver.app_home_opened(user), "app_home_opened")
            else:
                timed(
                    lambda: driver.block_action(user, "home_ask_for_help", view_id=home["id"]),
                    "Home click",
                )
        else:
            # each ask by a person of its own (no two submissions race for one person's modal)
            n = next(counter)
            user = askers[n % len(askers)]
            if not timed(lambda: driver.slash_command("/peerhelp", user, ""), "/peerhelp"):
                return
            deadline = time.monotonic() + 10
            while (modal := emu.top_modal(user)) is None:
                if time.monotonic() > deadline:
                    with lock:
                        result.errors += 1
                        result.reasons["no modal within 10 s"] += 1
                    return
                time.sleep(0.01)
            text = f"{challenge} LOADQ-{n}"
            values = {("challenge", "challenge_input"): text}
            submit = f"submission of {modal.get('callback_id')}"
            if timed(lambda: driver.view_submission(user, modal["id"], values), submit):
                with lock:
                    watch.submitted[n] = time.perf_counter()
                    submissions.append(n)

    total = max(1, int(rate * duration))
    interval = 1.0 / rate
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=128) as pool:
        for i in range(total):
            due = start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            kind = rng.choice(kinds)
            pool.submit(task, kind, next(rr), users[next(counter) % len(users)])
    result.elapsed = time.perf_counter() - start
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _, missing = watch.times(submissions)
        if missing == 0:
            break
        time.sleep(0.2)
    result.offer_ms, result.lost_offers = watch.times(submissions)
    return result


def _run_config(
    workers: int, rates: list[float], duration: float, admin: URL | None, db_url: str | None
) -> list[RateResult]:
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="peerbot-load-"))
    name = f"peerbot_load_{workers}_{os.getpid()}"
    if admin is not None:
        import psycopg

        with psycopg.connect(
            admin.set(drivername="postgresql").render_as_string(hide_password=False),
            autocommit=True,
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = admin.set(database=name).render_as_string(hide_password=False)
    else:
        assert db_url is not None
        url = db_url
    emu = SlackEmulator(trigger_ttl=None).start()
    _seed(url, emu)
    users = [emu.add_user(f"load{i}") for i in range(200)]
    askers = [emu.add_user(f"asker{i}") for i in range(1000)]
    procs = _start_workers(workers, _worker_env(emu, url, home), home)
    drivers = [SlackDriver(u + "/slack/events", SECRET, emu, timeout=15.0) for _, u in procs]
    watch = OfferWatch(emu)
    counter = itertools.count()
    # Warm-up (not measured): each worker's first ask builds its matching index.
    for i, d in enumerate(drivers):
        d.app_home_opened(users[-1 - i])
        d.slash_command("/peerhelp", users[-1 - i], "")
    time.sleep(5)
    results = []
    try:
        for rate in rates:
            r = _one_rate(rate, duration, drivers, emu, watch, users, askers, counter)
            results.append(r)
            print(_line(workers, r), flush=True)
            if r.reasons:
                print(f"{'':>15}errors: {dict(r.reasons)}", flush=True)
                print(f"{'':>15}worker logs: {home}/worker-*.log", flush=True)
    finally:
        watch.stop()
        for proc, _ in procs:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        emu.stop()
    return results


HEADER = (
    f"{'workers':>7}{'rate/s':>8}{'done/s':>8}{'ack p50':>9}{'ack p99':>9}"
    f"{'offer p50':>11}{'offer p99':>11}{'asks':>6}{'no offer':>9}{'errors':>8}"
)


def _line(workers: int, r: RateResult) -> str:
    return (
        f"{workers:>7}{r.rate:>8.1f}{r.throughput:>8.1f}{_pct(r.acks, 0.5):>9.0f}"
        f"{_pct(r.acks, 0.99):>9.0f}{_pct(r.offer_ms, 0.5):>11.0f}{_pct(r.offer_ms, 0.99):>11.0f}"
        f"{len(r.offer_ms) + r.lost_offers:>6}{r.lost_offers:>9}{r.errors:>8}"
    )


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 3],
        help="numbers of `peerbot serve` workers, one measurement each (default 1 3)",
    )
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[2, 5, 10, 20, 40],
        help="request rates per second, rising (default 2 5 10 20 40)",
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per rate")
    parser.add_argument("--database-url", help="PostgreSQL admin URL (default: throwaway)")
    args = parser.parse_args()
    cluster = None
    if args.database_url:
        given = make_url(args.database_url)
        admin: URL | None = given
        if given.get_backend_name() != "postgresql":
            raise SystemExit("load.py measures PostgreSQL: pass a postgresql:// URL")
    else:
        from tests.fixtures.db import ThrowawayCluster

        cluster = ThrowawayCluster()
        admin = cluster.start()
    print("ack and submission-to-offer times in ms; Slack's ack limit is 3000 ms", flush=True)
    print(HEADER, flush=True)
    try:
        for n in args.workers:
            results = _run_config(n, args.rates, args.duration, admin, None)
            sat = next((r for r in results if r.saturated()), None)
            print(
                f"  {n} worker(s): "
                + (
                    f"saturates at {sat.rate:g} requests/s"
                    if sat
                    else f"not saturated up to {args.rates[-1]:g} requests/s"
                ),
                flush=True,
            )
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
