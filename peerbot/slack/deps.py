"""What listeners are handed: services and the clock, never a database session.

A global middleware (:func:`peerbot.slack.middleware.provide_deps`) puts one :class:`Deps` into
Bolt's ``context`` under :data:`DEPS_KEY`; Bolt then injects it into any listener that takes an
argument named ``deps``, beside ``ack``, ``context``, ``respond`` and the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from peerbot.config import Settings
from peerbot.domain.ports import Clock
from peerbot.services.asks import AskService
from peerbot.services.circles import CircleService
from peerbot.services.helpers import HelperService
from peerbot.services.journey import JourneyService
from peerbot.services.pairs import PairService
from peerbot.services.privacy import PrivacyService
from peerbot.services.programme_admin import ProgrammeAdmin

#: The ``context`` key (and so the listener argument name) that carries :class:`Deps`.
DEPS_KEY = "deps"


@dataclass(frozen=True)
class Deps:
    """Everything a listener may call. Built by the composition root (``peerbot.app``)."""

    settings: Settings
    clock: Clock
    asks: AskService
    helpers: HelperService
    pairs: PairService
    #: Export and deletion of a person's data; the app's removal from a workspace.
    privacy: PrivacyService | None = None
    #: Peer circles (the pool, forming, a circle's weeks).
    circles: CircleService | None = None
    #: The programme view's admin actions (admin role checked on every call).
    admin: ProgrammeAdmin | None = None
    #: A person's own changes (withdraw, resume) and their history for App Home.
    journey: JourneyService | None = None

    def __deepcopy__(self, memo: dict[int, object]) -> Deps:
        """The same long-lived services: Bolt deep-copies ``context`` for lazy listeners, and a
        copy of an engine or a model is never wanted."""
        return self
