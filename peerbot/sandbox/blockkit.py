"""Block Kit validation, strict like Slack.

Two layers: an explicit walk over the JSON that checks Slack's documented limits and reports them
the way Slack does (``[ERROR] ... [json-pointer:/blocks/0/text/text]``), then ``slack_sdk.models``
(``Block.parse(...).validate_json()``, ``View(...).validate_json()``) for everything the SDK knows.
Each function answers a list of messages; an empty list means valid.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_VIEW_TITLE = 24
MAX_VIEW_BUTTON = 24
MAX_BUTTON_TEXT = 75
MAX_ID = 255
MAX_PRIVATE_METADATA = 3000
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_HEADER_TEXT = 150
MAX_LABEL = 2000
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_PLACEHOLDER = 150
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_VIEW_BYTES = 250_000

MESSAGE_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
        "table",
    }
)
VIEW_BLOCK_TYPES = frozenset(
    {"actions", "context", "divider", "header", "image", "input", "rich_text", "section", "video"}
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
ELEMENT_TYPES = frozenset(
    {
        "button",
        "checkboxes",
        "datepicker",
        "datetimepicker",
        "timepicker",
        "email_text_input",
        "image",
        "number_input",
        "overflow",
        "plain_text_input",
        "radio_buttons",
        "rich_text_input",
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
        "url_text_input",
        "file_input",
        "workflow_button",
    }
)
INPUT_ELEMENT_TYPES = ELEMENT_TYPES - {"button", "image", "overflow", "workflow_button"}
OPTION_ELEMENT_TYPES = frozenset(
    {"static_select", "multi_static_select", "radio_buttons", "checkboxes", "overflow"}
)


def _err(msg: str, pointer: str) -> str:
    return f"[ERROR] {msg} [json-pointer:{pointer}]"


class _Checker:
    """Accumulates error messages while walking a JSON document."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, msg: str, pointer: str) -> None:
        self.errors.append(_err(msg, pointer))

    def max_len(self, value: Any, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(f"must be less than {limit + 1} characters", pointer)

    def text(
        self,
        obj: Any,
        pointer: str,
        limit: int,
        *,
        plain_only: bool = False,
        required: bool = True,
    ) -> None:
        if obj is None:
            if required:
                self.add("missing required field: text", pointer)
            return
        if not isinstance(obj, dict):
            self.add("must be an object", pointer)
            return
        kind = obj.get("type")
        allowed = {"plain_text"} if plain_only else TEXT_TYPES
        if kind not in allowed:
            self.add(f"must be one of: {', '.join(sorted(allowed))}", pointer + "/type")
        text = obj.get("text")
        if not isinstance(text, str) or text == "":
            self.add("must be more than 0 characters", pointer + "/text")
            return
        self.max_len(text, limit, pointer + "/text")

    def options(self, options: Any, pointer: str, *, limit: int = MAX_OPTIONS) -> None:
        if not isinstance(options, list):
            self.add("must be an array", pointer)
            return
        if len(options) > limit:
            self.add(f"must provide no more than {limit} items", pointer)
        for i, opt in enumerate(options):
            p = f"{pointer}/{i}"
            if not isinstance(opt, dict):
                self.add("must be an object", p)
                continue
            self.text(opt.get("text"), p + "/text", MAX_OPTION_TEXT)
            value = opt.get("value")
            if not isinstance(value, str):
                self.add("missing required field: value", p + "/value")
            else:
                self.max_len(value, MAX_OPTION_VALUE, p + "/value")

    def element(self, el: Any, pointer: str, *, input_only: bool = False) -> None:
        if not isinstance(el, dict):
            self.add("must be an object", pointer)
            return
        kind = el.get("type")
        allowed = INPUT_ELEMENT_TYPES if input_only else ELEMENT_TYPES
        if kind not in allowed:
            self.add(f"unsupported type: {kind}", pointer + "/type")
            return
        self.max_len(el.get("action_id"), MAX_ID, pointer + "/action_id")
        if "placeholder" in el:
            self.text(el["placeholder"], pointer + "/placeholder", MAX_PLACEHOLDER, plain_only=True)
        if kind == "button":
            self.text(el.get("text"), pointer + "/text", MAX_BUTTON_TEXT, plain_only=True)
            self.max_len(el.get("value"), MAX_BUTTON_VALUE, pointer + "/value")
            self.max_len(el.get("url"), MAX_URL, pointer + "/url")
            style = el.get("style")
            if style is not None and style not in {"primary", "danger"}:
                self.add("must be one of: primary, danger", pointer + "/style")
        if kind in OPTION_ELEMENT_TYPES:
            if "options" in el:
                limit = 5 if kind == "overflow" else (10 if kind == "checkboxes" else MAX_OPTIONS)
                self.options(el["options"], pointer + "/options", limit=limit)
            elif "option_groups" not in el:
                self.add("missing required field: options", pointer)
        if kind == "plain_text_input":
            max_length = el.get("max_length")
            if isinstance(max_length, int) and max_length > 3000:
                self.add("must be less than 3001", pointer + "/max_length")

    def block(self, block: Any, pointer: str, allowed_types: frozenset[str]) -> None:
        if not isinstance(block, dict):
            self.add("must be an object", pointer)
            return
        kind = block.get("type")
        if kind not in allowed_types:
            self.add(f"unsupported type: {kind}", pointer + "/type")
            return
        self.max_len(block.get("block_id"), MAX_ID, pointer + "/block_id")
        if kind == "section":
            has_text = "text" in block
            if has_text:
                self.text(block["text"], pointer + "/text", MAX_SECTION_TEXT)
            fields = block.get("fields")
            if fields is not None:
                if not isinstance(fields, list):
                    self.add("must be an array", pointer + "/fields")
                else:
                    if len(fields) > MAX_FIELDS:
                        self.add(
                            f"must provide no more than {MAX_FIELDS} items", pointer + "/fields"
                        )
                    for i, f in enumerate(fields):
                        self.text(f, f"{pointer}/fields/{i}", MAX_FIELD_TEXT)
            if not has_text and not fields:
                self.add("must provide either text or fields", pointer)
            if "accessory" in block:
                self.element(block["accessory"], pointer + "/accessory")
        elif kind == "header":
            self.text(block.get("text"), pointer + "/text", MAX_HEADER_TEXT, plain_only=True)
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                self.add("must provide at least 1 item", pointer + "/elements")
                return
            if len(elements) > MAX_ACTIONS_ELEMENTS:
                self.add(
                    f"must provide no more than {MAX_ACTIONS_ELEMENTS} items",
                    pointer + "/elements",
                )
            seen: set[str] = set()
            for i, el in enumerate(elements):
                self.element(el, f"{pointer}/elements/{i}")
                aid = el.get("action_id") if isinstance(el, dict) else None
                if isinstance(aid, str):
                    if aid in seen:
                        self.add(f"duplicate action_id: {aid}", f"{pointer}/elements/{i}")
                    seen.add(aid)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                self.add("must provide at least 1 item", pointer + "/elements")
                return
            if len(elements) > MAX_CONTEXT_ELEMENTS:
                self.add(
                    f"must provide no more than {MAX_CONTEXT_ELEMENTS} items",
                    pointer + "/elements",
                )
            for i, el in enumerate(elements):
                p = f"{pointer}/elements/{i}"
                if isinstance(el, dict) and el.get("type") in TEXT_TYPES:
                    self.text(el, p, MAX_SECTION_TEXT)
                elif not (isinstance(el, dict) and el.get("type") == "image"):
                    self.add("must be a text or image element", p)
        elif kind == "input":
            self.text(block.get("label"), pointer + "/label", MAX_LABEL, plain_only=True)
            if "hint" in block:
                self.text(block["hint"], pointer + "/hint", MAX_LABEL, plain_only=True)
            if "element" not in block:
                self.add("missing required field: element", pointer)
            else:
                self.element(block["element"], pointer + "/element", input_only=True)
        elif kind == "image":
            if "image_url" not in block and "slack_file" not in block:
                self.add("missing required field: image_url", pointer)
            self.max_len(block.get("image_url"), MAX_URL, pointer + "/image_url")
            if not isinstance(block.get("alt_text"), str):
                self.add("missing required field: alt_text", pointer)

    def blocks(self, blocks: Any, pointer: str, limit: int, allowed: frozenset[str]) -> None:
        if not isinstance(blocks, list):
            self.add("must be an array", pointer)
            return
        if len(blocks) > limit:
            self.add(f"no more than {limit} items allowed", pointer)
        seen: set[str] = set()
        for i, b in enumerate(blocks):
            self.block(b, f"{pointer}/{i}", allowed)
            bid = b.get("block_id") if isinstance(b, dict) else None
            if isinstance(bid, str):
                if bid in seen:
                    self.add(f"duplicate block_id: {bid}", f"{pointer}/{i}/block_id")
                seen.add(bid)


def _sdk_check(build: Callable[[], Any]) -> list[str]:
    """Run slack_sdk's model validation; answer its complaint, if any."""
    try:
        obj = build()
        if obj is None:
            return ["[ERROR] unsupported block"]
        obj.validate_json()
    except SlackObjectFormationError as exc:
        return [f"[ERROR] {exc}"]
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        return [f"[ERROR] invalid object: {exc}"]
    return []


def validate_message_blocks(blocks: Any) -> list[str]:
    """Errors in message ``blocks`` (empty when valid)."""
    checker = _Checker()
    checker.blocks(blocks, "/blocks", MAX_MESSAGE_BLOCKS, MESSAGE_BLOCK_TYPES)
    if checker.errors:
        return checker.errors
    errors: list[str] = []
    for b in blocks:
        errors.extend(_sdk_check(functools.partial(Block.parse, b)))
    return errors


def validate_view(view: Any) -> list[str]:
    """Errors in a view payload for views.open/push/update/publish (empty when valid)."""
    if not isinstance(view, dict):
        return [_err("must be an object", "/view")]
    checker = _Checker()
    kind = view.get("type")
    if kind not in {"modal", "home"}:
        checker.add("must be one of: modal, home", "/view/type")
        return checker.errors
    if kind == "modal":
        checker.text(view.get("title"), "/view/title", MAX_VIEW_TITLE, plain_only=True)
    if "submit" in view:
        checker.text(view["submit"], "/view/submit", MAX_VIEW_BUTTON, plain_only=True)
    if "close" in view:
        checker.text(view["close"], "/view/close", MAX_VIEW_BUTTON, plain_only=True)
    checker.max_len(view.get("private_metadata"), MAX_PRIVATE_METADATA, "/view/private_metadata")
    checker.max_len(view.get("callback_id"), MAX_ID, "/view/callback_id")
    checker.max_len(view.get("external_id"), MAX_ID, "/view/external_id")
    if "blocks" not in view:
        checker.add("missing required field: blocks", "/view")
    else:
        checker.blocks(view["blocks"], "/view/blocks", MAX_VIEW_BLOCKS, VIEW_BLOCK_TYPES)
        blocks = view["blocks"]
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if kind == "modal" and has_input and "submit" not in view:
            checker.add("submit is required when an input block is within the blocks", "/view")
    if checker.errors:
        return checker.errors
    errors = _sdk_check(lambda: View(**view))
    for b in view["blocks"]:
        errors.extend(_sdk_check(functools.partial(Block.parse, b)))
    return errors


def view_too_large(view: Any) -> bool:
    """Whether the serialized view exceeds Slack's 250 kB."""
    return len(json.dumps(view).encode()) > MAX_VIEW_BYTES
