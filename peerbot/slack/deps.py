"""What listeners are handed: services and the clock, never a database session."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from peerbot.config import Settings
from peerbot.domain.ports import Clock


@dataclass
class Deps:
    """Everything a listener may call. Built by the composition root (``peerbot.app``)."""

    settings: Settings
    clock: Clock
    services: dict[str, Any] = field(default_factory=dict)
