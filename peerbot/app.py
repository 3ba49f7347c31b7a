"""Composition root: Settings → engine → embedder → services → Bolt app.

Nothing here holds business rules; it only builds and wires.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from peerbot.clock import SystemClock
from peerbot.config import Settings
from peerbot.domain.ports import Clock, Embedder
from peerbot.slack.deps import Deps
from peerbot.slack.listeners import register_listeners
from peerbot.store.db import create_engine_for, session_factory
from peerbot.store.migrate import ensure_migrated

log = logging.getLogger(__name__)

USER_ERROR_TEXT = (
    "Sorry, something went wrong on our side and nothing was saved. Please try again in a "
    "minute; if it keeps happening, tell the people who run the peer-help programme."
)


@dataclass
class Container:
    """The process's long-lived objects."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    embedder: Embedder | None


def build_container(
    settings: Settings,
    *,
    clock: Clock | None = None,
    embedder: Embedder | None = None,
    load_model: bool = True,
    engine: Engine | None = None,
) -> Container:
    """Create the engine (checking the schema is migrated) and, unless given, load the model."""
    engine = engine or create_engine_for(settings.database_url)
    ensure_migrated(engine)
    if embedder is None and load_model:
        from peerbot.embeddings import load_embedder

        embedder = load_embedder(settings.embedding_model_path)
    return Container(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        clock=clock or SystemClock(),
        embedder=embedder,
    )


def build_web_client(settings: Settings) -> WebClient:
    """A WebClient on ``SLACK_API_URL`` that waits out 429s as Slack asks."""
    client = WebClient(
        token=settings.secret("SLACK_BOT_TOKEN"),
        base_url=settings.slack_api_url,
        timeout=15,
    )
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    return client


def create_bolt_app(container: Container, *, http_mode: bool) -> App:
    """Build the Bolt app with every listener and the global error handler.

    In HTTP mode every request must carry a valid Slack signature (checked by Bolt's request
    verification against ``SLACK_SIGNING_SECRET``, including the 5-minute timestamp window).
    """
    settings = container.settings
    kwargs: dict[str, Any] = {}
    if http_mode:
        kwargs["signing_secret"] = settings.secret("SLACK_SIGNING_SECRET")
    else:
        kwargs["signing_secret"] = ""
        kwargs["request_verification_enabled"] = False
    app = App(
        client=build_web_client(settings),
        token_verification_enabled=False,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
        **kwargs,
    )
    deps = Deps(settings=settings, clock=container.clock)

    @app.error
    def on_error(error: Exception, body: dict[str, Any], logger: logging.Logger) -> BoltResponse:
        log.exception("unhandled error in a listener", exc_info=error)
        return BoltResponse(status=500, body="")

    register_listeners(app, deps)
    return app
