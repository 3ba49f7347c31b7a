"""HTTP mode: signatures, the 5-minute window, health, url_verification, redelivered events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from peerbot.domain.ports import Embedder
from peerbot.services.metrics import MetricsService
from tests.fixtures.app import Harness, make_harness

METRICS_TOKEN = "metrics-token-for-tests"


@pytest.fixture
def metrics_harness(engine: Engine, db_url: str, real_embedder: Embedder) -> Iterator[Harness]:
    """The app with ``METRICS_TOKEN`` set, so that ``/metrics`` answers a bearer of the token."""
    yield from make_harness(engine, db_url, real_embedder, metrics_token=METRICS_TOKEN)


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()


@pytest.mark.one_database  # the request is refused or answered before any database work
def test_wrong_signature_is_refused(harness: Harness) -> None:
    user = harness.add_user("alex")
    r = harness.driver.tampered().slash_command("/peerhelp", user, "hi")
    assert r.status == 401
    harness.settle()
    assert harness.emulator.calls_to("views.open") == []


@pytest.mark.one_database  # the request is refused or answered before any database work
def test_stale_timestamp_is_refused(harness: Harness) -> None:
    user = harness.add_user("alex")
    r = harness.driver.stale().slash_command("/peerhelp", user, "hi")
    assert r.status == 401
    r = harness.driver.unsigned().slash_command("/peerhelp", user, "hi")
    assert r.status == 401
    harness.settle()
    assert harness.emulator.calls_to("views.open") == []


def test_fresh_signed_request_is_accepted(harness: Harness) -> None:
    user = harness.add_user("alex")
    assert harness.driver.slash_command("/peerhelp", user, "hi").status == 200


@pytest.mark.one_database  # the request is refused or answered before any database work
def test_url_verification_echoes_the_challenge(harness: Harness) -> None:
    r = harness.driver.url_verification("abc123")
    assert r.status == 200
    body: Any = r.body
    assert body == {"challenge": "abc123"} or body == "abc123"


def test_health(harness: Harness) -> None:
    import json
    import urllib.request

    url = harness.driver.url.rsplit("/slack/events", 1)[0] + "/healthz"
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {"status": "ok", "database": "ok"}


def test_redelivered_event_is_handled_once(harness: Harness) -> None:
    user = harness.add_user("alex")
    event = {
        "type": "app_home_opened",
        "user": user,
        "channel": harness.emulator.ensure_dm(user),
        "tab": "home",
    }
    envelope = harness.driver.event_envelope(event, "Ev0001")
    assert harness.driver.send_envelope(envelope).status == 200
    harness.settle()
    assert harness.driver.send_envelope(envelope, retry_num=1).status == 200
    harness.settle()
    assert len(harness.emulator.calls_to("views.publish")) == 1
    # A different event id is a new event.
    assert harness.driver.event(event, event_id="Ev0002").status == 200
    harness.settle()
    assert len(harness.emulator.calls_to("views.publish")) == 2


def test_processed_event_ids_are_forgotten_after_three_days(harness: Harness) -> None:
    from datetime import timedelta

    user = harness.add_user("alex")
    event = {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"}
    envelope = harness.driver.event_envelope(event, "EvOld")
    harness.driver.send_envelope(envelope)
    harness.settle()
    harness.advance(timedelta(days=3, minutes=1))  # the tick forgets old ids
    harness.driver.send_envelope(envelope, retry_num=1)
    harness.settle()
    assert len(harness.emulator.calls_to("views.publish")) == 2


def test_metrics_are_not_served_without_a_token_configured(harness: Harness) -> None:
    """Off by default: the Slack port does not show counts to anyone who asks."""
    url = harness.driver.url.rsplit("/slack/events", 1)[0] + "/metrics"
    assert _get(url)[0] == 404
    assert _get(url, "anything")[0] == 404


def test_metrics_need_the_bearer_token(metrics_harness: Harness) -> None:
    url = metrics_harness.driver.url.rsplit("/slack/events", 1)[0] + "/metrics"
    assert _get(url)[0] == 401
    assert _get(url, "wrong-token")[0] == 401
    assert _get(url, METRICS_TOKEN[:-1])[0] == 401
    status, text = _get(url, METRICS_TOKEN)
    assert status == 200
    assert "# TYPE peerbot_asks gauge" in text


def test_metrics_count_from_the_database(metrics_harness: Harness) -> None:
    harness = metrics_harness
    helper = harness.add_helper("fiona", "Gave hard feedback to senior engineers many times.")
    harness.emulator.delete_user(helper)  # its offer DM will fail: a dead letter
    harness.ask(harness.add_user("alex"), "How do I give hard feedback about behaviour at work?")
    url = harness.driver.url.rsplit("/slack/events", 1)[0] + "/metrics"
    status, text = _get(url, METRICS_TOKEN)
    assert status == 200
    assert 'peerbot_asks{status="unmet"} 1' in text
    assert 'peerbot_offers{status="skipped"} 1' in text
    assert 'peerbot_outbox_messages{status="dead"} 1' in text
    assert "# TYPE peerbot_pairs gauge" in text
    assert text == (
        "# HELP peerbot_outbox_messages Outbox messages by status (dead = dead letters).\n"
        "# TYPE peerbot_outbox_messages gauge\n"
        'peerbot_outbox_messages{status="dead"} 1\n'
        # the receipt, its update once the ask ended (no Edit or Withdraw), the unmet message
        'peerbot_outbox_messages{status="sent"} 3\n'
        "# HELP peerbot_asks Asks by status (unmet = supply gap).\n"
        "# TYPE peerbot_asks gauge\n"
        'peerbot_asks{status="unmet"} 1\n'
        "# HELP peerbot_offers Offers by status.\n"
        "# TYPE peerbot_offers gauge\n"
        'peerbot_offers{status="skipped"} 1\n'
        "# HELP peerbot_pairs Pairs by status.\n"
        "# TYPE peerbot_pairs gauge\n"
        "# HELP peerbot_workspaces_sending_paused Workspaces where Slack refuses the app's "
        "token, by Slack's error (nothing is sent there until it is fixed).\n"
        "# TYPE peerbot_workspaces_sending_paused gauge\n"
    )
    # The service counts by status value in status order, as the query in the web layer did.
    counts = MetricsService(harness.container.engine).counts()
    assert counts.asks == {"unmet": 1}
    assert counts.offers == {"skipped": 1}
    assert counts.pairs == {}
    assert counts.outbox == {"dead": 1, "sent": 3}


def test_metrics_text_is_prometheus_exposition() -> None:
    """The web layer only formats: HELP and TYPE per gauge, one sample per status, in order."""
    from peerbot.services.metrics import DeploymentCounts
    from peerbot.web.server import prometheus_text

    counts = DeploymentCounts(
        outbox={"dead": 1, "sent": 4},
        asks={"unmet": 1},
        offers={},
        pairs={"active": 2, "closed": 3},
        paused_workspaces={"invalid_auth": 1},
    )
    assert prometheus_text(counts) == (
        "# HELP peerbot_outbox_messages Outbox messages by status (dead = dead letters).\n"
        "# TYPE peerbot_outbox_messages gauge\n"
        'peerbot_outbox_messages{status="dead"} 1\n'
        'peerbot_outbox_messages{status="sent"} 4\n'
        "# HELP peerbot_asks Asks by status (unmet = supply gap).\n"
        "# TYPE peerbot_asks gauge\n"
        'peerbot_asks{status="unmet"} 1\n'
        "# HELP peerbot_offers Offers by status.\n"
        "# TYPE peerbot_offers gauge\n"
        "# HELP peerbot_pairs Pairs by status.\n"
        "# TYPE peerbot_pairs gauge\n"
        'peerbot_pairs{status="active"} 2\n'
        'peerbot_pairs{status="closed"} 3\n'
        "# HELP peerbot_workspaces_sending_paused Workspaces where Slack refuses the app's "
        "token, by Slack's error (nothing is sent there until it is fixed).\n"
        "# TYPE peerbot_workspaces_sending_paused gauge\n"
        'peerbot_workspaces_sending_paused{reason="invalid_auth"} 1\n'
    )
