"""A workspace's full matching index built in a child process, handed over as a snapshot.

At 100,000 helpers (1.1 million past-help vectors) a worker starting with no index snapshot
serves asks from a provisional index while the full one builds (see
:meth:`~peerbot.services.ranking.HelperIndexes.start`). Built in a thread of the worker, that
build held the interpreter lock for most of a minute (the request threads waited for it: p99
of an ask 1.4 s) and its memory peak (4 GB: rows, columns, partitions) was the worker's.

Here the worker starts ``python -m peerbot.services.index_child`` instead (:class:`ChildBuilds`):
a fresh interpreter (no connection, lock or thread inherited from the worker; it opens its own
engine, and never imports the embedding model: the vectors come from the database) that

1. reads the workspace's change number and erasure count, then builds the full index (and its
   topics and centroids) in one read transaction, as a build in the worker does
   (:func:`~peerbot.services.ranking.build_index`);
2. writes it as a snapshot (the usual format, :func:`~peerbot.services.index_snapshot.write`)
   into the worker's snapshot directory, carrying that change number and erasure count;
3. reads the erasure count again: when text was erased since its first read, it deletes what it
   wrote (and every older snapshot of the workspace) and reports so; a snapshot never outlives
   an erasure (:mod:`peerbot.services.erasures`);
4. prints one JSON line (what it wrote, its CPU time and memory peak) and exits.

The worker meanwhile only waits (the child's memory and CPU are its own; it runs at a lower
priority, ``nice``), then loads that snapshot as a start-up from a snapshot does (its erasure
count read first: a snapshot built before an erasure is refused and deleted) and installs it
in place of the provisional index. Any failure (an exception, a kill, a time-out, a snapshot it
may not load) is logged and the worker builds in a thread as before. A stopping worker
terminates its children (:meth:`ChildBuilds.close`); a child also gets SIGTERM when the worker
dies (Linux ``PR_SET_PDEATHSIG``).

With snapshots off (``INDEX_SNAPSHOT_DIR=off``) the worker builds in a thread as before: the
index holds past asks' text, "off" means none of it is written to disk, and a private
temporary snapshot would be (the worker would read its deleted files for its whole life, and
with snapshots off nothing replaces an index after an erasure).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: A child build still running after this long is killed (the worker then builds itself).
CHILD_TIMEOUT_S = 1800.0
#: The child's ``nice`` increment: request threads of the worker come first on a busy host.
CHILD_NICE = 10
#: Modules the child must never load (the embedding model); reported if it did.
_MODEL_MODULES = ("torch", "sentence_transformers", "transformers")


#: The child's program: ``sys.argv[1]`` (the worker's code directory) first on the path, then
#: this module as ``__main__``.
_BOOT = (
    "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
    "runpy.run_module('peerbot.services.index_child', run_name='__main__', alter_sys=True)"
)


class ChildBuildError(RuntimeError):
    """A child build failed (the message says how): the worker builds in a thread instead."""


def build_request(
    database_url: str,
    team_id: str,
    model_name: str,
    dimension: int,
    root: Path,
    database: str,
    at: Any,
) -> dict[str, Any]:
    """What the child needs (sent on its standard input, never on its command line: the
    database URL may hold a password). ``at``: the worker's time before the child's read
    (the built index's watermark and origin, as a build in the worker records ``now``)."""
    root_logger = logging.getLogger()
    json_logs = any(type(h.formatter).__name__ == "JsonFormatter" for h in root_logger.handlers)
    return {
        "database_url": database_url,
        "team_id": team_id,
        "model_name": model_name,
        "dimension": dimension,
        "root": str(root),
        "database": database,
        "at": at.isoformat(),
        "log_level": logging.getLevelName(root_logger.getEffectiveLevel()),
        "log_format": "json" if json_logs else "text",
    }


class ChildBuilds:
    """The child processes building indexes for this worker (see the module)."""

    def __init__(self, timeout_s: float = CHILD_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        import peerbot

        #: The child's command line (the request goes to its standard input): this module
        #: run from the code this worker runs (its directory first on the child's path: a
        #: checkout, say), whatever the working directory holds.
        self.command: tuple[str, ...] = (
            sys.executable,
            "-c",
            _BOOT,
            str(Path(peerbot.__file__).resolve().parent.parent),
        )
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._closed = False
        #: Child builds that ended with a snapshot written (for tests and benchmarks).
        self.succeeded = 0
        #: The last child's report (its pid, CPU time, memory peak, ...).
        self.last: dict[str, Any] | None = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (no child is started any more)."""
        return self._closed

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one child build of ``request`` (:func:`build_request`) and wait for it (the
        calling thread only waits); its report. Raises :class:`ChildBuildError` when it
        failed, timed out, was terminated or wrote nothing."""
        started, spawned = time.monotonic(), time.time()
        with self._lock:
            if self._closed:
                raise ChildBuildError("the worker is stopping")
            proc = subprocess.Popen(
                list(self.command),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
            )
            self._running.add(proc)
        log.info("building the full index of %s in a child process (pid %d)",
                 request["team_id"], proc.pid)  # fmt: skip
        try:
            out, _ = proc.communicate(json.dumps(request).encode("utf-8"), self.timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise ChildBuildError(f"timed out after {self.timeout_s:.0f} s (killed)") from None
        finally:
            with self._lock:
                self._running.discard(proc)
        if proc.returncode != 0:
            raise ChildBuildError(f"the child (pid {proc.pid}) exited with {proc.returncode}")
        try:
            report: dict[str, Any] = json.loads(out.decode("utf-8").strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise ChildBuildError("the child reported nothing readable") from None
        report["pid"] = proc.pid
        report["start_s"] = round(float(report.get("started_at", spawned)) - spawned, 3)
        report["wall_s"] = round(time.monotonic() - started, 3)
        self.last = report
        if not report.get("written"):
            raise ChildBuildError(f"the child wrote no snapshot: {report.get('reason')}")
        self.succeeded += 1
        return report

    def close(self) -> None:
        """Terminate the children running (a stopping worker); no new one starts."""
        with self._lock:
            self._closed = True
            running = list(self._running)
        for proc in running:
            proc.terminate()
        for proc in running:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


# --- the child ------------------------------------------------------------------------------


def build_snapshot(
    request: dict[str, Any], *, before_write: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Build the workspace's full index from the database and write it as a snapshot (see the
    module; the child's work, callable in-process for tests). ``before_write``: called between
    the build and the write (tests). Returns the report the child prints."""
    t0 = time.monotonic()
    from datetime import datetime

    from peerbot.matching import profiles
    from peerbot.services.erasures import erasure_count
    from peerbot.services.index_snapshot import SnapshotStore, capture, write
    from peerbot.services.ranking import build_index, matching_position
    from peerbot.store.db import create_engine_for, read_only, session_factory

    imports_s = time.monotonic() - t0
    team = str(request["team_id"])
    model = str(request["model_name"])
    root = Path(request["root"])
    at = datetime.fromisoformat(request["at"])
    engine = create_engine_for(request["database_url"])  # its own: nothing inherited
    try:
        sessions = session_factory(engine)
        with read_only(sessions) as session:
            version, erasures = matching_position(session, team)
            index = build_index(session, team, model, int(request["dimension"]))
        profiles.warm(index)  # the centroids, kept in the snapshot
        captured = capture(index, team, version, at, str(request["database"]), at, erasures)
        if before_write is not None:
            before_write()
        store = SnapshotStore(root, str(request["database"]))
        with read_only(sessions) as session:
            erased = erasure_count(session, team)
        if erased > erasures:
            store.note_erasures(team, erased)
            return {"written": False, "reason": "text was erased during the build"}
        where = write(root, captured, model)
        with read_only(sessions) as session:
            erased = erasure_count(session, team)
        if erased > erasures:  # erased while it was written: it goes (and any older one)
            store.note_erasures(team, erased)
            return {"written": False, "reason": "text was erased while it was written"}
        return {
            "written": True,
            "directory": where.name,
            "version": version,
            "erasures": erasures,
            "helpers": len(index),
            "rows": index.n_rows,
            "imports_s": round(imports_s, 3),
        }
    finally:
        engine.dispose()


def _die_with_parent() -> None:
    """Linux: SIGTERM to this process when the worker that started it dies."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the worker died before the call
        os._exit(1)


def main() -> int:
    """The child's entry point: a request on standard input, a one-line JSON report on
    standard output; the logs on standard error (the worker's)."""
    import gc

    ready = time.time()
    _die_with_parent()
    gc.disable()  # one thread building: the collector's passes over its rows are wasted
    request = json.loads(sys.stdin.read())
    from peerbot.config import LogFormat
    from peerbot.logs import configure_logging

    configure_logging(
        str(request.get("log_level", "INFO")),
        LogFormat.JSON if request.get("log_format") == "json" else LogFormat.TEXT,
    )
    with contextlib.suppress(OSError):
        os.nice(int(request.get("nice", CHILD_NICE)))
    started = time.monotonic()
    try:
        report = build_snapshot(request)
    except Exception:
        log.exception("the child build of the index of %s failed", request.get("team_id"))
        return 1
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report.update(
        started_at=ready,
        build_s=round(time.monotonic() - started, 3),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 3),
        peak_rss_mb=round(usage.ru_maxrss / 1024),
        model_modules=[m for m in _MODEL_MODULES if m in sys.modules],
    )
    log.info(
        "child build of the index of %s: %s in %.1f s (CPU %.1f s, imports %.1f s, "
        "peak RSS %d MB)",
        request.get("team_id"), report.get("directory") or report.get("reason"),
        report["build_s"], report["cpu_s"], report.get("imports_s", 0.0), report["peak_rss_mb"],
    )  # fmt: skip
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    # No interpreter tear-down: freeing the index's millions of objects one by one took a
    # second at 10,000 helpers, and the worker waits for the exit.
    os._exit(code)
