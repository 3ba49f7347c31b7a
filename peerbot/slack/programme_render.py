"""Rendering of the programme view's notices (registered on :func:`peerbot.slack.render.render`)."""

from __future__ import annotations

from peerbot.domain.ports import NoticeFacts
from peerbot.domain.programme_notices import HelperStatusChanged
from peerbot.slack.render import Message, render

HELPER_STATUS_TEXT = {
    "approve": "The people who run the peer-help programme approved you as a helper: from now "
    "on you may be asked to help a fellow manager (one request at a time, Accept or Pass). You "
    "can pause or change your profile in peerbot's App Home.",
    "pause": "The people who run the peer-help programme paused your helper profile: you won't "
    "be asked to help until it is resumed. Conversations already under way go on as before.",
    "resume": "The people who run the peer-help programme resumed your helper profile: you may "
    "be asked to help a fellow manager again.",
    "remove": "The people who run the peer-help programme removed you from the helpers: you "
    "won't be asked to help. Conversations already under way go on as before. Questions? Ask "
    "the people who run the programme.",
}


@render.register
def _helper_status(notice: HelperStatusChanged, facts: NoticeFacts) -> Message:
    """To the helper an admin approved, paused, resumed or removed."""
    text = HELPER_STATUS_TEXT[notice.change]
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
