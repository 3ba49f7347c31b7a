"""Every callback, block and action id peerbot uses, in one place."""

from __future__ import annotations

COMMAND = "/peerhelp"

# Views
INTAKE_CALLBACK = "peerhelp_intake"

# Intake blocks and actions (block_id, action_id)
CHALLENGE = ("challenge", "challenge_input")
DESIRED_RESULT = ("desired_result", "desired_result_input")
OBSTACLES = ("obstacles", "obstacles_input")
URGENCY = ("urgency", "urgency_select")
ANONYMITY = ("anonymity", "anonymity_checkbox")

# App Home actions
HOME_ASK = "home_ask_for_help"

# Offers
OFFER_ACCEPT = "offer_accept"
OFFER_PASS = "offer_pass"
PASS_CALLBACK = "offer_pass_reason"
PASS_REASON = ("pass_reason", "pass_reason_input")

# Pairs
PAIR_ADD_COMMITMENT = "pair_add_commitment"
PAIR_CLOSE = "pair_close"
