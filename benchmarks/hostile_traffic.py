"""Hostile traffic against `peerbot serve`: idle connections and huge unsigned bodies while Slack
sends signed commands.

Starts the Slack emulator here and `peerbot serve` as a child process (SQLite, the emulator as
Slack), then for ``--seconds``: keeps ``--idle`` half-open connections (a request line and no
more, reopened when the server cuts them), sends ``--bodies`` unsigned bodies of ``--body-mb`` MB
(``--senders`` at a time), polls ``/healthz`` every 100 ms, and sends signed ``/peerhelp``
commands one after another. Prints the signed commands' p50/p99/max ack, the worst ``/healthz``
latency and the server's peak RSS growth (VmHWM minus RSS after warm-up), with the targets.

    PYTHONPATH=. python benchmarks/hostile_traffic.py
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from procstats import free_port, status_kb  # benchmarks/ is on the path

from peerbot.sandbox import SlackDriver, SlackEmulator

SECRET = "hostile-bench-secret"
TIMEOUT = 10.0


def _health(url: str) -> float:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=TIMEOUT) as r:  # noqa: S310
            r.read()
            ok = r.status == 200
    except OSError:
        ok = False
    took = time.monotonic() - started
    return took if ok else max(took, TIMEOUT)


def _idle_keeper(port: int, count: int, stop: threading.Event, opened: list[int]) -> None:
    socks: list[socket.socket] = []
    while not stop.is_set():
        alive = []
        for s in socks:  # drop the ones the server cut
            try:
                s.setblocking(False)
                if s.recv(1) == b"":
                    s.close()
                    continue
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                continue
            alive.append(s)
        socks = alive
        while len(socks) < count and not stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                s.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
                opened[0] += 1
            except OSError:
                break
        stop.wait(0.5)
    for s in socks:
        s.close()


def _big_body(port: int, megabytes: int, results: list[str]) -> None:
    size = megabytes * 1024 * 1024
    chunk = b"a" * (1024 * 1024)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            s.sendall(
                b"POST /slack/events HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: %d\r\n\r\npayload=" % size
            )
            sent = 8
            while sent < size:
                s.sendall(chunk[: min(len(chunk), size - sent)])
                sent += len(chunk)
            answer = s.recv(100)
            results.append(answer.split(b"\r\n", 1)[0].decode() or "closed")
    except OSError as exc:
        results.append(f"cut ({type(exc).__name__})")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; exit 1 when a target is missed."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=30, help="length of the attack (default 30)")
    p.add_argument("--idle", type=int, default=200, help="idle connections kept open (200)")
    p.add_argument("--bodies", type=int, default=20, help="unsigned large bodies sent (20)")
    p.add_argument("--body-mb", type=int, default=50, help="size of each body in MB (50)")
    p.add_argument("--senders", type=int, default=4, help="large bodies in flight at once (4)")
    args = p.parse_args(argv)

    emulator = SlackEmulator(trigger_ttl=None).start()
    tmp = Path(tempfile.mkdtemp(prefix="peerbot-hostile-"))
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "SLACK_BOT_TOKEN": emulator.bot_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": emulator.api_url,
        "DATABASE_URL": f"sqlite:///{tmp}/peerbot.db",
        "LOG_LEVEL": "ERROR",
    }
    cli = [sys.executable, "-m", "peerbot.cli"]
    subprocess.run([*cli, "migrate"], env=env, cwd=tmp, check=True, capture_output=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)],
        env=env,
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while _health(url) >= TIMEOUT:
            if server.poll() is not None or time.monotonic() > deadline:
                print(server.stderr.read() if server.stderr else "", file=sys.stderr)
                raise SystemExit("peerbot serve did not start")
            time.sleep(0.3)
        user = emulator.add_user("alex", email="alex@example.com")
        driver = SlackDriver(url + "/slack/events", SECRET, emulator, timeout=TIMEOUT)
        for _ in range(20):  # warm-up: the first requests load code paths
            driver.slash_command("/peerhelp", user, "")
        time.sleep(1)
        base_rss = status_kb(server.pid, "VmRSS")

        stop = threading.Event()
        health: list[float] = []
        opened = [0]
        bodies: list[str] = []

        def poll_health() -> None:
            while not stop.is_set():
                health.append(_health(url))
                stop.wait(0.1)

        def send_bodies() -> None:
            sem = threading.Semaphore(args.senders)
            threads = []
            for _ in range(args.bodies):
                sem.acquire()

                def run() -> None:
                    try:
                        _big_body(port, args.body_mb, bodies)
                    finally:
                        sem.release()

                t = threading.Thread(target=run, daemon=True)
                t.start()
                threads.append(t)
            for t in threads:
                t.join()

        workers = [
            threading.Thread(target=_idle_keeper, args=(port, args.idle, stop, opened)),
            threading.Thread(target=poll_health),
            threading.Thread(target=send_bodies),
        ]
        for w in workers:
            w.start()
        acks: list[float] = []
        failed = 0
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            t0 = time.monotonic()
            try:
                ok = driver.slash_command("/peerhelp", user, "").status == 200
            except OSError:
                ok = False
            took = time.monotonic() - t0
            acks.append(took if ok else max(took, TIMEOUT))
            failed += 0 if ok else 1
            time.sleep(0.05)
        stop.set()
        for w in workers:
            w.join(timeout=120)
        peak_rss = status_kb(server.pid, "VmHWM")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        emulator.stop()

    acks.sort()
    p50 = statistics.median(acks)
    p99 = acks[min(len(acks) - 1, int(len(acks) * 0.99))]
    growth_mb = (peak_rss - base_rss) / 1024
    worst_health = max(health) if health else float("inf")
    print(f"hostile traffic for {args.seconds:.0f} s against peerbot serve (SQLite)")
    print(
        f"  attack: {args.idle} idle connections ({opened[0]} opened in all), "
        f"{args.bodies} unsigned {args.body_mb} MB bodies: {sorted(set(bodies))}"
    )
    print(
        f"  signed /peerhelp: {len(acks)} sent, {failed} failed; ack p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {acks[-1] * 1000:.0f} ms  (target: max < 1000 ms)"
    )
    print(
        f"  /healthz: {len(health)} probes, worst {worst_health * 1000:.0f} ms  "
        f"(target < 1000 ms; {TIMEOUT:.0f} s = timed out)"
    )
    print(
        f"  server RSS: {base_rss / 1024:.0f} MB after warm-up, peak {peak_rss / 1024:.0f} MB, "
        f"growth {growth_mb:.0f} MB  (target < 100 MB)"
    )
    met = acks[-1] < 1.0 and worst_health < 1.0 and growth_mb < 100 and failed == 0
    print("  targets met" if met else "  TARGETS MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
