"""Settings are read in one place: `Settings` and the idle probe see the same values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from peerbot.config import ConfigError, load_settings
from peerbot.config_env import read_env
from peerbot.scheduling import idle_probe

PEERBOT = Path(__file__).resolve().parents[2] / "peerbot"

#: The modules that may read the process environment (settings; process-level switches).
READERS = {"config.py", "config_env.py"}


def _settings_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dotenv: str) -> None:
    for name in idle_probe.READS:
        for variant in (name, name.upper()):
            monkeypatch.delenv(variant, raising=False)
    (tmp_path / ".env").write_text(dotenv, encoding="utf-8")
    monkeypatch.chdir(tmp_path)


def test_settings_and_the_probe_read_the_same_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings_in(
        tmp_path,
        monkeypatch,
        "DATABASE_URL=sqlite:///from-dotenv.db\nRETENTION_DAYS=100\n"
        'ranker_weights={"lexical": 0.8}\n',
    )
    monkeypatch.setenv("Retention_Days", "200")  # the environment wins, in any case
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    settings = load_settings()
    probe = idle_probe.read_env()
    assert settings.retention_days == 200 and probe["retention_days"] == "200"
    assert settings.database_url == probe["database_url"] == "sqlite:///from-dotenv.db"
    assert settings.ranker_weights == {"lexical": 0.8}  # JSON still decoded for a dict
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == probe["slack_bot_token"]
    assert set(probe) <= idle_probe.READS  # the probe reads its names only


def test_a_setting_set_twice_in_different_cases_stops_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings_in(tmp_path, monkeypatch, "")
    monkeypatch.setenv("RETENTION_DAYS", "100")
    monkeypatch.setenv("retention_days", "200")
    with pytest.raises(ConfigError, match="RETENTION_DAYS is set twice"):
        load_settings()
    with pytest.raises(idle_probe.Unknown):
        idle_probe.read_env()
    # The same value twice is no doubt; a variable that is not a setting is not read.
    monkeypatch.setenv("retention_days", "100")
    monkeypatch.setenv("peerbot_test_other", "a")
    monkeypatch.setenv("PEERBOT_TEST_OTHER", "b")
    assert load_settings().retention_days == 100
    assert "peerbot_test_other" not in read_env(["retention_days"])


def test_nothing_else_reads_the_environment() -> None:
    """DESIGN 3.6: one typed Settings object; no environment reads elsewhere."""
    reads = re.compile(r"os\.environ|os\.getenv|getenv\(")
    offenders = [
        str(path.relative_to(PEERBOT))
        for path in PEERBOT.rglob("*.py")
        if path.name not in READERS or path.parent != PEERBOT
        if reads.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
