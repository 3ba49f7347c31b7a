"""Composition root: Settings → engine → embedder → services → Bolt app → workers.

Nothing here holds business rules; it only builds and wires.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from peerbot.clock import SystemClock
from peerbot.config import Settings
from peerbot.domain.ports import Clock, Embedder
from peerbot.scheduling.jobs import Tick
from peerbot.scheduling.worker import OutboxWorker
from peerbot.services.asks import AskService, MatchPolicy
from peerbot.services.circles import CirclePolicy, CircleService
from peerbot.services.dedupe import Deduper
from peerbot.services.digest import DigestLedger
from peerbot.services.helpers import HelperService
from peerbot.services.index_snapshot import SnapshotStore, snapshot_store
from peerbot.services.installations import InstallationService
from peerbot.services.journey import JourneyService
from peerbot.services.learning import RankerLearning
from peerbot.services.matching import IndexedMatcher, Matcher
from peerbot.services.outbox import FailureHandler, OutboxSender, SentHandler
from peerbot.services.pairs import PairService
from peerbot.services.privacy import PrivacyService
from peerbot.services.programme import ProgrammeView
from peerbot.services.programme_admin import ProgrammeAdmin
from peerbot.services.programme_settings import defaults_from, match_policy
from peerbot.slack.channels import SlackChannels
from peerbot.slack.delivery import SlackDeliverer
from peerbot.slack.deps import Deps
from peerbot.slack.digest import DigestSender
from peerbot.slack.gateway import SlackGateway, WebApi
from peerbot.store.db import create_engine_for, session_factory
from peerbot.store.migrate import ensure_migrated
from peerbot.store.notice_facts import facts_reader
from peerbot.store.outbox import wake_on_commit

if TYPE_CHECKING:  # Bolt is imported where the app is built: the tick (cron) does not need it
    from slack_bolt import App

log = logging.getLogger(__name__)

#: How long stopping waits for an index snapshot being written (a 100,000-helper one takes
#: seconds); a write cut short leaves only a temporary directory, removed by a later writer.
SNAPSHOT_WRITE_WAIT_S = 30.0

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
    embedder: Embedder
    client: WebClient
    gateway: SlackGateway
    sender: OutboxSender
    worker: OutboxWorker
    asks: AskService
    helpers: HelperService
    pairs: PairService
    deduper: Deduper
    privacy: PrivacyService
    circles: CircleService | None = None
    #: The programme admins' weekly digest (None: not sent).
    digest: DigestSender | None = None
    #: OAuth mode (``SLACK_CLIENT_ID``): installations per workspace; None with one bot token.
    installations: InstallationService | None = None
    #: Per-workspace learned ranker weights, trained by the tick (None: hand-set weights only).
    learning: RankerLearning | None = None
    #: This host's matching-index snapshots (None: off); a stop lets a write under way finish.
    snapshots: SnapshotStore | None = None

    @property
    def tick(self) -> Tick:
        """The services the one-a-minute tick uses (for ``run_due`` and the scheduler)."""
        return Tick(
            self.engine,
            self.asks,
            self.pairs,
            self.deduper,
            self.sender,
            self.helpers,
            retention=self.privacy,
            circles=self.circles,
            digest=self.digest,
            ranker=self.learning,
        )

    def close(self) -> None:
        """Stop the outbox worker, let an index snapshot being written finish (at most
        :data:`SNAPSHOT_WRITE_WAIT_S`: a worker stopped soon after its start-up build keeps what
        it built for the next start), and release connections."""
        self.worker.stop()
        self.asks.close()  # a child process building an index is terminated
        if self.snapshots is not None and not self.snapshots.wait(SNAPSHOT_WRITE_WAIT_S):
            log.warning("stopping with an index snapshot still being written (it is not kept)")
        self.engine.dispose()


def build_web_client(settings: Settings) -> WebClient:
    """A WebClient on ``SLACK_API_URL`` that waits out 429s as Slack asks."""
    client = WebClient(
        # OAuth mode: no token here; Bolt gives each request its workspace's token.
        token=None if settings.oauth_enabled else settings.secret("SLACK_BOT_TOKEN"),
        base_url=settings.slack_api_url,
        timeout=15,
    )
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    return client


def build_sender(
    sessions: sessionmaker[Session],
    gateway: WebApi,
    clock: Clock,
    *,
    on_failure: FailureHandler | None = None,
    on_sent: SentHandler | None = None,
    **options: Any,
) -> OutboxSender:
    """The outbox sender delivering through Slack: notices rendered from ``sessions``' tables at
    send time, sent through ``gateway``. ``options`` go to :class:`OutboxSender`."""
    deliverer = SlackDeliverer(gateway, facts_reader(sessions))
    return OutboxSender(
        sessions, deliverer, clock, on_failure=on_failure, on_sent=on_sent, **options
    )


def _team_clients(
    settings: Settings, engine: Engine, sessions: sessionmaker[Session], clock: Clock
) -> tuple[InstallationService | None, Callable[[str], WebClient]]:
    """The WebClient of each workspace for outbox deliveries, jobs and imports: with OAuth, the
    workspace's own (refreshed) bot token from the installation store; otherwise the one
    ``SLACK_BOT_TOKEN``. Deliveries honour Retry-After themselves: no in-line waiting."""
    if not settings.oauth_enabled:
        send_client = WebClient(
            token=settings.secret("SLACK_BOT_TOKEN"), base_url=settings.slack_api_url, timeout=15
        )
        return None, lambda team_id: send_client
    from peerbot.slack.installs import TeamClients
    from peerbot.store.installations import installation_store

    assert settings.slack_client_id is not None
    installations = InstallationService(
        sessions, clock, installation_store(engine, settings.slack_client_id)
    )
    clients = TeamClients(
        installations,
        base_url=settings.slack_api_url,
        client_id=settings.slack_client_id,
        client_secret=settings.secret("SLACK_CLIENT_SECRET"),
        rotation_minutes=settings.token_rotation_expiration_minutes,
    )
    return installations, clients.client_for


def build_container(
    settings: Settings,
    *,
    clock: Clock | None = None,
    embedder: Embedder | None = None,
    engine: Engine | None = None,
    ranker: Matcher | None = None,
) -> Container:
    """Wire everything; checks the schema is migrated and loads the model unless one is given."""
    engine = engine or create_engine_for(settings.database_url)
    ensure_migrated(engine)
    if embedder is None:
        from peerbot.embeddings import load_embedder

        embedder = load_embedder(settings.embedding_model_path)
    clock = clock or SystemClock()
    sessions = session_factory(engine)
    client = build_web_client(settings)
    installations, client_for = _team_clients(settings, engine, sessions, clock)
    gateway = SlackGateway(client_for)
    # The matching index's snapshots on this host (also removed by privacy erasures).
    snapshots = snapshot_store(
        settings.index_snapshot_dir, settings.database_url, settings.xdg_state_home
    )
    # Per-workspace learned ranker weights (issue 17): trained by the tick, read per ranking.
    learning = RankerLearning(
        sessions, clock, embedder.model_name, embedder.dimension, settings.ranker_weights_parsed()
    )
    asks = AskService(
        sessions,
        clock,
        embedder,
        gateway,
        ranker
        or IndexedMatcher(
            embedder.model_name,
            embedder.dimension,
            settings.ranker_weights_parsed(),
            max_pending_offers=settings.max_pending_offers_per_helper,
            learning=learning,
            snapshots=snapshots,
            build_in_child=settings.index_build_child,
            provisional_above=settings.index_provisional_above,
        ),
        MatchPolicy(
            offer_timeout_working_hours=settings.offer_timeout_working_hours,
            max_offers=settings.max_offers_per_ask,
            parallel=settings.parallel_offers,
            max_open_asks=settings.max_open_asks_per_asker,
            max_pending_offers=settings.max_pending_offers_per_helper,
            urgent_timeout_working_hours=settings.urgent_offer_timeout_working_hours,
            wait_days=settings.ask_wait_days,
        ),
    )
    asks.policy_lookup = match_policy  # the workspace's programme settings, read per ask
    asks.stranded_after = timedelta(seconds=settings.stranded_after_seconds)
    sender = build_sender(
        sessions,
        gateway,
        clock,
        on_failure=asks.on_undeliverable,
        on_sent=asks.on_sent,
        claim_for=timedelta(seconds=settings.outbox_claim_seconds),
        # which process holds a message, for operators (and the several-workers test)
        worker_id=f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
    )
    helpers = HelperService(sessions, clock, embedder, gateway)
    pairs = PairService(sessions, clock)
    worker = OutboxWorker(sender)
    # Every commit that recorded a message wakes the worker: no hand-written kick per use-case.
    wake_on_commit(sessions, worker.kick)
    digest = DigestSender(
        client_for,
        ProgrammeView(sessions, clock),
        DigestLedger(sessions),
        clock,
        admins=settings.admin_ids(),
        from_slack=settings.admins_from_slack,
    )
    circles = CircleService(
        sessions,
        clock,
        embedder,
        gateway,
        SlackChannels(gateway),
        CirclePolicy(
            every_weeks=settings.circle_every_weeks,
            length_weeks=settings.circle_length_weeks,
            target_size=settings.circle_target_size,
            mix_functions=settings.circle_mix_functions,
        ),
    )
    return Container(
        digest=digest,
        settings=settings,
        engine=engine,
        sessions=sessions,
        clock=clock,
        embedder=embedder,
        client=client,
        gateway=gateway,
        sender=sender,
        worker=worker,
        asks=asks,
        helpers=helpers,
        pairs=pairs,
        installations=installations,
        deduper=Deduper(sessions, clock),
        privacy=PrivacyService(
            sessions,
            clock,
            release_offer=asks.release_offer,
            circles=circles,
            retention_days=settings.retention_days,
            uninstall_grace_days=settings.uninstall_grace_days,
            snapshots=snapshots,
        ),
        learning=learning,
        circles=circles,
        snapshots=snapshots,
    )


def build_programme_admin(container: Container, *, http_mode: bool) -> ProgrammeAdmin:
    """The programme view's admin actions (dashboard links point where this mode serves it)."""
    from peerbot.programme_app import admin_parts

    parts = admin_parts(container, http_mode=http_mode)
    return ProgrammeAdmin(
        container.sessions,
        container.clock,
        container.gateway,
        parts.policy,
        parts.signin,
        parts.view,
        defaults_from(container.settings),
        base_url=parts.base_url,
        inviter=container.helpers.import_in,
    )


