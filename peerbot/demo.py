"""`peerbot sandbox`: the real app against the Slack emulator, in a generated demo workspace.

It plays one whole journey (ask → offer → pass → offer → accept → intro) through signed HTTP
requests, exactly as Slack would send them, then a simulated week with the clock moved forward
and the scheduler's tick run as it would run every minute: a commitment, "did you meet?", a
check-in answered "stuck", the helper's nudge, and the close-out with a rating and a thank-you.
It prints the conversation as a transcript. Nothing leaves this machine.
"""

from __future__ import annotations

import re
import secrets
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from peerbot.app import Container, build_container, create_bolt_app
from peerbot.clock import FrozenClock
from peerbot.concurrency import CountingExecutor
from peerbot.config import Settings
from peerbot.demo_data import ASKS, demo_helpers
from peerbot.domain.ports import Embedder
from peerbot.domain.profiles import ProfileInput
from peerbot.sandbox import SlackDriver, SlackEmulator
from peerbot.scheduling.jobs import run_due
from peerbot.store.db import unit_of_work
from peerbot.store.migrate import upgrade
from peerbot.web.server import HttpServer, PeerbotWSGI

DEMO_START = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # a Monday, 09:00 in Los Angeles
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
WIDTH = 92
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")


def _flatten(blocks: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for b in blocks:
        kind = b.get("type")
        if kind in ("section", "header"):
            lines.append(b["text"]["text"])
            if b.get("accessory", {}).get("type") == "button":
                lines.append(f"[ {b['accessory']['text']['text']} ]")
        elif kind == "context":
            lines.append("  ".join(e.get("text", "") for e in b.get("elements", [])))
        elif kind == "actions":
            lines.append(
                "  ".join(
                    f"[ {e['text']['text']} ]" if "text" in e else "[ … ]" for e in b["elements"]
                )
            )
        elif kind == "input":
            lines.append(f"▸ {b['label']['text']}")
        elif kind == "divider":
            lines.append("─" * 20)
    return lines


class Transcript:
    """Turns the emulator's recorded calls into readable lines."""

    def __init__(self, emulator: SlackEmulator, out: TextIO) -> None:
        self._emu = emulator
        self._out = out
        self._seen = 0
        self.names: dict[str, str] = {}

    def _name(self, uid: str) -> str:
        return self.names.get(uid, uid)

    def _where(self, channel: str) -> str:
        conv = self._emu.conversation(channel)
        members = [m for m in conv.get("members", []) if m != self._emu.bot_user_id]
        if not members and conv.get("user"):
            members = [conv["user"]]
        who = ", ".join(self._name(m) for m in members) or channel
        return f"group DM with {who}" if len(members) > 1 else f"DM with {who}"

    def _print(self, head: str, lines: list[str]) -> None:
        self._out.write(f"\n{head}\n")
        for raw in lines:
            line = _MENTION.sub(lambda m: "@" + self._name(m.group(1)), raw)
            for part in line.splitlines() or [""]:
                wrapped = textwrap.wrap(part, WIDTH - 4) or [""]
                for w in wrapped:
                    self._out.write(f"  │ {w}\n")

    def note(self, text: str) -> None:
        """Print a narrator's line (e.g. the clock moving on)."""
        self._out.write(f"\n{text}\n")

    def user(self, uid: str, what: str) -> None:
        """Print what a person did."""
        self._out.write(f"\n▶ {self._name(uid)} {what}\n")

    def flush(self) -> None:
        """Print the Slack calls made since the last flush."""
        calls = self._emu.calls
        for call in calls[self._seen :]:
            a = call.args
            if not call.ok:
                if call.method in ("chat.postMessage", "conversations.open"):
                    self._out.write(f"\n  (Slack refused {call.method}: {call.error})\n")
                continue
            if call.method == "chat.postMessage":
                channel = call.response.get("channel", a.get("channel", ""))
                head = f"peerbot → {self._where(channel)}"
                self._print(head, _flatten(a.get("blocks") or []) or [a.get("text", "")])
            elif call.method == "chat.update":
                head = f"peerbot updates its message in the {self._where(a['channel'])}"
                self._print(head, _flatten(a.get("blocks") or []) or [a.get("text", "")])
            elif call.method == "chat.postEphemeral":
                self._print(f"peerbot (only {self._name(a['user'])} sees this)", [a["text"]])
            elif call.method in ("views.open", "views.push"):
                view = a["view"]
                user = self._emu.view_user(call.response["view"]["id"]) or ""
                head = f"peerbot opens a dialog for {self._name(user)}: “{view['title']['text']}”"
                self._print(head, _flatten(view.get("blocks", [])))
        self._seen = len(calls)


def _settle(container: Container, executor: CountingExecutor, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        while executor.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        report = container.sender.drain()
        if report.handled == 0 and not executor.in_flight:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the demo did not settle")


def _offer_to(emu: SlackEmulator, helpers: list[str]) -> tuple[str, dict[str, Any]]:
    """The helper holding a live offer (a message with an Accept button), and that message."""
    for uid in helpers:
        for msg in emu.messages_to(uid):
            if "offer_accept" in str(msg.get("blocks")):
                return uid, msg
    raise RuntimeError("no helper was offered the ask")


def _find(emu: SlackEmulator, channel: str | None, action_id: str) -> dict[str, Any]:
    """The latest message in ``channel`` with a button ``action_id``."""
    if channel is None:
        raise RuntimeError("no such conversation")
    for msg in reversed(emu.messages(channel)):
        if f"'{action_id}'" in str(msg.get("blocks")):
            return msg
    raise RuntimeError(f"no {action_id} button in {channel}")


def run_demo(out: TextIO, embedder: Embedder | None = None, workdir: Path | None = None) -> int:
    """Play the demo journey and write its transcript to ``out``. Returns 0 on success."""
    tmp = tempfile.TemporaryDirectory(prefix="peerbot-sandbox-")
    base = workdir or Path(tmp.name)
    db_url = f"sqlite:///{base / 'sandbox.db'}"
    upgrade(db_url)
    secret = secrets.token_hex(16)
    emu = SlackEmulator(team_name="Acme (demo)", trigger_ttl=None).start()
    settings = Settings(
        slack_bot_token=emu.bot_token,
        slack_signing_secret=secret,
        slack_api_url=emu.api_url,
        database_url=db_url,
    )
    container = build_container(settings, clock=FrozenClock(DEMO_START), embedder=embedder)
    executor = CountingExecutor()
    bolt = create_bolt_app(container, http_mode=True, listener_executor=executor)
    server = HttpServer(PeerbotWSGI(bolt, container.engine, signing_secret=secret)).start()
    driver = SlackDriver(server.url + "/slack/events", secret, emu)
    t = Transcript(emu, out)
    try:
        out.write("peerbot sandbox: the real app, a Slack emulator on loopback, no network.\n")
        helpers: list[str] = []
        for h in demo_helpers():
            uid = emu.add_user(h.name, tz=h.tz, real_name=h.name.title())
            t.names[uid] = h.name.title()
            helpers.append(uid)
            with unit_of_work(container.sessions) as session:
                container.helpers.save_in(
                    session,
                    emu.team_id,
                    uid,
                    ProfileInput(opted_in=True, expertise=h.expertise, years_managing=h.years),
                    container.clock.now(),
                    container.gateway.user(emu.team_id, uid),
                )
        asker = emu.add_user("sam", tz="America/Los_Angeles", real_name="Sam")
        t.names[asker] = "Sam"
        out.write(f"Demo workspace: {len(helpers)} helpers with varied expertise, and Sam.\n")
        emu.clear_calls()

        challenge, desired, obstacles = ASKS[0]
        t.user(asker, f"types: /peerhelp {challenge[:60]}…")
        driver.slash_command("/peerhelp", asker, challenge)
        _settle(container, executor)
        t.flush()
        modal = emu.top_modal(asker)
        assert modal is not None
        t.user(asker, "fills in the result wanted and the obstacles, and presses “Find a peer”")
        driver.view_submission(
            asker,
            modal["id"],
            {
                ("challenge", "challenge_input"): challenge,
                ("desired_result", "desired_result_input"): desired,
                ("obstacles", "obstacles_input"): obstacles,
            },
        )
        _settle(container, executor)
        t.flush()

        first, offer = _offer_to(emu, helpers)
        t.user(first, "presses “Pass”")
        driver.block_action(
            first, "offer_pass", channel_id=emu.dm_channel(first), message_ts=offer["ts"]
        )
        _settle(container, executor)
        t.flush()
        dialog = emu.top_modal(first)
        assert dialog is not None
        t.user(first, "says why: “Travelling all week, sorry!” and presses “Pass”")
        driver.view_submission(
            first,
            dialog["id"],
            {("pass_reason", "pass_reason_input"): "Travelling all week, sorry!"},
        )
        _settle(container, executor)
        t.flush()

        second, offer = _offer_to(emu, [h for h in helpers if h != first])
        t.user(second, "presses “Accept”")
        driver.block_action(
            second, "offer_accept", channel_id=emu.dm_channel(second), message_ts=offer["ts"]
        )
        _settle(container, executor)
        t.flush()
        if emu.group_dm([asker, second]) is None:
            out.write("\nThe demo did not reach the introduction.\n")
            return 1
        out.write("\nSam and a peer who has faced the same thing are introduced.\n")
        _week(container, executor, emu, driver, t, asker, second)
        out.write("\nDone: Sam and a peer were introduced, met, and closed with a thank-you.\n")
        return 0
    finally:
        server.stop()
        executor.shutdown(wait=True)
        container.close()
        emu.stop()
        tmp.cleanup()


def _week(
    container: Container,
    executor: CountingExecutor,
    emu: SlackEmulator,
    driver: SlackDriver,
    t: Transcript,
    asker: str,
    helper: str,
) -> None:
    """The simulated week after the introduction, in Sam's time (Los Angeles)."""
    clock = container.clock
    assert isinstance(clock, FrozenClock)
    group = emu.group_dm([asker, helper])

    def click(user: str, channel: str | None, action_id: str, what: str) -> None:
        msg = _find(emu, channel, action_id)
        t.user(user, what)
        driver.block_action(user, action_id, channel_id=channel, message_ts=msg["ts"])
        _settle(container, executor)
        t.flush()

    def submit(user: str, values: dict[tuple[str, str], Any], what: str) -> None:
        modal = emu.top_modal(user)
        assert modal is not None
        t.user(user, what)
        driver.view_submission(user, modal["id"], values)
        _settle(container, executor)
        t.flush()

    def until(day: int, hour: int, minute: int = 0) -> None:
        """Move the clock to that time (Sam's) and run the tick there, as the scheduler would
        (what came due in between goes out now; nudges outside someone's working hours wait)."""
        target = DEMO_START + timedelta(days=day, hours=hour - 9, minutes=minute)
        label = (target.astimezone(LOS_ANGELES)).strftime("%A %d %B, %H:%M")
        t.note(f"⏩ The clock moves on to {label} (Sam's time); the tick runs.")
        clock.set(target)
        run_due(container.tick)
        _settle(container, executor)
        t.flush()

    click(
        asker,
        emu.dm_channel(asker),
        "pair_add_commitment",
        "presses “Add a commitment” on the “you are matched” message",
    )
    submit(
        asker,
        {("commitment_text", "commitment_text_input"): "Ask Priya what she needs from me"},
        "writes “Ask Priya what she needs from me” and saves it",
    )
    until(3, 11)  # Thursday: "did you meet?" to both, in their own mornings
    click(asker, emu.dm_channel(asker), "meet_yes", "presses “Yes, we met”")
    until(7, 10, 30)  # the next Monday: the weekly check-in
    click(asker, emu.dm_channel(asker), "checkin_answer_stuck", "answers the check-in: “Stuck”")
    click(
        asker,
        group,
        "pair_close",
        "a few days later, after a second talk, presses “Close this pairing”",
    )
    submit(
        asker,
        {
            ("close_outcome", "close_outcome_radio"): "resolved",
            ("close_rating", "close_rating_select"): "5",
            ("close_thanks", "close_thanks_input"): "Thank you, the idea of asking first worked.",
        },
        "says it is resolved, rates it 5 and writes a thank-you",
    )
