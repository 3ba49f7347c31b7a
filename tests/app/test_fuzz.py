"""Fuzz every kind of request peerbot accepts through the real HTTP stack.

Hypothesis generates slash commands, a click on every action id (with codec-valid, out-of-range
and garbage values), a submission of every modal (with any element state and metadata), the
events peerbot listens to (and some it does not), and url_verification; some are signed, some
are not, some carry a forged signature. They go over HTTP to waitress + PeerbotWSGI + Bolt with
the emulator as Slack. Every answer must be below 500 (unsigned ones exactly 401) and the log
must hold no ERROR line and no traceback. The figures are printed at the end.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peerbot.sandbox.driver import sign
from peerbot.slack import follow_ids, ids
from peerbot.slack.codec import MAX_ID, SnoozeChoice
from tests.fixtures.app import SIGNING_SECRET, Harness

BATCH = 25
EXAMPLES = int(os.environ.get("PEERBOT_FUZZ_BATCHES", "400"))  # 400 batches of 25: 10,000
WORKERS = 8

ACTION_IDS: tuple[str, ...] = (
    ids.HOME_ASK,
    ids.HOME_EDIT_PROFILE,
    ids.OFFER_ACCEPT,
    ids.OFFER_PASS,
    ids.PAIR_ADD_COMMITMENT,
    ids.PAIR_CLOSE,
    *(f"{ids.CHECKIN_ACTION}_{a}" for a in ids.CHECKIN_ANSWERS),
    ids.CHECKIN_CLOSE,
    ids.COMMITMENT_DONE,
    ids.PAIR_SNOOZE,
    ids.FEEDBACK_OPEN,
    ids.HELPER_CHECK_OK,
    ids.ASK_WITHDRAW,
    ids.ASK_EDIT,
    ids.PAIR_RESUME_CHECKINS,
    ids.HELPER_RESUME_NOW,
    *(f"{ids.HELPER_CHECK_ACTION}_{a}" for a in ids.HELPER_CHECK_ANSWERS),
    # Follow-through (issue 13)
    *follow_ids.MEET_ANSWERS,
    follow_ids.ANOTHER_PEER,
    follow_ids.HELPER_RESUME,
    follow_ids.ASK_WAIT,
    "not_an_action_of_ours",
)
#: Every modal's callback id with its (block_id, action_id) inputs, from ids.py.
VIEWS: dict[str, tuple[tuple[str, str], ...]] = {
    ids.INTAKE_CALLBACK: (
        ids.CHALLENGE,
        ids.DESIRED_RESULT,
        ids.OBSTACLES,
        ids.URGENCY,
        ids.ANONYMITY,
    ),
    ids.PASS_CALLBACK: (ids.PASS_REASON,),
    ids.ASK_EDIT_CALLBACK: (ids.CHALLENGE, ids.DESIRED_RESULT, ids.OBSTACLES),
    ids.PROFILE_CALLBACK: (
        ids.PROFILE_OPT_IN,
        ids.PROFILE_EXPERTISE,
        ids.PROFILE_TOPICS,
        ids.PROFILE_OTHER_TOPICS,
        ids.PROFILE_YEARS,
        ids.PROFILE_FUNCTION,
        ids.PROFILE_CAPACITY,
        ids.PROFILE_PAUSE,
        ids.PROFILE_NEVER,
    ),
    ids.COMMITMENT_CALLBACK: (ids.COMMITMENT_TEXT, ids.COMMITMENT_DUE),
    ids.CLOSE_CALLBACK: (
        ids.CLOSE_OUTCOME,
        ids.CLOSE_RATING,
        ids.CLOSE_THANKS,
        ids.CLOSE_REFLECTION,
    ),
    "not_a_view_of_ours": (("b", "a"),),
}


@dataclass(frozen=True)
class World:
    """Ids that exist in the emulator and the database, for payloads that reach deep."""

    team: str
    users: tuple[str, ...]
    row_ids: tuple[int, ...]


@dataclass(frozen=True)
class Request:
    """One generated request: kind, body, content type and how it is signed."""

    kind: str
    body: bytes
    content_type: str
    signing: str  # "signed", "unsigned" or "forged"


@dataclass
class Tally:
    """What the fuzzer saw."""

    tried: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[tuple[int, Request]] = field(default_factory=list)
    unsigned_not_401: list[tuple[int, Request]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


# --------------------------------------------------------------------------- strategies

json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_any = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
short_text = st.text(max_size=60)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the well-formed value, sometimes nothing or any JSON at all."""
    return st.one_of(strategy, strategy, strategy, st.none(), json_any)


