"""Action ids and button values of the follow-through messages ("did you meet?", another
peer, resume after the ghost-rule pause, tell me when someone can)."""

from __future__ import annotations

from peerbot.slack import ids
from peerbot.slack.codec import IdCodec

#: "Did you meet?" answers (value: the meeting check id).
MEET_YES = "meet_yes"
MEET_NOT_YET = "meet_not_yet"
MEET_NO = "meet_no"
MEET_ANSWERS = {MEET_YES: "yes", MEET_NOT_YET: "not_yet", MEET_NO: "no"}
#: "Try another peer" (value: the pair id).
ANOTHER_PEER = "pair_another_peer"
#: "Resume now" in the ghost-rule pause DM (value: "resume").
HELPER_RESUME = ids.HELPER_RESUME_NOW  # one action: handled in ``listeners/journey.py``
#: "Tell me when someone can" on the "nobody could help" message (value: the ask id).
ASK_WAIT = "ask_wait_for_helper"

#: The meeting check a "did you meet?" button answers.
MEETING = IdCodec("meeting")
#: The ask a "Tell me when someone can" button is about.
ASK = IdCodec("ask")
