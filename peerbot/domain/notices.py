"""Names of the messages peerbot sends. Services record a name and JSON data in the outbox; the
Slack surface renders each name into Block Kit at send time (``peerbot.slack.render``)."""

from __future__ import annotations

ASK_RECEIVED = "ask_received"  # to the asker: what happens next and by when
ASK_MATCHED = "ask_matched"  # the same DM, updated: who accepted
ASK_UNMET = "ask_unmet"  # to the asker: nobody could take it, honestly
OFFER_REQUEST = "offer_request"  # to a helper: the challenge, why them, Accept / Pass
OFFER_CLOSED = "offer_closed"  # the offer DM, updated: accepted / passed / expired / taken
INTRO = "intro"  # group DM: asker + helper + bot

CHECKIN = "checkin"  # to the asker: open commitments, Done / In progress / Stuck / Close
CHECKIN_ANSWERED = "checkin_answered"  # the check-in, updated with the answer
HELPER_CHECK = "helper_check"  # to the helper, monthly: how is the pair going
HELPER_CHECK_ANSWERED = "helper_check_answered"
STUCK_NUDGE = "stuck_nudge"  # to the helper: the asker is stuck, reach out
PAIR_PAUSED = "pair_paused"  # to both: no answers, check-ins paused
COMMITMENT_ADDED = "commitment_added"  # group DM: the asker's new commitment
PAIR_CLOSED = "pair_closed"  # group DM: closed, thank you both
FEEDBACK_REQUEST = "feedback_request"  # to the other side after a close
THANKS = "thanks"  # to the helper: the asker's thank-you