def _row_id(world: World) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(world.row_ids).map(str),
        st.integers(min_value=-5, max_value=MAX_ID + 5).map(str),
        st.just(str(2**63)),
        short_text,
    )


def _button_value(world: World, action_id: str) -> st.SearchStrategy[Any]:
    if action_id == ids.PAIR_SNOOZE:
        choices = st.sampled_from([c.value for c in SnoozeChoice]) | short_text
        return st.builds(lambda p, c: f"{p}:{c}", _row_id(world), choices) | short_text
    return _row_id(world)


def _user(world: World) -> st.SearchStrategy[str]:
    """A real user: a signed request names the person Slack says it is."""
    return st.sampled_from(world.users)


def _element_state(world: World) -> st.SearchStrategy[dict[str, Any]]:
    option = st.fixed_dictionaries({"value": _maybe(short_text)})
    return st.one_of(
        st.fixed_dictionaries({"type": st.just("plain_text_input"), "value": _maybe(short_text)}),
        st.fixed_dictionaries(
            {"type": st.just("static_select"), "selected_option": _maybe(option)}
        ),
        st.fixed_dictionaries(
            {"type": st.just("radio_buttons"), "selected_option": _maybe(option)}
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("checkboxes"),
                "selected_options": _maybe(st.lists(option, max_size=3)),
            }
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("multi_static_select"),
                "selected_options": _maybe(st.lists(option, max_size=3)),
            }
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("datepicker"),
                "selected_date": _maybe(st.dates().map(str) | short_text),
            }
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("multi_users_select"),
                "selected_users": _maybe(st.lists(_user(world), max_size=3)),
            }
        ),
        st.fixed_dictionaries({"type": st.just("number_input"), "value": _maybe(short_text)}),
        json_any.map(lambda v: {"type": "odd", "value": v}),
    )


def _base(world: World, kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "type": st.just(kind),
            "user": st.fixed_dictionaries({"id": _user(world), "team_id": st.just(world.team)}),
            "team": st.fixed_dictionaries({"id": st.just(world.team)}),
            "api_app_id": st.just("A0FUZZ"),
            "token": st.just("t"),
            "trigger_id": st.just("VALID"),
        }
    )


def slash_commands(world: World) -> st.SearchStrategy[tuple[str, bytes, str]]:
    fields = st.fixed_dictionaries(
        {
            "command": st.just(ids.COMMAND) | st.just("/other") | short_text,
            "text": short_text,
            "user_id": _user(world),
            "team_id": st.just(world.team),
            "channel_id": st.just("D0FUZZ") | short_text,
            "trigger_id": st.just("VALID"),
            "response_url": st.just("") | short_text,
        },
        optional={"user_name": short_text, "enterprise_id": short_text},
    )
    return fields.map(
        lambda f: ("command", urlencode(f).encode(), "application/x-www-form-urlencoded")
    )


def _interaction(kind: str, payload: dict[str, Any]) -> tuple[str, bytes, str]:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return kind, body, "application/x-www-form-urlencoded"


def block_actions(world: World) -> st.SearchStrategy[tuple[str, bytes, str]]:
    def one(action_id: str) -> st.SearchStrategy[dict[str, Any]]:
        action = st.fixed_dictionaries(
            {
                "action_id": st.just(action_id),
                "block_id": short_text,
                "type": st.sampled_from(["button", "overflow", "static_select"]),
                "value": _maybe(_button_value(world, action_id)),
                "selected_option": _maybe(
                    st.fixed_dictionaries({"value": _button_value(world, action_id)})
                ),
            }
        )
        container = st.one_of(
            st.fixed_dictionaries(
                {
                    "type": st.just("message"),
                    "channel_id": st.just("D0FUZZ"),
                    "message_ts": st.just("1.000001"),
                }
            ),
            st.fixed_dictionaries({"type": st.just("view"), "view_id": short_text}),
            json_any,
        )
        return st.builds(
            lambda base, a, c, ch, url: {
                **base,
                "actions": [a],
                "container": c,
                "channel": ch,
                "response_url": url,
            },
            _base(world, "block_actions"),
            action,
            container,
            _maybe(st.fixed_dictionaries({"id": st.just("D0FUZZ") | short_text})),
            _maybe(short_text),
        )

    # one strategy per action id, built once: a ``flatmap`` would build one for every draw
    return st.one_of([one(a) for a in ACTION_IDS]).map(lambda p: _interaction("block_actions", p))


