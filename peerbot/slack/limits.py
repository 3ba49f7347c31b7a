"""Slack's limits on what the bot sends: the one table the Block Kit builders and renderers use.

Slack refuses a payload past any of these (``invalid_blocks``, ``invalid_arguments``), so the
builders cut or split to stay inside them, by the length *after* escaping (``&`` becomes
``&amp;``). What people may type (a challenge's length, an expertise's) is a domain rule and lives
in :mod:`peerbot.domain.limits`. The Slack emulator (``peerbot/sandbox/blockkit.py``) keeps its own
copy, as Slack does; a test checks the two agree.
"""

from __future__ import annotations

#: Blocks in one message (chat.postMessage, chat.update).
MAX_MESSAGE_BLOCKS = 50
#: Blocks in one modal or App Home view.
MAX_VIEW_BLOCKS = 100
#: Characters of a section's text.
MAX_SECTION_TEXT = 3000
#: Characters of each of a section's fields.
MAX_FIELD_TEXT = 2000
#: A modal's title.
MAX_VIEW_TITLE = 24
#: A modal's submit and close buttons.
MAX_VIEW_BUTTON = 24
#: A button's text.
MAX_BUTTON_TEXT = 75
#: A button's value.
MAX_BUTTON_VALUE = 2000
#: An option's text (select menus, checkboxes, radio buttons).
MAX_OPTION_TEXT = 75
#: An option's value.
MAX_OPTION_VALUE = 150
#: Options in one select menu.
MAX_OPTIONS = 100
#: A placeholder.
MAX_PLACEHOLDER = 150
#: An input block's label.
MAX_LABEL = 2000
#: An input block's hint.
MAX_HINT = 2000
#: A header block's text.
MAX_HEADER_TEXT = 150
#: A view's private_metadata.
MAX_PRIVATE_METADATA = 3000
#: A plain_text_input's max_length (and so its initial value).
MAX_TEXT_INPUT = 3000
#: block_id and action_id.
MAX_ID = 255
#: Elements in one context block.
MAX_CONTEXT_ELEMENTS = 10
#: Elements in one actions block.
MAX_ACTIONS_ELEMENTS = 25
#: A message's top-level ``text`` (Slack truncates beyond this).
MAX_MESSAGE_TEXT = 40_000

#: Room a builder leaves in a section for its own words around one quoted text.
SECTION_HEADROOM = 100
