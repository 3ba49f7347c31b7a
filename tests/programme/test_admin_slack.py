"""Programme admins in Slack, through the emulator: the App Home section, settings that take
effect on the next ask, helper management (the helper is told), forged admin actions refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from peerbot.domain.ports import Embedder
from peerbot.slack import admin_blocks as ab
from peerbot.slack.profile_blocks import build_profile_modal
from tests.fixtures.app import Harness, make_harness

FEEDBACK = "giving hard feedback to senior engineers who miss deadlines and get defensive"


@pytest.fixture
def h(engine: Engine, db_url: str, real_embedder: Embedder) -> Iterator[Harness]:
    """The app with a dashboard address (so admins get the dashboard button)."""
    yield from make_harness(
        engine, db_url, real_embedder, admin_base_url="https://peerbot.example.com"
    )


def _home(h: Harness, user: str) -> dict[str, Any]:
    assert h.driver.app_home_opened(user).status == 200
    h.settle()
    view = h.emulator.home_view(user)
    assert view is not None
    return view


def test_admin_settings_helpers_and_forgeries(h: Harness) -> None:
    hana = h.add_helper("hana", FEEDBACK)
    hugo = h.add_helper("hugo", FEEDBACK + " in a remote team")
    ada = h.add_user("ada", is_admin=True)
    sam = h.add_user("sam")

    # the admin sees the programme section; a member does not
    home = _home(h, ada)
    text = json.dumps(home)
    assert "Programme (admins only)" in text
    assert "This month at a glance" in text
    assert ab.ADMIN_DASHBOARD in text and ab.ADMIN_SETTINGS in text
    assert "Programme (admins only)" not in json.dumps(_home(h, sam))

    # the admin opens Programme settings
    assert h.driver.block_action(ada, ab.ADMIN_SETTINGS, view_id=home["id"]).status == 200
    h.settle()
    modal = h.emulator.top_modal(ada)
    assert modal is not None and modal["callback_id"] == ab.ADMIN_SETTINGS_CALLBACK

    # a member's forged submission of the admin's modal changes nothing
    forged = h.driver.view_submission(
        sam, modal["id"], {("ps_parallel_offers", "value"): "2"}, apply_response=False
    )
    assert forged.status == 200
    assert forged.body["response_action"] == "errors"
    deps_admin = _programme_admin(h)
    assert deps_admin.settings(h.team)["parallel_offers"] == 1

    # bad input is answered at its field
    bad = h.driver.view_submission(
        ada, modal["id"], {("ps_max_offers_per_ask", "value"): "eleven"}, apply_response=False
    )
    assert bad.body == {
        "response_action": "errors",
        "errors": {"ps_max_offers_per_ask": "Please enter a whole number."},
    }

    # the admin asks two helpers at once: the next ask goes to both
    ok = h.driver.view_submission(ada, modal["id"], {("ps_parallel_offers", "value"): "2"})
    assert ok.status == 200
    h.settle()
    assert deps_admin.settings(h.team)["parallel_offers"] == 2
    log = deps_admin.audit(h.team, ada)
    assert [(c.key, c.old, c.new, c.by) for c in log] == [("parallel_offers", 1, 2, ada)]

    h.ask(sam, "How do I give hard feedback to a senior engineer who keeps missing deadlines?")
    assert h.dms(hana) and h.dms(hugo), "with PARALLEL 2 both helpers are asked at once"

    # a member's forged helper action is refused: hugo is not removed, nobody is told
    home = _home(h, ada)
    r = h.driver.block_action(
        sam, ab.ADMIN_HELPER, view_id=home["id"], block_id=f"helper_{hugo}", value=f"remove:{hugo}"
    )
    assert r.status == 200
    h.settle()
    assert not any("removed you" in t for t in h.texts(hugo))
    states = {row.user_id: row.state for row in deps_admin.view.helpers(h.team)}
    assert states[hugo] == "active"

    # the admin pauses hana: she is told, and the list says so
    r = h.driver.block_action(
        ada, ab.ADMIN_HELPER, view_id=home["id"], block_id=f"helper_{hana}", value=f"pause:{hana}"
    )
    assert r.status == 200
    h.settle()
    assert any("paused your helper profile" in t for t in h.texts(hana))
    states = {row.user_id: row.state for row in deps_admin.view.helpers(h.team)}
    assert states[hana] == "paused"
    assert f"<@{hana}> · paused" in json.dumps(h.emulator.home_view(ada), ensure_ascii=False)


def _programme_admin(h: Harness) -> Any:
    from peerbot.app import build_programme_admin

    return build_programme_admin(h.container, http_mode=True)


def test_helper_approval_and_invitations(h: Harness) -> None:
    from peerbot.domain.profiles import ProfileInput

    ada = h.add_user("ada", is_admin=True)
    sam = h.add_user("sam")
    admin = _programme_admin(h)

    # the admin asks for approval of new helpers
    home = _home(h, ada)
    h.driver.block_action(ada, ab.ADMIN_SETTINGS, view_id=home["id"])
    h.settle()
    modal = h.emulator.top_modal(ada)
    assert modal is not None
    r = h.driver.view_submission(ada, modal["id"], {("ps_helper_approval", "value"): "admin"})
    assert r.status == 200
    assert admin.settings(h.team)["helper_approval"] == "admin"

    # a new sign-up waits: not offered anything until approved
    nina = h.add_user("nina")
    h.container.helpers.save(h.team, nina, ProfileInput(opted_in=True, expertise=FEEDBACK))
    states = {row.user_id: row.state for row in admin.view.helpers(h.team)}
    assert states[nina] == "awaiting approval"
    # her App Home says she waits for approval (not "Become a helper", as if she had not
    # signed up), and her profile dialog keeps her yes
    waiting = json.dumps(_home(h, nina))
    assert "waiting for the people who run the programme to approve" in waiting
    assert "Become a helper" not in waiting
    profile = h.container.helpers.profile(h.team, nina)
    assert profile is not None and profile.awaiting_approval
    opt_in = build_profile_modal(profile)["blocks"][0]["element"]
    assert [o["value"] for o in opt_in.get("initial_options", [])] == ["yes"]
    h.ask(sam, "How do I give hard feedback to a senior engineer who keeps missing deadlines?")
    assert not [m for m in h.dms(nina) if "Accept" in json.dumps(m)]

    # the admin approves her; she is told, and the next ask may reach her
    home = _home(h, ada)
    r = h.driver.block_action(
        ada, ab.ADMIN_HELPER, view_id=home["id"], block_id=f"helper_{nina}", value=f"approve:{nina}"
    )
    assert r.status == 200
    h.settle()
    assert any("approved you as a helper" in t for t in h.texts(nina))
    states = {row.user_id: row.state for row in admin.view.helpers(h.team)}
    assert states[nina] == "active"
    assert "available, helping 0 of 2" in json.dumps(_home(h, nina))

    # Invite helpers on a supply gap: the invited person gets the consent DM
    home = _home(h, ada)
    gap = next(
        b for b in home["blocks"] if (b.get("accessory") or {}).get("action_id") == ab.ADMIN_INVITE
    )
    r = h.driver.block_action(ada, ab.ADMIN_INVITE, view_id=home["id"], block_id=gap["block_id"])
    assert r.status == 200
    h.settle()
    invite = h.emulator.top_modal(ada)
    assert invite is not None and invite["callback_id"] == ab.ADMIN_INVITE_CALLBACK
    ivy = h.add_user("ivy")
    r = h.driver.view_submission(ada, invite["id"], {ab.INVITE_USERS: [ivy]})
    assert r.status == 200
    assert r.body["response_action"] == "update"
    h.settle()
    assert any("Yes, I'll help" in json.dumps(m) for m in h.dms(ivy))