def create_bolt_app(
    container: Container, *, http_mode: bool, listener_executor: Executor | None = None
) -> App:
    """Build the Bolt app with every listener and the global error handler.

    In HTTP mode every request must carry a valid Slack signature (checked by Bolt's request
    verification against ``SLACK_SIGNING_SECRET``, including the 5-minute timestamp window).
    """
    from slack_bolt import App, BoltContext, BoltResponse

    from peerbot.slack.listeners import register_listeners
    from peerbot.slack.middleware import skip_redelivered_events

    settings = container.settings
    kwargs: dict[str, Any] = {}
    if http_mode:
        kwargs["signing_secret"] = settings.secret("SLACK_SIGNING_SECRET")
    else:
        kwargs["signing_secret"] = ""
        kwargs["request_verification_enabled"] = False
    if container.installations is not None:  # OAuth: /slack/install, a token per workspace
        from peerbot.slack.installs import NOT_INSTALLED_TEXT, oauth_settings
        from peerbot.store.installations import oauth_state_store

        kwargs["oauth_settings"] = oauth_settings(
            settings, container.installations, oauth_state_store(container.engine)
        )
        kwargs["user_facing_authorize_error_message"] = NOT_INSTALLED_TEXT
    app = App(
        client=container.client,
        token_verification_enabled=False,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
        listener_executor=listener_executor,
        **kwargs,
    )
    deps = Deps(
        settings=settings,
        clock=container.clock,
        asks=container.asks,
        helpers=container.helpers,
        pairs=container.pairs,
        privacy=container.privacy,
        circles=container.circles,
        admin=build_programme_admin(container, http_mode=http_mode),
        journey=JourneyService(
            container.sessions,
            container.clock,
            container.embedder,
            topic_of=container.asks.topic_of,
        ),
    )

    @app.error
    def on_error(error: Exception, context: BoltContext) -> BoltResponse:
        log.exception("unhandled error in a listener", exc_info=error)
        try:
            user = context.user_id
            if not user:
                raise ValueError("no user id in the request")
            client = context.client or container.client  # the workspace's own token
            channel = client.conversations_open(users=user)["channel"]["id"]
            client.chat_postMessage(channel=channel, text=USER_ERROR_TEXT)
        except Exception:  # telling the user is best effort
            log.warning("could not tell the user about the error", exc_info=True)
        return BoltResponse(status=500, body="")

    if container.installations is not None:
        from peerbot.slack.installs import track_installations

        app.middleware(track_installations(container.installations, container.privacy))
    app.middleware(skip_redelivered_events(container.deduper))
    register_listeners(app, deps)
    return app
