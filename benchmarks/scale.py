"""Matching at company scale, end to end: seeded helpers, `peerbot serve`, the emulator, the model.

Seeds ``--helpers`` N opted-in helpers with ``--helps`` (default 10) past helps each (asks,
pairs, the asks' vectors, and their offers: one accepted, and for every other ask one passed
before it), N/10 of those pairs active with a check-in due, all with bulk
inserts. The seeded vectors (expertise and past asks) are random 384-d unit vectors: only the
asks sent during the run are embedded with the real model. Then it starts `peerbot serve` as a
child process (the Slack emulator here as Slack), and measures:

* start-up to the first healthy ``/healthz``;
* the first ask after start: modal submission to the first offer DM to a helper;
* p50/p99 of the same over ``--asks`` (20) more asks from different askers;
* the worst ``/healthz`` latency from start-up until the last ask (the index is built meanwhile);
* the server's RSS after the first ask (also split into RssAnon and RssFile; and its peak);
* `peerbot jobs run-due` sending the N/10 due check-ins (wall time of the command).

    PYTHONPATH=. python benchmarks/scale.py --helpers 10000 --db sqlite [--json]

``--db-file`` keeps the seeded SQLite database for the next run (it is reused when it holds the
same number of helpers; each run adds its asks, offers and check-ins on top). PostgreSQL runs in a
throwaway cluster (``initdb``/``pg_ctl``, as the tests do) that is seeded each time, or, with
``--pg-dir DIR``, in a cluster kept in DIR: made and seeded on the first run, started again (same
port when free) and reused by the next runs with the same number of helpers. The server runs
with the product's default index snapshot directory (``INDEX_SNAPSHOT_DIR`` unset: beside a
SQLite file; with PostgreSQL, the host's state directory for that database, the same for every
run on a kept cluster): the first run builds the index and writes a snapshot, the next ones
start from it. Set ``INDEX_SNAPSHOT_DIR`` (e.g. ``off``) in the environment to run otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from procstats import cpu_seconds, free_port, print_result, status_kb  # benchmarks/ is on the path
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import Engine

from peerbot.sandbox import SlackDriver, SlackEmulator
from peerbot.slack.ids import OFFER_ACCEPT
from peerbot.store.db import create_engine_for
from peerbot.store.models import (
    Ask,
    AskStatus,
    Checkin,
    CheckinKind,
    Embedding,
    EmbeddingOwner,
    HelperProfile,
    Offer,
    OfferStatus,
    Pair,
    PairStatus,
    Person,
    RankerModel,
    Workspace,
)

SECRET = "scale-bench-secret"
TEAM = "T0PEERBOT"
DIM = 384
TIMEOUT = 10.0
#: A Tuesday morning in UTC (everyone is seeded in UTC): check-ins go out at once.
TICK_AT = "2026-11-24T10:00:00+00:00"

WORDS = [
    "feedback",
    "hiring",
    "firing",
    "performance",
    "review",
    "conflict",
    "senior",
    "engineer",
    "roadmap",
    "budget",
    "promotion",
    "burnout",
    "delegation",
    "onboarding",
    "remote",
    "team",
    "morale",
    "stakeholder",
    "priorities",
    "deadline",
    "reorg",
    "layoffs",
    "coaching",
    "mentoring",
    "career",
    "growth",
    "underperformer",
    "peer",
    "manager",
    "director",
    "escalation",
    "incident",
    "postmortem",
    "planning",
    "estimates",
    "quality",
    "testing",
    "release",
    "culture",
    "trust",
    "communication",
    "meeting",
    "one-on-one",
    "goals",
    "okrs",
    "strategy",
    "vendor",
    "contract",
]
ASK_TEXTS = [
    "How do I give hard feedback to a senior engineer whose code reviews hurt the team?",
    "My team missed three deadlines in a row and morale is low; how do I reset planning?",
    "I have to run my first reorg and tell two people their roles change. Where do I start?",
    "A peer manager keeps escalating to my director instead of talking to me.",
    "How do I help an underperformer who is also going through burnout?",
]


def _health(url: str) -> tuple[float, bool]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=TIMEOUT) as r:  # noqa: S310
            r.read()
            ok = r.status == 200
    except OSError:
        ok = False
    took = time.monotonic() - started
    return (took if ok else max(took, TIMEOUT)), ok


def _phrase(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray[Any, Any]:
    v = rng.standard_normal((n, DIM), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def _chunks(rows: list[dict[str, Any]], size: int = 5000) -> Any:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def seed(
    engine: Engine, helpers: int, helps: int, model: str, checkins: int | None = None
) -> float:
    """Bulk-insert the workspace; returns the seconds it took."""
    t0 = time.monotonic()
    rng = random.Random(11)
    nrng = np.random.default_rng(11)
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    askers = max(1, helpers // 5)
    n_asks = helpers * helps
    n_active = min(n_asks, helpers // 10 if checkins is None else checkins)
    people = [
        dict(
            id=i + 1,
            team_id=TEAM,
            slack_user_id=f"UH{i:07d}",
            display_name=f"helper{i}",
            real_name=f"Helper {i}",
            tz="UTC",
            created_at=now,
            updated_at=now,
        )
        for i in range(helpers)
    ] + [
        dict(
            id=helpers + j + 1,
            team_id=TEAM,
            slack_user_id=f"UA{j:07d}",
            display_name=f"asker{j}",
            real_name=f"Asker {j}",
            tz="UTC",
            created_at=now,
            updated_at=now,
        )
        for j in range(askers)
    ]
    profiles = [
        dict(
            person_id=i + 1,
            team_id=TEAM,
            opted_in=True,
            expertise=_phrase(rng, 12),
            topics=[],
            years_managing=rng.randint(1, 15),
            capacity=3,
            created_at=now,
            updated_at=now,
        )
        for i in range(helpers)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Workspace), [dict(team_id=TEAM, installed_at=now, settings={})])
        for table, rows in ((Person, people), (HelperProfile, profiles)):
            for chunk in _chunks(rows):
                conn.execute(insert(table), chunk)
        vecs = _unit_vectors(nrng, helpers)
        for start in range(0, helpers, 5000):
            conn.execute(
                insert(Embedding),
                [
                    dict(
                        id=i + 1,
                        team_id=TEAM,
                        owner_kind=EmbeddingOwner.HELPER_EXPERTISE,
                        owner_id=i + 1,
                        model_name=model,
                        dim=DIM,
                        vector=vecs[i].tobytes(),
                        created_at=now,
                    )
                    for i in range(start, min(helpers, start + 5000))
                ],
            )
        for start in range(0, n_asks, 5000):
            stop = min(n_asks, start + 5000)
            vecs = _unit_vectors(nrng, stop - start)
            asks, pairs, embs, checkins, offers = [], [], [], [], []
            for a in range(start, stop):
                helper = a % helpers + 1
                when = now - timedelta(days=1 + (a * 7919) % 700)
                active = a < n_active
                asks.append(
                    dict(
                        id=a + 1,
                        team_id=TEAM,
                        asker_id=helpers + a % askers + 1,
                        challenge=_phrase(rng, 15),
                        status=AskStatus.PAIRED if active else AskStatus.CLOSED,
                        created_at=when,
                        updated_at=when,
                    )
                )
                pairs.append(
                    dict(
                        id=a + 1,
                        team_id=TEAM,
                        ask_id=a + 1,
                        helper_id=helper,
                        asker_id=helpers + a % askers + 1,
                        status=PairStatus.ACTIVE if active else PairStatus.CLOSED,
                        next_checkin_at=now if active else None,
                        created_at=when,
                        closed_at=None if active else when + timedelta(days=30),
                    )
                )
                # Each past ask was offered first: half of them to another helper who passed.
                passer = a % 2 == 0 and helpers > 1
                if passer:
                    offers.append(
                        dict(
                            id=2 * a + 2,
                            team_id=TEAM,
                            ask_id=a + 1,
                            helper_id=(helper % helpers) + 1,
                            rank=1,
                            score=0.6,
                            explanation="",
                            status=OfferStatus.PASSED,
                            sent_at=when - timedelta(hours=3),
                            responded_at=when - timedelta(hours=2),
                            created_at=when - timedelta(hours=3),
                        )
                    )
                offers.append(
                    dict(
                        id=2 * a + 1,
                        team_id=TEAM,
                        ask_id=a + 1,
                        helper_id=helper,
                        rank=2 if passer else 1,
                        score=0.5,
                        explanation="",
                        status=OfferStatus.ACCEPTED,
                        sent_at=when - timedelta(hours=2),
                        responded_at=when,
                        created_at=when - timedelta(hours=2),
                    )
                )
                embs.append(
                    dict(
                        id=helpers + a + 1,
                        team_id=TEAM,
                        owner_kind=EmbeddingOwner.ASK,
                        owner_id=a + 1,
                        model_name=model,
                        dim=DIM,
                        vector=vecs[a - start].tobytes(),
                        created_at=when,
                    )
                )
                if active:
                    checkins.append(
                        dict(
                            id=a + 1,
                            team_id=TEAM,
                            pair_id=a + 1,
                            kind=CheckinKind.ASKER,
                            due_at=now,
                        )
                    )
            conn.execute(insert(Ask), asks)
            conn.execute(insert(Pair), pairs)
            conn.execute(insert(Offer), offers)
            conn.execute(insert(Embedding), embs)
            if checkins:
                conn.execute(insert(Checkin), checkins)
        if engine.dialect.name == "postgresql":
            for table in ("people", "asks", "pairs", "embeddings", "checkins", "offers"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return time.monotonic() - t0


def mark_ranker_trained(engine: Engine) -> None:
    """Record the workspace's ranker as trained on its seeded history (hand-set weights kept),
    as a workspace that grew to this size would have it: the timed tick then measures the
    check-ins, not a first training on the whole seeded history (issue 17's cost, apart)."""
    with engine.begin() as conn:
        marks = dict(
            last_offer_id=int(conn.scalar(select(func.max(Offer.id))) or 0),
            last_pair_id=int(conn.scalar(select(func.max(Pair.id))) or 0),
        )
        if conn.scalar(select(func.count()).select_from(RankerModel)):
            # A file seeded before migration 0014: the marks it would have had.
            conn.execute(
                update(RankerModel).where(RankerModel.last_pair_id.is_(None)).values(marks)
            )
            return
        labelled = int(conn.scalar(select(func.count()).select_from(Pair)) or 0)
        conn.execute(
            insert(RankerModel),
            [
                dict(
                    team_id=TEAM,
                    model={"weights": {}, "n_asks": 0, "learned": []},
                    trained_on_asks=0,
                    labelled_asks=labelled,
                    trained_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
                    **marks,
                )
            ],
        )


def _kept_cluster(directory: str) -> Any:
    """A PostgreSQL cluster kept in ``directory``: ``initdb`` on first use, started again on the
    next (on the port it had, so that its URL, and the snapshots' database identity, stay)."""
    from tests.fixtures.db import ThrowawayCluster, _free_port

    class KeptCluster(ThrowawayCluster):
        def __init__(self, base: Path) -> None:
            super().__init__()
            shutil.rmtree(self.base, ignore_errors=True)  # the temp dir the parent made
            base.mkdir(parents=True, exist_ok=True)
            self.base = base
            self.data = base / "data"
            self.log = base / "postgres.log"
            port_file = base / "port"
            if port_file.exists():
                port = int(port_file.read_text())
                with socket.socket() as s:
                    # As PostgreSQL binds (SO_REUSEADDR): the last run's connections in
                    # TIME_WAIT do not make the port look taken.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        s.bind(("127.0.0.1", port))
                        self.port = port
                    except OSError:
                        self.port = _free_port()
            port_file.write_text(str(self.port))

        def start(self) -> Any:
            if not (self.data / "PG_VERSION").exists():
                return super().start()
            initdb, self.initdb = self.initdb, "true"  # the cluster is there: start it
            try:
                return super().start()
            finally:
                self.initdb = initdb

        def stop(self) -> None:  # a clean shutdown (fsync is off), the data kept
            if self.started:
                self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    return KeptCluster(Path(directory).resolve())


def _seeded_helpers(engine: Engine) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(HelperProfile)) or 0)
    except Exception:  # not migrated yet
        return 0


