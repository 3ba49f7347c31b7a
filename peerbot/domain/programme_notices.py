"""Notices of the programme view (registered with the others by import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from peerbot.domain.notices import Notice


@dataclass(frozen=True)
class HelperStatusChanged(Notice):
    """To a helper: an admin approved, paused, resumed or removed their helper profile."""

    kind: ClassVar[str] = "helper_status_changed"
    person_id: int
    #: ``approve``, ``pause``, ``resume`` or ``remove``.
    change: str
