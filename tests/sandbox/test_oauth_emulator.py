"""The emulator's OAuth: the install redirect, ``oauth.v2.access`` (code and refresh token),
``auth.test`` per token, and several workspaces each with its own bot token."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from peerbot.sandbox import SlackEmulator


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    e = SlackEmulator().start()
    e.add_team("TONE", "One")
    e.add_team("TTWO", "Two", enterprise_id="EORG")
    e.enable_oauth("cid", "secret", rotation=True, expires_in=600, redirect_uri="http://app/cb")
    try:
        yield e
    finally:
        e.stop()


def _code(emu: SlackEmulator, query: str) -> str:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: object, **k: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(emu.authorize_url() + "?client_id=cid&state=S1&" + query)
    assert info.value.code == 302
    location = info.value.headers["Location"]
    assert location.startswith("http://app/cb?")
    q = parse_qs(urlsplit(location).query)
    assert q["state"] == ["S1"]
    return q["code"][0]


def test_install_exchange_refresh_and_expiry(emu: SlackEmulator) -> None:
    api = WebClient(base_url=emu.api_url)
    code = _code(emu, "team=TONE")
    with pytest.raises(SlackApiError) as bad:
        api.oauth_v2_access(client_id="cid", client_secret="wrong", code=code)
    assert bad.value.response["error"] == "bad_client_secret"
    got = api.oauth_v2_access(client_id="cid", client_secret="secret", code=code)
    assert got["team"]["id"] == "TONE"
    assert got["expires_in"] == 600
    token = got["access_token"]
    with pytest.raises(SlackApiError) as reused:
        api.oauth_v2_access(client_id="cid", client_secret="secret", code=code)
    assert reused.value.response["error"] == "invalid_code"
    assert WebClient(token=token, base_url=emu.api_url).auth_test()["team_id"] == "TONE"

    emu.expire_token(token)
    with pytest.raises(SlackApiError) as expired:
        WebClient(token=token, base_url=emu.api_url).auth_test()
    assert expired.value.response["error"] == "token_expired"
    fresh = api.oauth_v2_access(
        client_id="cid",
        client_secret="secret",
        grant_type="refresh_token",
        refresh_token=got["refresh_token"],
    )
    assert fresh["access_token"] != token
    assert WebClient(token=fresh["access_token"], base_url=emu.api_url).auth_test()["ok"]


def test_each_workspace_sees_only_its_own_people(emu: SlackEmulator) -> None:
    api = WebClient(base_url=emu.api_url)
    one = api.oauth_v2_access(client_id="cid", client_secret="secret", code=_code(emu, "team=TONE"))
    org = api.oauth_v2_access(
        client_id="cid", client_secret="secret", code=_code(emu, "enterprise=EORG")
    )
    assert org["is_enterprise_install"] is True
    assert org["enterprise"]["id"] == "EORG"
    ada = emu.team("TONE").add_user("ada")
    bob = emu.team("TTWO").add_user("bob")
    c_one = WebClient(token=one["access_token"], base_url=emu.api_url)
    c_org = WebClient(token=org["access_token"], base_url=emu.api_url)
    assert c_one.users_info(user=ada)["user"]["id"] == ada
    with pytest.raises(SlackApiError):
        c_one.users_info(user=bob)
    assert c_org.users_info(user=bob)["user"]["team_id"] == "TTWO"
    with pytest.raises(SlackApiError):
        c_org.users_info(user=ada)
    assert c_org.auth_test()["enterprise_id"] == "EORG"
    assert emu.team("TTWO").org_wide