def _offer_dm(emu: SlackEmulator, since: int, asker: str) -> bool:
    """True once a message with the offer's Accept button went out after call ``since`` (other
    messages, say check-ins left in the outbox of a reused database, do not count)."""
    for call in emu.calls_to("chat.postMessage")[since:]:
        if OFFER_ACCEPT in json.dumps(call.args.get("blocks") or ""):
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    """Seed, serve, measure, print (one JSON object with ``--json``)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--helpers", type=int, default=1000, help="helpers to seed (default 1000)")
    p.add_argument("--helps", type=int, default=10, help="past helps per helper (default 10)")
    p.add_argument(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="database to seed and serve from (default sqlite; postgresql: a throwaway cluster)",
    )
    p.add_argument("--db-file", help="SQLite file to seed once and reuse across runs")
    p.add_argument(
        "--pg-dir",
        help="PostgreSQL: keep the seeded cluster in this directory and reuse it across runs "
        "(index snapshots in the default directory: see INDEX_SNAPSHOT_DIR)",
    )
    p.add_argument("--asks", type=int, default=20, help="asks timed after the first (20)")
    p.add_argument(
        "--checkins",
        type=int,
        help="active pairs with a check-in due at the timed tick (default: helpers / 10)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-tick", action="store_true", help="leave out the timed tick (asks only)")
    p.add_argument(
        "--py-spy",
        metavar="FILE",
        help="run the server under py-spy record (speedscope JSON written to FILE at exit)",
    )
    p.add_argument(
        "--py-spy-asks",
        metavar="FILE",
        help="attach py-spy record to the server for the timed asks only (after the first ask; "
        "collapsed stacks per thread written to FILE)",
    )
    p.add_argument(
        "--trace",
        type=Path,
        help="write every timed ask and /healthz probe as [wall-clock time, seconds] to this "
        "JSON file (to split them by what the server's log says it was doing)",
    )
    p.add_argument(
        "--train",
        action="store_true",
        help="leave the ranker untrained: the timed tick then also trains it on the seeded "
        "history (by default the workspace is recorded as trained on it)",
    )
    args = p.parse_args(argv)
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print

    from peerbot.embeddings.sentence import resolve_model_path

    model = resolve_model_path(os.environ.get("EMBEDDING_MODEL_PATH"))[1]
    tmp = Path(tempfile.mkdtemp(prefix="peerbot-scale-"))
    cluster = None
    if args.db == "postgresql":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.fixtures.db import ThrowawayCluster

        cluster = _kept_cluster(args.pg_dir) if args.pg_dir else ThrowawayCluster()
        url = str(cluster.start().set(database="postgres").render_as_string(hide_password=False))
    else:
        url = f"sqlite:///{Path(args.db_file).resolve() if args.db_file else tmp / 'scale.db'}"
    emulator = SlackEmulator(trigger_ttl=None, team_id=TEAM).start()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "SLACK_BOT_TOKEN": emulator.bot_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": emulator.api_url,
        "DATABASE_URL": url,
        "LOG_LEVEL": os.environ.get("SCALE_LOG_LEVEL", "WARNING"),
        # The tick is run once, below, at a fixed time: the server's own tick would take it.
        "SCHEDULER_ENABLED": "false",
    }
    cli = [sys.executable, "-m", "peerbot.cli"]
    server = None
    try:
        engine = create_engine_for(url)
        if _seeded_helpers(engine) != args.helpers:
            if _seeded_helpers(engine):
                raise SystemExit(
                    f"{url} holds another number of helpers: use another --db-file/--pg-dir"
                )
            subprocess.run([*cli, "migrate"], env=env, cwd=tmp, check=True, capture_output=True)
            took = seed(engine, args.helpers, args.helps, model, args.checkins)
            say(f"seeded {args.helpers} helpers x {args.helps} past helps in {took:.1f} s")
        else:  # brought to the code's schema first (a file seeded by an older checkout)
            subprocess.run([*cli, "migrate"], env=env, cwd=tmp, check=True, capture_output=True)
            say(f"reusing the seeded database ({args.helpers} helpers)")
        if not args.train:
            mark_ranker_trained(engine)
        engine.dispose()
        for i in range(args.helpers):
            emulator.add_user(f"helper{i}", tz="UTC", user_id=f"UH{i:07d}")
        for j in range(max(1, args.helpers // 5)):
            emulator.add_user(f"asker{j}", tz="UTC", user_id=f"UA{j:07d}")
        port = free_port()
        url_http = f"http://127.0.0.1:{port}"
        log = open(tmp / "serve.log", "w")  # noqa: SIM115
        started = time.monotonic()
        serve = [*cli, "serve", "--port", str(port)]
        if args.py_spy:
            spy = str(Path(sys.executable).with_name("py-spy"))
            out = str(Path(args.py_spy).resolve())
            serve = [spy, "record", "-r", "200", "-f", "speedscope", "-o", out, "--", *serve]
        server = subprocess.Popen(serve, env=env, cwd=tmp, stdout=log, stderr=log)
        while not _health(url_http)[1]:
            if server.poll() is not None or time.monotonic() - started > 600:
                raise SystemExit(f"peerbot serve did not start: see {tmp / 'serve.log'}")
            time.sleep(0.1)
        startup_s = time.monotonic() - started
        stop = threading.Event()
        health: list[float] = []
        health_at: list[float] = []  # wall-clock times of the probes (to match the server's log)

        def poll_health() -> None:
            while not stop.is_set():
                at = time.time()
                health.append(_health(url_http)[0])
                health_at.append(at)
                stop.wait(0.1)

        poller = threading.Thread(target=poll_health, daemon=True)
        poller.start()
        driver = SlackDriver(url_http + "/slack/events", SECRET, emulator, timeout=60)

        def one_ask(n: int) -> float:
            asker = emulator.add_user(f"bench.asker{n}", tz="UTC")
            driver.slash_command("/peerhelp", asker, "")
            deadline = time.monotonic() + 30
            modal = emulator.top_modal(asker)
            while modal is None and time.monotonic() < deadline:
                time.sleep(0.01)
                modal = emulator.top_modal(asker)
            assert modal is not None, "the intake modal did not open"
            since = len(emulator.calls_to("chat.postMessage"))
            challenge = f"{ASK_TEXTS[n % len(ASK_TEXTS)]} ({n})"
            t0 = time.monotonic()
            r = driver.view_submission(
                asker, modal["id"], {("challenge", "challenge_input"): challenge}
            )
            if r.status != 200:
                raise SystemExit(f"submission answered {r.status}")
            deadline = time.monotonic() + 900
            while not _offer_dm(emulator, since, asker):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"no offer DM for ask {n}: see {tmp / 'serve.log'}")
                time.sleep(0.005)
            return time.monotonic() - t0

        first = one_ask(0)
        rss_mb = status_kb(server.pid, "VmRSS") / 1024
        # Of which anonymous (the heap: private to the worker) and file-backed pages (code,
        # the model's weights, memory-mapped snapshot arrays: shared with other processes).
        rss_anon_mb = status_kb(server.pid, "RssAnon") / 1024
        rss_file_mb = status_kb(server.pid, "RssFile") / 1024
        say(f"first ask -> offer DM {first:.2f} s")
        spy_asks = None
        if args.py_spy_asks:
            spy_asks = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    *("record", "-r", "200", "-f", "raw", "--threads", "--pid", str(server.pid)),
                    *("-o", str(Path(args.py_spy_asks).resolve())),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # py-spy attaches
        cpu0 = cpu_seconds(server.pid)
        asked_at: list[float] = []

        def timed_ask(n: int) -> float:
            asked_at.append(time.time())
            return one_ask(n)

        times = [timed_ask(i + 1) for i in range(args.asks)]
        # The slowest asks and the worst probe with their wall-clock times (the server's log
        # says what it was doing then: a build, an install, ...).
        slowest = sorted(zip(times, asked_at, strict=True), reverse=True)[:3]
        # The server's CPU per timed ask (all threads; less sensitive to a busy machine than
        # the wall times; under py-spy, the process measured is py-spy's).
        cpu_per_ask = (cpu_seconds(server.pid) - cpu0) / max(1, args.asks)
        if spy_asks is not None:
            spy_asks.send_signal(signal.SIGINT)
            spy_asks.wait(timeout=60)
        stop.set()
        poller.join()
        peak_mb = status_kb(server.pid, "VmHWM") / 1024
        t0 = time.monotonic()
        tick = subprocess.run(
            [*cli, "jobs", "run-due", "--at", TICK_AT] if not args.no_tick else ["true"],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        tick_s = time.monotonic() - t0 if not args.no_tick else float("nan")
        if tick.returncode != 0:
            say(tick.stderr[-2000:])
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT if args.py_spy else signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        emulator.stop()
        if cluster is not None:
            cluster.stop()

    unsorted = list(times)
    times.sort()

    def clock(at: float) -> str:
        return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at % 1 * 1000):03d}"

    worst = max(range(len(health)), key=health.__getitem__) if health else None
    result = {
        "helpers": args.helpers,
        "db": args.db,
        "startup_s": round(startup_s, 3),
        "first_offer_s": round(first, 3),
        "offer_p50_s": round(statistics.median(times), 3),
        "offer_p99_s": round(times[min(len(times) - 1, int(len(times) * 0.99))], 3),
        "healthz_max_s": round(max(health), 3) if health else None,
        "healthz_worst_at": clock(health_at[worst]) if worst is not None else None,
        "offer_slowest": [[round(t, 3), clock(at)] for t, at in slowest],
        "server_cpu_per_ask_s": round(cpu_per_ask, 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "rss_mb": round(rss_mb),
        "rss_anon_mb": round(rss_anon_mb),
        "rss_file_mb": round(rss_file_mb),
        "peak_rss_mb": round(peak_mb),
        "tick_s": None if args.no_tick else round(tick_s, 2),  # JSON has no NaN
        "tick": tick.stdout.strip().splitlines()[-1] if tick.stdout.strip() else "",
    }
    if args.trace:
        args.trace.write_text(
            json.dumps(
                {
                    "asks": [[at, t] for at, t in zip(asked_at, unsorted, strict=True)],
                    "healthz": [[at, t] for at, t in zip(health_at, health, strict=True)],
                }
            )
        )
    print_result(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
