"""The admin dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Skips only when Chromium or Playwright is truly absent and CI is not set; under ``CI=true``
their absence is a failure. No browser is ever downloaded.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from peerbot.cli import main
from peerbot.config import env_flag
from peerbot.programme_app import AdminParts, admin_web, login_url
from peerbot.services.admins import AdminPolicy, AdminSignIn
from peerbot.services.programme import ProgrammeView
from peerbot.store.models import (
    AskStatus,
    CheckinAnswer,
    FeedbackRole,
    OfferStatus,
    Outcome,
    PairStatus,
    Person,
)
from peerbot.web.admin import PAGES
from peerbot.web.server import HttpServer
from tests.fixtures.app import Harness
from tests.programme.history import TEAM, Builder, build_history


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if env_flag("CI"):
            pytest.fail("chromium is not installed (scripts/setup installs Debian's chromium)")
        pytest.skip(
            "chromium is not installed: run scripts/setup as root, or apt-get install chromium"
        )
    return path


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium from the system package."""
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if env_flag("CI"):
            pytest.fail("playwright is not installed (pip install -e '.[dev]')")
        pytest.skip("playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"], headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def dashboard(harness: Harness, engine: Engine) -> Iterator[tuple[AdminParts, str, str, str]]:
    """The history, an admin and a plain member in the emulator, and the dashboard served."""
    with Session(engine) as session:
        build_history(session)
        b = Builder(session, TEAM)
        b.people["H7"] = session.scalars(
            select(Person).where(Person.team_id == TEAM, Person.slack_user_id == "H7")
        ).one()
        b.helper("H_EVIL", ["conflict"]).display_name = '=HYPERLINK("x")'
        for i in range(5):  # five more askers: their check-ins and outcomes can be shown
            b.person(f"B{i}")
            ask = b.ask(
                f"B{i}", "feedback", AskStatus.PAIRED, datetime(2026, 11, 16, 9, tzinfo=UTC)
            )
            b.offer(ask, "H7", OfferStatus.ACCEPTED)
            pair = b.pair(ask, "H7", 3, PairStatus.ACTIVE)
            b.checkin(pair, 17, CheckinAnswer.DONE)
            b.feedback(pair, FeedbackRole.ASKER, 4, Outcome.RESOLVED, 18)
        session.commit()
    admin = harness.emulator.add_user("ada.admin", is_admin=True)
    plain = harness.emulator.add_user("pat.plain")
    c = harness.container
    parts = AdminParts(
        policy=AdminPolicy(c.gateway, frozenset(), from_slack=True),
        signin=AdminSignIn(c.sessions, c.clock, b"k" * 32),
        view=ProgrammeView(c.sessions, c.clock),
        base_url=None,
    )
    server = HttpServer(admin_web(parts)).start()
    try:
        yield (
            AdminParts(parts.policy, parts.signin, parts.view, server.url),
            server.url,
            admin,
            plain,
        )
    finally:
        server.stop()


@pytest.mark.one_database  # the browser's side; the figures on both: test_figures, test_report_cli
def test_the_dashboard_in_chromium(
    dashboard: tuple[AdminParts, str, str, str],
    browser: Any,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    parts, base, admin, plain = dashboard
    page = browser.new_page(accept_downloads=True)

    # refused without a link, with a forged one, and as a non-admin
    assert page.goto(f"{base}/admin/").status == 401
    assert page.goto(f"{base}/admin/login?token=forged.token").status == 403
    plain_link = login_url(parts, parts.signin.issue_link_token(TEAM, plain)[0])
    assert plain_link is not None
    response = page.goto(plain_link)
    assert response.status == 403
    assert "Programme admins only" in page.content()
    assert page.goto(f"{base}/admin/").status == 401

    # sign in with a one-time link: it works once
    link = login_url(parts, parts.signin.issue_link_token(TEAM, admin)[0])
    assert link is not None
    assert page.goto(link).status == 200
    assert page.url.rstrip("/").endswith("/admin")
    cards = {
        el.get_attribute("data-figure"): el.inner_text()
        for el in page.query_selector_all("[data-figure]")
    }
    other = browser.new_page()
    assert other.goto(link).status == 403  # used
    other.close()

    # the overview's numbers equal `peerbot report --json`
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["report", "--team", TEAM, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert cards["asks"] == str(report["asks"]) == "18"
    assert cards["intros"] == str(report["intros"])
    assert cards["unmet"] == str(report["unmet"])
    assert cards["median_hours_to_intro"] == f"{report['median_hours_to_intro']:.3g}"
    for key in ("match_rate", "acceptance_rate", "checkin_completion"):
        assert cards[key] == f"{round(report[key] * 100)}%", key
    assert cards["mean_rating"] == f"{report['mean_rating']:.3g}"

    # every page opens, with its charts drawn from data
    for path, title, charts, _tables in PAGES:
        response = page.goto(f"{base}/admin{path}")
        assert response.status == 200, path
        assert page.locator("h1").first.inner_text() == title
        for source, _ in charts:
            bars = page.locator(f"svg#chart-{source} rect.bar")
            assert bars.count() > 0, (path, source)
            widths = [float(bars.nth(i).get_attribute("width")) for i in range(bars.count())]
            assert max(widths) > 10, (path, source)
            box = page.locator(f"svg#chart-{source}").bounding_box()
            assert box is not None and box["height"] > 0
        if path == "/circles":
            assert "No circles yet." in page.content()
        assert "Zorblax" not in page.content()
        assert "Name A" not in page.content()
        page.screenshot(path=str(tmp_path / f"admin{path.replace('/', '_') or '_'}.png"))
    shots = sorted(p.name for p in tmp_path.glob("admin*.png"))
    assert len(shots) == len(PAGES)

    # a CSV downloads, with formula-looking cells neutralised
    page.goto(f"{base}/admin/helpers")
    with page.expect_download() as info:
        page.locator('a.csv[href*="/csv/helpers.csv"]').click()
    saved = tmp_path / "helpers.csv"
    info.value.save_as(saved)
    text = saved.read_text()
    assert text.splitlines()[0] == "helper,state,capacity,active pairs,near capacity"
    assert "'=HYPERLINK" in text
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text

    # signed out, the pages refuse again
    page.context.clear_cookies()
    assert page.goto(f"{base}/admin/topics").status == 401
