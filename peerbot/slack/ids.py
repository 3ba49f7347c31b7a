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
EXCLUDED = ("excluded", "excluded_users")
MANAGER = ("manager", "manager_user")
ASK_TOPICS = ("ask_topics", "ask_topics_select")

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

# Helper profile
PROFILE_CALLBACK = "helper_profile"
PROFILE_OPT_IN = ("profile_opt_in", "profile_opt_in_input")
PROFILE_EXPERTISE = ("profile_expertise", "profile_expertise_input")
PROFILE_TOPICS = ("profile_topics", "profile_topics_select")
PROFILE_OTHER_TOPICS = ("profile_other_topics", "profile_other_topics_input")
PROFILE_YEARS = ("profile_years", "profile_years_input")
PROFILE_FUNCTION = ("profile_function", "profile_function_input")
PROFILE_CAPACITY = ("profile_capacity", "profile_capacity_select")
PROFILE_PAUSE = ("profile_pause", "profile_pause_date")
PROFILE_NEVER = ("profile_never", "profile_never_users")
HOME_EDIT_PROFILE = "home_edit_profile"

# Check-ins (one action id per answer; the value is the check-in id)
CHECKIN_ANSWERS = ("done", "in_progress", "stuck")
CHECKIN_ACTION = "checkin_answer"  # + "_" + answer
CHECKIN_CLOSE = "checkin_close"
COMMITMENT_DONE = "commitment_done"
PAIR_SNOOZE = "pair_snooze"  # overflow: snooze_1, snooze_2, stop, weekly, biweekly
COMMITMENT_CALLBACK = "commitment_add"
COMMITMENT_TEXT = ("commitment_text", "commitment_text_input")
COMMITMENT_DUE = ("commitment_due", "commitment_due_date")
CLOSE_CALLBACK = "pair_close_feedback"
CLOSE_OUTCOME = ("close_outcome", "close_outcome_radio")
CLOSE_RATING = ("close_rating", "close_rating_select")
CLOSE_THANKS = ("close_thanks", "close_thanks_input")
CLOSE_REFLECTION = ("close_reflection", "close_reflection_input")
FEEDBACK_OPEN = "pair_feedback_open"
HELPER_CHECK_OK = "helper_check_ok"

# Your data (/peerhelp privacy, App Home)
PRIVACY_DOWNLOAD = "privacy_download"
PRIVACY_DELETE = "privacy_delete"
PRIVACY_DELETE_CALLBACK = "privacy_delete_confirm"

# Helper invitations (CSV import)
HELPER_INVITE_YES = "helper_invite_yes"
HELPER_INVITE_NO = "helper_invite_no"

# Undo and history (issue 13): withdraw a request, resume check-ins, end a helper pause
ASK_WITHDRAW = "ask_withdraw"  # value: the ask id
ASK_EDIT = "ask_edit"  # value: the ask id; opens the edit dialog
ASK_EDIT_CALLBACK = "ask_edit_submit"  # the edit dialog; private_metadata: the ask id
PAIR_RESUME_CHECKINS = "pair_resume_checkins"  # value: the pair id
HELPER_RESUME_NOW = "helper_resume_now"
HOME_HELP = "home_help"
# The helper's monthly check: one action id per answer; the value is the check-in id
HELPER_CHECK_ACTION = "helper_check"  # + "_" + one of HELPER_CHECK_ANSWERS
HELPER_CHECK_ANSWERS = ("well", "not_met", "quiet", "not_fit")
