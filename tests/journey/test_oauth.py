"""OAuth for many workspaces, end to end: "Add to Slack" through Bolt's OAuth flow against the
emulator, a bot token per workspace (and one for an Enterprise Grid organisation's org-wide
install), isolation both ways, uninstall, refusal of workspaces with no installation, and token
rotation with a token that expires mid-run."""

from __future__ import annotations

import html
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from peerbot.app import Container, build_container, create_bolt_app
from peerbot.clock import FrozenClock
from peerbot.concurrency import CountingExecutor
from peerbot.config import Settings
from peerbot.domain.ports import Embedder
from peerbot.sandbox import SlackDriver, SlackEmulator
from peerbot.slack.installs import NOT_INSTALLED_TEXT
from peerbot.store.db import unit_of_work
from peerbot.store.installations import BOTS_TABLE, SLACK_METADATA
from peerbot.store.models import Ask, Offer, OutboxMessage, Person, Workspace
from peerbot.web.server import HttpServer, PeerbotWSGI
from tests.fixtures.app import SIGNING_SECRET, START, Harness

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "oauth-test-secret"

FEEDBACK = (
    "Gave hard feedback to senior engineers many times; coached people through performance "
    "problems and difficult conversations about behaviour."
)
HIRING = "Built three teams from scratch: hiring pipelines, interviewing, closing candidates."
QUESTION = (
    "I need to tell a senior engineer that their behaviour in code reviews is hurting the team, "
    "and I have never given feedback this hard."
)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _get(url: str, cookie: str = "") -> tuple[int, dict[str, str], str]:
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with opener.open(request, timeout=10) as resp:
            return resp.status, dict(resp.headers.items()), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read().decode()


@dataclass
class World:
    """One peerbot in OAuth mode, the emulator with several workspaces, and a harness each."""

    emulator: SlackEmulator
    server: HttpServer
    container: Container
    clock: FrozenClock
    executor: CountingExecutor
    teams: dict[str, Harness] = field(default_factory=dict)

    def harness(self, team_id: str) -> Harness:
        view = self.emulator.team(team_id)
        driver = SlackDriver(self.server.url + "/slack/events", SIGNING_SECRET, view)
        h = Harness(view, driver, self.container, self.clock, self.executor)
        self.teams[team_id] = h
        return h

    def install(self, *, team: str | None = None, enterprise: str | None = None) -> None:
        """Add to Slack: the install page, Slack's approval, the redirect back with the state
        cookie, exactly as a browser would follow them."""
        status, headers, page = _get(self.server.url + "/slack/install")
        assert status == 200, page
        cookie = headers["Set-Cookie"].split(";")[0]
        link = re.search(r'href="([^"]*oauth/v2/authorize[^"]*)"', page)
        assert link is not None, page
        url = html.unescape(link.group(1))
        url += f"&enterprise={enterprise}" if enterprise else f"&team={team}"
        status, headers, _ = _get(url)
        assert status == 302
        status, _, page = _get(headers["Location"], cookie)
        assert status == 200, page
        assert "Thank you!" in page or "successfully" in page.lower(), page

    def token_of(self, team_id: str) -> str:
        token = self.emulator.team(team_id).bot_token
        assert token
        return token


def make_world(engine: Engine, db_url: str, embedder: Embedder, **oauth: Any) -> Iterator[World]:
    emulator = SlackEmulator(trigger_ttl=None).start()
    emulator.add_team("TACME0001", "Acme")
    emulator.add_team("TBETA0002", "Beta")
    emulator.add_team("TGRIDA003", "Grid A", enterprise_id="EORG00001")
    emulator.add_team("TGRIDB004", "Grid B", enterprise_id="EORG00001")
    emulator.add_team("TNONE0005", "Never installed")
    clock = FrozenClock(START)
    config = Settings(
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=emulator.api_url,
        database_url=db_url,
    )
    container = build_container(config, clock=clock, embedder=embedder, engine=engine)
    executor = CountingExecutor()
    bolt = create_bolt_app(container, http_mode=True, listener_executor=executor)
    server = HttpServer(PeerbotWSGI(bolt, container.engine, signing_secret=SIGNING_SECRET))
    server.start()
    emulator.enable_oauth(
        CLIENT_ID, CLIENT_SECRET, redirect_uri=server.url + "/slack/oauth_redirect", **oauth
    )
    try:
        yield World(emulator, server, container, clock, executor)
    finally:
        server.stop()
        executor.shutdown(wait=True)
        emulator.stop()