def view_submissions(world: World) -> st.SearchStrategy[tuple[str, bytes, str]]:
    def one(callback: str) -> st.SearchStrategy[dict[str, Any]]:
        inputs = VIEWS[callback]
        values = st.fixed_dictionaries(
            {},
            optional={
                block: st.fixed_dictionaries({action: _element_state(world)})
                for block, action in inputs
            },
        )
        view = st.fixed_dictionaries(
            {
                "id": st.just("V0FUZZ"),
                "callback_id": st.just(callback),
                "private_metadata": _maybe(_row_id(world)),
                "state": _maybe(st.fixed_dictionaries({"values": _maybe(values)})),
                "type": st.just("modal"),
            }
        )
        return st.builds(lambda base, v: {**base, "view": v}, _base(world, "view_submission"), view)

    kinds = st.one_of([one(callback) for callback in sorted(VIEWS)])
    return kinds.map(lambda p: _interaction("view_submission", p))


def events(world: World) -> st.SearchStrategy[tuple[str, bytes, str]]:
    home = st.fixed_dictionaries(
        {
            "type": st.just("app_home_opened"),
            "user": _maybe(_user(world)),
            "tab": _maybe(st.sampled_from(["home", "messages"]) | short_text),
            "channel": st.just("D0FUZZ"),
        }
    )
    profile = st.fixed_dictionaries(
        {
            "id": _maybe(_user(world)),
            "team_id": st.just(world.team),
            "deleted": _maybe(st.booleans()),
            "tz": _maybe(st.sampled_from(["Europe/Paris", "America/Los_Angeles"]) | short_text),
            "tz_offset": _maybe(st.integers()),
            "real_name": _maybe(short_text),
            "is_bot": _maybe(st.booleans()),
            "profile": _maybe(
                st.fixed_dictionaries({"email": _maybe(short_text), "title": _maybe(short_text)})
            ),
        }
    )
    change = st.fixed_dictionaries({"type": st.just("user_change"), "user": _maybe(profile)})
    other = st.fixed_dictionaries(
        {"type": st.sampled_from(["message", "team_join", "app_mention"]) | short_text}
    )
    envelope = st.builds(
        lambda ev, eid, team: {
            "type": "event_callback",
            "team_id": team,
            "api_app_id": "A0FUZZ",
            "event": ev,
            "event_id": eid,
            "event_time": 1,
            "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}],
        },
        st.one_of(home, change, other, json_any),
        _maybe(st.text(min_size=1, max_size=12)),
        st.just(world.team) | short_text,
    )
    verification = st.builds(
        lambda c: {"type": "url_verification", "token": "t", "challenge": c}, _maybe(short_text)
    )
    return st.one_of(envelope, verification).map(
        lambda e: ("event", json.dumps(e).encode(), "application/json")
    )


def garbage() -> st.SearchStrategy[tuple[str, bytes, str]]:
    content_types = st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain"]
    )
    bodies = st.one_of(
        st.binary(max_size=200),
        json_any.map(lambda v: json.dumps(v).encode()),
        json_any.map(lambda v: urlencode({"payload": json.dumps(v)}).encode()),
        st.text(max_size=60).map(lambda t: ("payload=" + t).encode()),
    )
    return st.tuples(st.just("garbage"), bodies, content_types)


def requests(world: World) -> st.SearchStrategy[Request]:
    kinds = st.one_of(
        slash_commands(world),
        block_actions(world),
        view_submissions(world),
        events(world),
        garbage(),
    )
    signing = st.sampled_from(["signed", "signed", "signed", "unsigned", "forged"])
    return st.builds(lambda k, s: Request(k[0], k[1], k[2], s), kinds, signing)


# --------------------------------------------------------------------------- sending


