"""Names of the messages peerbot sends. Services record a name and JSON data in the outbox; the
Slack surface renders each name into Block Kit at send time (``peerbot.slack.render``)."""

from __future__ import annotations

ASK_RECEIVED = "ask_received"  # to the asker: what happens next and by when
ASK_MATCHED = "ask_matched"  # the same DM, updated: who accepted
ASK_UNMET = "ask_unmet"  # to the asker: nobody could take it, honestly
OFFER_REQUEST = "offer_request"  # to a helper: the challenge, why them, Accept / Pass
OFFER_CLOSED = "offer_closed"  # the offer DM, updated: accepted / passed / expired / taken
INTRO = "intro"  # group DM: asker + helper + bot
HOME = "home"  # App Home

ALL = (ASK_RECEIVED, ASK_MATCHED, ASK_UNMET, OFFER_REQUEST, OFFER_CLOSED, INTRO, HOME)