@pytest.fixture
def world(engine: Engine, db_url: str, real_embedder: Embedder) -> Iterator[World]:
    yield from make_world(engine, db_url, real_embedder)


@pytest.fixture
def rotating_world(engine: Engine, db_url: str, real_embedder: Embedder) -> Iterator[World]:
    yield from make_world(engine, db_url, real_embedder, rotation=True, expires_in=43200)


def _posts_to(world: World, team_id: str) -> list[Any]:
    """The chat.postMessage calls that landed in ``team_id``'s conversations."""
    ws = world.emulator._teams[team_id]
    return [
        c
        for c in world.emulator.calls_to("chat.postMessage")
        if c.ok and c.response.get("channel") in ws.conversations
    ]


def _told_not_installed(world: World, since: int) -> bool:
    """The person was told (through the command's response_url) that nothing was done."""
    return any(
        c.method == "response_url" and c.args.get("text") == NOT_INSTALLED_TEXT
        for c in world.emulator.calls[since:]
    )


def test_two_workspaces_and_an_org_each_served_with_its_own_token_and_nothing_crosses(
    world: World,
) -> None:
    world.install(team="TACME0001")
    world.install(team="TBETA0002")
    world.install(enterprise="EORG00001")
    acme, beta, grid_a, grid_b = (
        world.harness(t) for t in ("TACME0001", "TBETA0002", "TGRIDA003", "TGRIDB004")
    )
    tokens = {t: world.token_of(t) for t in ("TACME0001", "TBETA0002", "TGRIDA003")}
    assert len(set(tokens.values())) == 3  # one per workspace; the org's serves all of it
    assert world.token_of("TGRIDB004") == tokens["TGRIDA003"]
    assert grid_a.emulator.org_wide

    # The best helper for this question works at Acme; Beta only has a hiring expert, and in the
    # organisation only Grid B has a feedback expert.
    fiona = acme.add_helper("fiona", FEEDBACK)
    harry = beta.add_helper("harry", HIRING)
    # Slack names a workspace's organisation on its requests: Grid B's first one records it.
    greg = grid_b.add_user("greg")
    assert grid_b.driver.app_home_opened(greg).status == 200
    grid_b.settle()
    assert grid_b.emulator.home_view(greg) is not None
    gwen = grid_b.add_helper("gwen", FEEDBACK)
    alex = acme.add_user("alex")
    bea = beta.add_user("bea")
    gus = grid_a.add_user("gus")

    marks = {"TACME0001": "ACME-AAA", "TBETA0002": "BETA-BBB", "TGRIDA003": "GRID-CCC"}
    for h, asker in ((acme, alex), (beta, bea), (grid_a, gus)):
        r = h.ask(asker, f"{QUESTION} Ref {marks[h.team]}.")
        assert r.status == 200, r

    def seen_by(h: Harness, user: str) -> set[str]:
        return {m for m in marks.values() for t in h.texts(user) if m in t}

    # Each question reached a helper of its own workspace only, even where the best match for
    # it works in another workspace (Acme's Fiona for Beta's question), and even between two
    # workspaces of one organisation (Grid A's question never reaches Grid B's Gwen).
    assert seen_by(acme, fiona) == {"ACME-AAA"}
    assert seen_by(beta, harry) <= {"BETA-BBB"}
    assert seen_by(grid_b, gwen) == set()
    assert seen_by(acme, alex) == {"ACME-AAA"}
    assert seen_by(beta, bea) == {"BETA-BBB"}
    assert seen_by(grid_a, gus) == {"GRID-CCC"}

    # Every message went out with the token of the workspace it was posted in.
    for team, token in (("TACME0001", tokens["TACME0001"]), ("TBETA0002", tokens["TBETA0002"])):
        posts = _posts_to(world, team)
        assert posts
        assert {c.token for c in posts} == {token}
    assert {c.token for c in _posts_to(world, "TGRIDA003")} == {tokens["TGRIDA003"]}

    with unit_of_work(world.container.sessions) as s:
        # enterprise_id written where Slack gave it, and only there
        orgs = dict(s.execute(select(Workspace.team_id, Workspace.enterprise_id)).all())
        assert orgs["TGRIDA003"] == orgs["TGRIDB004"] == "EORG00001"
        assert orgs["TACME0001"] is None
        assert orgs["TBETA0002"] is None
        assert "TNONE0005" not in orgs
        # the outbox and the asks: each row in its own workspace, naming its own people
        people = {(p.team_id, p.id): p.slack_user_id for p in s.scalars(select(Person))}
        for ask in s.scalars(select(Ask)):
            assert (ask.team_id, ask.asker_id) in people
        for offer in s.scalars(select(Offer)):
            assert (offer.team_id, offer.helper_id) in people
        team_users = {
            t: set(world.emulator._teams[t].users)
            for t in ("TACME0001", "TBETA0002", "TGRIDA003", "TGRIDB004")
        }
        for msg in s.scalars(select(OutboxMessage)):
            named = {v for v in str(msg.payload).replace('"', " ").split() if v[:1] == "U"}
            assert named <= team_users[msg.team_id] | {""}, (msg.team_id, named)


