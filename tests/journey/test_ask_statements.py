"""How many SQL statements one ask costs, from the modal's submission to the offer DM sent.

Each statement is a round trip to the database (on PostgreSQL about a millisecond, beside the
ranking's few): an N+1 added anywhere on the ask's path shows here as a failure, on both
databases. ``PEERBOT_SHOW_STATEMENTS=1`` prints them grouped by where they come from.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.fixtures.app import Harness
from tests.journey.test_ask_accept import seed_helpers


@contextmanager
def statements(h: Harness) -> Iterator[list[tuple[str, str, str]]]:
    """Record every statement sent on the app's engine: (origin, thread, SQL)."""
    seen: list[tuple[str, str, str]] = []
    lock = threading.Lock()

    def origin() -> str:
        frames = [
            f
            for f in traceback.extract_stack()[:-2]
            if "/peerbot/" in f.filename and "/peerbot/store/db.py" not in f.filename
        ]
        return " < ".join(
            f"{f.filename.rsplit('/peerbot/', 1)[1]}:{f.name}" for f in reversed(frames[-3:])
        )

    def before(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        with lock:
            seen.append((origin(), threading.current_thread().name, " ".join(sql.split())))

    def begin(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # no transaction: the driver sends no BEGIN (nor a ROLLBACK after)
        with lock:
            seen.append((origin(), threading.current_thread().name, "BEGIN (implicit)"))

    def commit(conn: Any) -> None:
        with lock:
            seen.append((origin(), threading.current_thread().name, "COMMIT"))

    engine = h.container.engine
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "begin", begin)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "begin", begin)
        event.remove(engine, "commit", commit)


def show(seen: list[tuple[str, str, str]]) -> str:
    """The statements grouped by origin, most frequent first."""
    by = Counter((o, s[:110]) for o, _, s in seen)
    return "\n".join(f"{n:3d}  {s}\n       @ {o}" for (o, s), n in by.most_common())


def one_ask(h: Harness, asker: str, text: str) -> list[tuple[str, str, str]]:
    view_id = h.open_intake(asker)
    with statements(h) as seen:
        r = h.driver.view_submission(asker, view_id, {("challenge", "challenge_input"): text})
        assert r.status == 200
        h.settle()
    if os.environ.get("PEERBOT_SHOW_STATEMENTS"):
        print(f"\n{len(seen)} statements\n" + show(seen))
        print("\n".join(f"{t[:12]:12} {s[:90]}  @ {o[:80]}" for o, t, s in seen))
    return seen


#: Statements (BEGIN/COMMIT included) of one ask from the submission to the last message
#: marked sent, as measured when the budget was set (64 on SQLite, 51 on PostgreSQL, the ask
#: of a first-time asker), plus a little room. Each extra statement per helper (an N+1)
#: exceeds it: the workspace has 15 helpers. A BEGIN the driver does not send (a read without
#: a transaction, ``AUTOCOMMIT``) is not counted.
BUDGET = {"sqlite": 66, "postgresql": 53}


def test_one_ask_stays_within_its_statement_budget(harness: Harness, db_backend: str) -> None:
    helpers = seed_helpers(harness)
    for n in range(12):
        harness.add_helper(f"extra{n}", f"Ran a platform team of {n + 4}; budgets and vendors.")
    # A first ask warms what is cached per process (the index, settings).
    one_ask(harness, harness.add_user("ann"), "How do I hire my first engineering manager?")
    asker = harness.add_user("alex")
    seen = one_ask(
        harness,
        asker,
        "I need to give hard feedback to a senior engineer about their code reviews.",
    )
    # The offer went out (the count is of a whole ask, not of one that failed half-way).
    assert any("offer_accept" in str(m.get("blocks")) for m in harness.dms(helpers["feedback"]))
    assert any("asking the best-matched peers" in str(m) for m in harness.dms(asker))
    assert len(seen) <= BUDGET[db_backend], f"{len(seen)} statements:\n{show(seen)}"
