"""Test-wide configuration. Fixtures live in tests/fixtures/ and are loaded as plugins."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# The model must never be fetched from a hub, in tests or anywhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Under pytest-xdist the workers already keep every core busy: torch's and the BLAS's own
# threads (one per core each, by default) only contend with the other worker; their spinning
# made embedding the routing data take half as much CPU again and 1.6x the wall time. A share
# of the cores each (read by torch and OpenBLAS when first imported; inherited by the processes
# tests start).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _share)))

# The host's state directory (where PostgreSQL's index snapshots go by default) is a fresh one
# per test process, removed at exit: tests never write to the user's ~/.local/state.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="peerbot-test-state-")
atexit.register(shutil.rmtree, os.environ["XDG_STATE_HOME"], True)

pytest_plugins = [
    "tests.fixtures.shared",
    "tests.fixtures.db",
    "tests.fixtures.slack",
    "tests.fixtures.app",
]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root() -> Path:
    """The checkout's top level."""
    return ROOT


#: Tests that take tens of seconds each (a real-model process started, a workload of a thousand
#: messages), by node id prefix, longest first. pytest-xdist (``--dist loadgroup``) hands out the
#: grouped tests first, then the others in collection order: these go to the front of the others,
#: so that no long test starts last and runs alone while the other worker waits.
SLOW_FIRST = (
    "tests/outbox/test_crash.py",
    "tests/journey/test_workers.py",
    "tests/app/test_http_serve.py",
    "tests/matching/test_bench.py",
    "tests/app/test_cli.py::test_the_first_command_without_tokens",
)


def _slow_rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(SLOW_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(SLOW_FIRST)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the :data:`SLOW_FIRST` tests first (a stable sort: the rest keep their order), and
    make ``--dist loadgroup`` honour the ``xdist_group`` marks again.

    pytest-xdist 3.8 groups tests by appending ``@group`` to ``item._nodeid``; pytest 9 keeps
    the id in ``item._id``, so the suffix never appeared and every group was spread over the
    workers (the routing data embedded on both, the fuzz requests drawn twice)."""
    items.sort(key=_slow_rank)
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodes import coerce_node_id

    for item in items:
        names = sorted(
            {
                str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                for m in item.iter_markers("xdist_group")
            }
        )
        if names and "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(names)}")  # type: ignore[attr-defined]