def test_uninstall_removes_one_workspace_and_leaves_the_other_alone(world: World) -> None:
    world.install(team="TACME0001")
    world.install(team="TBETA0002")
    acme, beta = world.harness("TACME0001"), world.harness("TBETA0002")
    acme.add_helper("fiona", FEEDBACK)
    beta_helper = beta.add_helper("fred", FEEDBACK)
    alex, bea = acme.add_user("alex"), beta.add_user("bea")

    beta_token = world.token_of("TBETA0002")
    world.emulator.uninstall(beta_token)
    r = beta.driver.event({"type": "app_uninstalled"})
    assert r.status == 200
    beta_table = SLACK_METADATA.tables[BOTS_TABLE]
    with world.container.engine.connect() as conn:
        remaining = set(conn.execute(select(beta_table.c.team_id)).scalars())
    assert remaining == {"TACME0001"}
    with unit_of_work(world.container.sessions) as s:
        ws = s.get(Workspace, "TBETA0002")
        assert ws is not None
        assert ws.sending_paused_reason == "app_uninstalled"

    # Beta is refused, with a message that says so, and nothing is recorded or sent there.
    before = len(world.emulator.calls)
    r = beta.driver.slash_command("/peerhelp", bea, "help")
    assert r.status == 200
    assert _told_not_installed(world, before)
    assert beta.emulator.top_modal(bea) is None
    assert [c for c in world.emulator.calls[before:] if c.token == beta_token] == []

    # Acme goes on as before.
    acme.ask(alex, QUESTION)
    assert any("code reviews" in t for t in acme.texts(acme.users["fiona"]))
    assert beta.dms(beta_helper) == []


def test_a_workspace_that_never_installed_is_refused(world: World) -> None:
    world.install(team="TACME0001")
    none = world.harness("TNONE0005")
    user = none.emulator.add_user("nina")
    before = len(world.emulator.calls)
    r = none.driver.slash_command("/peerhelp", user, "help")
    assert r.status == 200
    assert _told_not_installed(world, before)
    assert none.emulator.top_modal(user) is None
    with unit_of_work(world.container.sessions) as s:
        assert s.get(Workspace, "TNONE0005") is None


def test_a_rotating_token_that_expires_mid_run_is_refreshed_before_the_tick_uses_it(
    rotating_world: World,
) -> None:
    world = rotating_world
    world.install(team="TACME0001")
    acme = world.harness("TACME0001")
    first = world.token_of("TACME0001")
    assert first.startswith("xoxe.xoxb-")
    fiona = acme.add_helper("fiona", FEEDBACK)
    frank = acme.add_helper("frank", FEEDBACK)
    alex = acme.add_user("alex")
    acme.ask(alex, QUESTION)
    _offered, other = acme.first_offered(fiona, frank)

    # The token expires: Slack refuses it from now on, and the store says it is past its time.
    world.emulator.expire_token(first)
    bots = SLACK_METADATA.tables[BOTS_TABLE]
    with world.container.engine.begin() as conn:
        conn.execute(update(bots).values(bot_token_expires_at=START.replace(tzinfo=None)))

    # The offer times out; the tick (no request, no Bolt) offers the ask to the other helper.
    acme.advance(timedelta(days=2))
    assert any("code reviews" in t for t in acme.texts(other))
    refreshes = [c for c in world.emulator.calls_to("oauth.v2.access") if c.args.get("grant_type")]
    assert len(refreshes) == 1
    assert refreshes[0].ok
    second = world.token_of("TACME0001")
    assert second != first
    assert [c for c in world.emulator.calls if c.error == "token_expired"] == []
    assert {c.token for c in _posts_to(world, "TACME0001") if c.at >= refreshes[0].at} == {second}