class Sender:
    """Keep-alive HTTP connections, one per thread, to the app under test."""

    def __init__(self, harness: Harness, users: dict[str, str]) -> None:
        parts = urlsplit(harness.driver.url)
        assert parts.hostname is not None and parts.port is not None
        self._host, self._port, self._path = parts.hostname, parts.port, parts.path
        self._harness = harness
        self._users = {stand_in.encode(): real.encode() for stand_in, real in users.items()}
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=30)
            self._local.conn = conn
        return conn

    def send(self, req: Request) -> int:
        """POST one request; answer the HTTP status."""
        body = req.body
        for stand_in, real in self._users.items():  # the users of this run
            body = body.replace(stand_in, real)
        if b"VALID" in body:  # a trigger id Slack would really give
            trigger = self._harness.emulator.new_trigger_id(self._harness.users["asker"])
            body = body.replace(b"VALID", trigger.encode())
        headers = {"Content-Type": req.content_type}
        if req.signing != "unsigned":
            ts = str(int(time.time()))
            secret = SIGNING_SECRET if req.signing == "signed" else "forged-secret"
            headers["X-Slack-Request-Timestamp"] = ts
            headers["X-Slack-Signature"] = sign(secret, ts, body)
        for attempt in range(2):
            conn = self._conn()
            try:
                conn.request("POST", self._path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self._local.conn = None
                return int(resp.status)
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


# --------------------------------------------------------------------------- the test


def _world(harness: Harness) -> World:
    """A workspace with an asker, a helper, an offer, a pair and a commitment or two."""
    helper = harness.add_helper("helper", "Gave hard feedback to senior engineers many times.")
    asker = harness.add_user("asker")
    harness.ask(asker, "How do I give hard feedback about behaviour at work?")
    offer = next(m for m in harness.dms(helper) if m.get("blocks"))
    harness.click(helper, offer, ids.OFFER_ACCEPT)
    return World(harness.team, (asker, helper, harness.add_user("stranger")), (1, 2, 3))


#: Stand-ins for the three users in the drawn requests (the emulator makes new user ids each run);
#: :class:`Sender` puts the run's real ids in. So the same requests go to every database.
STAND_INS = ("UFUZZASKER0", "UFUZZHELPER", "UFUZZSTRNGR")


@functools.cache
def drawn_batches(team: str, row_ids: tuple[int, ...]) -> tuple[tuple[Request, ...], ...]:
    """``EXAMPLES`` batches of ``BATCH`` requests, drawn by Hypothesis (derandomized, so the
    same every run) once per process and sent to each database in turn."""
    world = World(team, STAND_INS, row_ids)
    batches: list[tuple[Request, ...]] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(requests(world), min_size=BATCH, max_size=BATCH))
    def draw(reqs: list[Request]) -> None:
        batches.append(tuple(reqs))

    draw()
    return tuple(batches)


@pytest.mark.xdist_group("fuzz")  # both databases in one process: the requests are drawn once
def test_fuzz_every_request_kind(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    world = _world(harness)
    batches = drawn_batches(world.team, world.row_ids)
    sender = Sender(harness, dict(zip(STAND_INS, world.users, strict=True)))
    tally = Tally()
    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="fuzz")

    def one(req: Request) -> None:
        status = sender.send(req)
        with tally.lock:
            tally.tried += 1
            tally.by_kind[f"{req.kind}/{req.signing}"] += 1
            tally.statuses[status] += 1
            if status >= 500:
                tally.server_errors.append((status, req))
            if req.signing != "signed" and status != 401:
                tally.unsigned_not_401.append((status, req))

    started = time.monotonic()
    try:
        for reqs in batches:
            list(pool.map(one, reqs))
            harness.wait_for_listeners(timeout=60)  # let the listeners finish before the next batch
        harness.settle(timeout=60)
    finally:
        pool.shutdown(wait=True)
    elapsed = time.monotonic() - started
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    print(
        f"\nfuzz: {tally.tried} payloads in {elapsed:.0f} s; "
        f"5xx answers: {len(tally.server_errors)}; "
        f"unsigned or forged not answered 401: {len(tally.unsigned_not_401)}; "
        f"ERROR lines or tracebacks in the log: {len(tracebacks)}\n"
        f"  statuses: {dict(sorted(tally.statuses.items()))}\n"
        f"  kinds: {dict(sorted(tally.by_kind.items()))}"
    )
    assert tally.tried >= EXAMPLES * BATCH
    assert tally.server_errors == [], [(s, r.body[:200]) for s, r in tally.server_errors[:3]]
    assert tally.unsigned_not_401 == [], [
        (s, r.signing, r.body[:80]) for s, r in tally.unsigned_not_401[:3]
    ]
    assert tracebacks == [], [
        (r.getMessage(), logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
        for r in tracebacks[:5]
    ]
