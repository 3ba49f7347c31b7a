"""Exactly once across crashes: a separate sending process is SIGKILLed mid-way through 1,000
due check-ins, once inside the window between Slack's answer and the commit that records it and
once wherever it happens to be, and restarted; every check-in reaches Slack exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from peerbot.sandbox import SlackEmulator
from peerbot.slack.delivery import outbox_tag
from peerbot.store.db import create_engine_for, session_factory
from peerbot.store.models import OutboxMessage, OutboxStatus
from tests.outbox.helpers import (
    add_users,
    challenge_in,
    checkin_text,
    posted_texts,
    seed_checkins,
    statuses,
    stored_texts,
)

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 1000
FIRST_KILL_AT = 437  # posts before the first kill (inside the window)
SECOND_KILL_AT = 700  # posts before the second kill (anywhere)
CLAIM_SECONDS = 60


def _start(db_url: str, emulator: SlackEmulator, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.outbox.sender_proc"]
    command += [db_url, emulator.api_url, emulator.bot_token]
    command += ["--claim-seconds", str(CLAIM_SECONDS), *extra]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _ok_posts(emulator: SlackEmulator) -> int:
    return sum(1 for c in emulator.calls_to("chat.postMessage") if c.ok)


def _wait_until(what: str, cond: object, proc: subprocess.Popen[str], timeout: float) -> None:
    assert callable(cond)
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"sender exited ({proc.returncode}) before {what}:\n{out}\n{err[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    if proc.stdout:
        proc.stdout.close()
    if proc.stderr:
        proc.stderr.close()


def test_killed_sender_restarted_sends_every_checkin_exactly_once(
    db_url: str, slack_emulator: SlackEmulator, tmp_path: Path
) -> None:
    users = add_users(slack_emulator, 100)
    engine = create_engine_for(db_url)
    sessions = session_factory(engine)
    try:
        seed_checkins(sessions, slack_emulator.team_id, users, TOTAL, datetime.now(UTC))

        # 1. Killed inside the window: Slack has post #437, the database does not know it.
        hold = tmp_path / "held.json"
        first = _start(
            db_url, slack_emulator, "--hold-after", str(FIRST_KILL_AT), "--hold-file", str(hold)
        )
        _wait_until("the held post", hold.exists, first, timeout=60)
        _kill(first)
        assert _ok_posts(slack_emulator) == FIRST_KILL_AT
        held_text = json.loads(hold.read_text())["text"]
        with Session(engine) as session:
            in_doubt = session.scalars(
                select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENDING)
            ).all()
        # Claimed one at a time: the crash leaves exactly the one in-flight message in doubt.
        assert len(in_doubt) == 1
        held_n = int(challenge_in(held_text).split("#")[1].split(":")[0])
        assert in_doubt[0].idempotency_key == f"checkin:{held_n}"
        assert in_doubt[0].unconfirmed_since is not None
        assert statuses(engine)["sent"] == FIRST_KILL_AT - 1

        # 2. Restarted after the claim expired, with a widened window; killed wherever it is.
        second = _start(
            db_url,
            slack_emulator,
            "--offset-seconds", str(CLAIM_SECONDS + 1),
            "--window-ms", "3",
        )  # fmt: skip
        _wait_until(
            f"{SECOND_KILL_AT} posts",
            lambda: _ok_posts(slack_emulator) >= SECOND_KILL_AT,
            second,
            timeout=60,
        )
        _kill(second)

        # 3. Restarted again; runs to the end.
        third = _start(db_url, slack_emulator, "--offset-seconds", str(2 * (CLAIM_SECONDS + 1)))
        out, err = third.communicate(timeout=120)
        assert third.returncode == 0, err[-3000:]
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["dead"] == 0

        # Every check-in posted exactly once, by calls and in Slack's state.
        expected = {checkin_text(n): 1 for n in range(TOTAL)}
        assert dict(posted_texts(slack_emulator)) == expected
        assert dict(stored_texts(slack_emulator, users)) == expected
        assert statuses(engine) == {"sent": TOTAL}

        # The held post was confirmed from the channel's history, not posted again: its row
        # has the ts of the post the killed process made.
        held_call = next(
            c
            for c in slack_emulator.calls_to("chat.postMessage")
            if c.ok and c.args.get("text") == held_text
        )
        assert held_call.args["metadata"]["event_payload"]["key"] == outbox_tag(
            in_doubt[0].idempotency_key
        )
        with Session(engine) as session:
            row = session.scalar(select(OutboxMessage).where(OutboxMessage.id == in_doubt[0].id))
            assert row is not None
            answer = held_call.response
            assert row.result == {"channel": answer["channel"], "ts": answer["ts"]}
            assert row.unconfirmed_since is None
        history = slack_emulator.calls_to("conversations.history")
        assert any(c.ok and c.args["channel"] == held_call.response["channel"] for c in history), (
            "the recovery path (history check) was not exercised"
        )
        # Only messages in doubt were checked (one per kill at most), not every message.
        assert 1 <= len(history) <= 2
    finally:
        engine.dispose()
