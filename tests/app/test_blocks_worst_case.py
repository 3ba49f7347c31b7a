"""Every modal and App Home view at its worst case passes slack_sdk's models and Slack's limits.

Worst case: the longest text each field allows, made of ``&``, ``<``, ``>`` (each grows when
escaped: ``&`` becomes ``&amp;``), emoji and combining characters; the most topics, asks, pairs
and never-match users. Each view is checked three ways: ``slack_sdk.models`` (``View(**view)
.validate_json()`` and ``Block.parse(...).validate_json()``), an explicit walk against the one
table of Slack limits (:mod:`peerbot.slack.limits`), and the emulator's strict validator.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from peerbot.domain.limits import MAX_CHALLENGE, MAX_EXPERTISE, MAX_FIELD
from peerbot.domain.profiles import MAX_CAPACITY, MAX_TOPICS
from peerbot.domain.topics import TOPICS
from peerbot.sandbox import blockkit
from peerbot.services.helpers import HomeData, ProfileView
from peerbot.slack import blocks, codec, ids, limits
from peerbot.slack.profile_blocks import HOME_LIST_MAX, build_home, build_profile_modal
from peerbot.slack.text import block_quote, escape_mrkdwn, fit, truncate_escaped

#: Characters that grow when escaped, an emoji ZWJ sequence with a skin tone, a flag, and a
#: letter with two combining marks: the worst mix for length and for cutting.
WORST_PIECES = ("&", "<", ">", "👩🏽‍💻", "🇺🇳", "e\u0301\u0323", "<!channel>", "&amp;")


def worst(n: int) -> str:
    """Exactly ``n`` code points of the worst text (mostly ``&``, so escaping grows it 5x)."""
    pieces = itertools.cycle(("&",) * 6 + WORST_PIECES)
    out = ""
    while len(out) < n:
        out += next(pieces)
    return out[:n]


def amps(n: int) -> str:
    """``n`` ampersands: the text that grows the most when escaped."""
    return "&" * n


# --------------------------------------------------------------------------- validation


def _texts(node: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every text object (``{"type": "plain_text"|"mrkdwn", "text": ...}``) with its pointer."""
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str):
            yield pointer, node
        for key, value in node.items():
            yield from _texts(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _texts(value, f"{pointer}/{i}")


def _elements(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in the payload (blocks, elements, options, accessories)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _elements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _elements(value)


def limit_problems(view: dict[str, Any]) -> list[str]:
    """Slack's limits, from :mod:`peerbot.slack.limits`, that ``view`` breaks."""
    bad: list[str] = []

    def check(what: str, value: Any, limit: int) -> None:
        if value is not None and len(value) > limit:
            bad.append(f"{what}: {len(value)} > {limit}")

    check("blocks", view["blocks"], limits.MAX_VIEW_BLOCKS)
    check("private_metadata", view.get("private_metadata"), limits.MAX_PRIVATE_METADATA)
    if view["type"] == "modal":
        check("title", view["title"]["text"], limits.MAX_VIEW_TITLE)
        for key in ("submit", "close"):
            if key in view:
                check(key, view[key]["text"], limits.MAX_VIEW_BUTTON)
    for i, block in enumerate(view["blocks"]):
        check(f"block {i} block_id", block.get("block_id"), limits.MAX_ID)
        if block["type"] == "section" and "text" in block:
            check(f"block {i} section text", block["text"]["text"], limits.MAX_SECTION_TEXT)
        for field in block.get("fields") or []:
            check(f"block {i} field", field["text"], limits.MAX_FIELD_TEXT)
        if block["type"] == "header":
            check(f"block {i} header", block["text"]["text"], limits.MAX_HEADER_TEXT)
        if block["type"] == "input":
            check(f"block {i} label", block["label"]["text"], limits.MAX_LABEL)
            check(f"block {i} hint", (block.get("hint") or {}).get("text"), limits.MAX_HINT)
        if block["type"] == "context":
            check(f"block {i} context", block["elements"], limits.MAX_CONTEXT_ELEMENTS)
        if block["type"] == "actions":
            check(f"block {i} actions", block["elements"], limits.MAX_ACTIONS_ELEMENTS)
    for el in _elements(view["blocks"]):
        check("action_id", el.get("action_id"), limits.MAX_ID)
        if el.get("type") == "button":
            check("button text", el["text"]["text"], limits.MAX_BUTTON_TEXT)
            check("button value", el.get("value"), limits.MAX_BUTTON_VALUE)
        if el.get("type") == "plain_text_input":
            max_length = el.get("max_length", limits.MAX_TEXT_INPUT)
            if max_length > limits.MAX_TEXT_INPUT:
                bad.append(f"max_length {max_length} > {limits.MAX_TEXT_INPUT}")
            check("initial_value", el.get("initial_value"), max_length)
        if "placeholder" in el and isinstance(el["placeholder"], dict):
            check("placeholder", el["placeholder"]["text"], limits.MAX_PLACEHOLDER)
        if isinstance(el.get("options"), list):
            check("options", el["options"], limits.MAX_OPTIONS)
            for option in el["options"]:
                check("option text", option["text"]["text"], limits.MAX_OPTION_TEXT)
                check("option value", option["value"], limits.MAX_OPTION_VALUE)
    return bad


def assert_valid_view(view: dict[str, Any]) -> None:
    """slack_sdk's models, Slack's limits and the emulator's validator all accept ``view``."""
    View(**view).validate_json()
    for block in view["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()
    assert limit_problems(view) == []
    assert blockkit.validate_view(view) == []
    assert not blockkit.view_too_large(view)


def assert_escaped(view: dict[str, Any], *mentions: str) -> None:
    """No mrkdwn text lets user text through unescaped: every ``<`` opens a mention we made."""
    for pointer, text in _texts(view["blocks"]):
        if text["type"] != "mrkdwn":
            continue
        body = text["text"]
        for mention in mentions:
            body = body.replace(f"<@{mention}>", "")
        assert "<" not in body and ">" not in body, pointer
        assert "<!channel>" not in text["text"], pointer


# --------------------------------------------------------------------------- the views


def worst_profile(*, opted_in: bool = True, paused: bool = False) -> ProfileView:
    """A helper profile at every field's maximum."""
    custom = [worst(60) + str(i) for i in range(MAX_TOPICS)]
    return ProfileView(
        opted_in=opted_in,
        expertise=worst(MAX_EXPERTISE),
        topics=[key for key, _ in TOPICS] + custom,  # more than MAX_TOPICS on purpose
        years_managing=60,
        function=worst(500),
        capacity=MAX_CAPACITY,
        paused_until=datetime(2031, 12, 31, tzinfo=UTC) if paused else None,
        never_match=[f"U{n:010d}" for n in range(200)],
        active_pairs=MAX_CAPACITY,
    )


def worst_home(
    profile: ProfileView | None, *, asks: int = 10, pairs: int = 10, helping: bool = True
) -> HomeData:
    """App Home with ``asks`` open asks and ``pairs`` pairs, every challenge at its longest."""
    return HomeData(
        profile=profile,
        open_asks=[(n, worst(MAX_CHALLENGE), "offered") for n in range(asks)],
        pairs=[(n, f"U{n:010d}", amps(MAX_CHALLENGE), helping) for n in range(pairs)],
    )


MODALS = {
    "intake-empty": lambda: blocks.build_intake_modal(),
    "intake-prefilled": lambda: blocks.build_intake_modal(
        initial_challenge=worst(MAX_CHALLENGE * 4), private_metadata="C" + "9" * 20
    ),
    "intake-ampersands": lambda: blocks.build_intake_modal(initial_challenge=amps(MAX_CHALLENGE)),
    "pass": lambda: blocks.build_pass_modal(codec.MAX_ID),
    "commitment": lambda: blocks.build_commitment_modal(codec.MAX_ID),
    "close-asker": lambda: blocks.build_close_modal(codec.MAX_ID, asker=True),
    "close-helper": lambda: blocks.build_close_modal(codec.MAX_ID, asker=False),
    "profile-new": lambda: build_profile_modal(None),
    "profile-worst": lambda: build_profile_modal(worst_profile()),
    "profile-paused-opted-out": lambda: build_profile_modal(
        worst_profile(opted_in=False, paused=True)
    ),
}

HOMES = {
    "newcomer": lambda: worst_home(None, asks=0, pairs=0),
    "asker-max": lambda: worst_home(None, helping=False),
    "helper-max-topics": lambda: worst_home(worst_profile()),
    "helper-paused": lambda: worst_home(worst_profile(paused=True)),
    "opted-out": lambda: worst_home(worst_profile(opted_in=False)),
    "beyond-any-list": lambda: worst_home(worst_profile(), asks=500, pairs=500),
}


@pytest.mark.parametrize("name", sorted(MODALS))
def test_every_modal_is_valid_at_its_worst(name: str) -> None:
    view = MODALS[name]()
    assert view["type"] == "modal"
    assert_valid_view(view)
    assert_escaped(view)


@pytest.mark.parametrize("name", sorted(HOMES))
def test_app_home_is_valid_at_its_worst(name: str) -> None:
    data = HOMES[name]()
    view = build_home(data)
    assert view["type"] == "home"
    assert_valid_view(view)
    assert_escaped(view, *(other for _id, other, _c, _h in data.pairs))


def test_prefilled_intake_keeps_the_longest_challenge_a_person_may_type() -> None:
    text = worst(MAX_CHALLENGE)
    view = blocks.build_intake_modal(initial_challenge=text)
    challenge = next(b for b in view["blocks"] if b.get("block_id") == ids.CHALLENGE[0])
    assert challenge["element"]["initial_value"] == text  # plain text: not escaped, not cut
    assert challenge["element"]["max_length"] == MAX_CHALLENGE


def test_the_profile_modal_keeps_the_longest_expertise_whole() -> None:
    profile = worst_profile()
    view = build_profile_modal(profile)
    expertise = next(b for b in view["blocks"] if b.get("block_id") == ids.PROFILE_EXPERTISE[0])
    assert expertise["element"]["initial_value"] == profile.expertise
    assert len(profile.expertise) == MAX_EXPERTISE


def test_app_home_beyond_its_lists_keeps_the_profile_button_and_says_how_many_more() -> None:
    view = build_home(worst_home(worst_profile(), asks=500, pairs=500))
    assert view["blocks"][-1]["accessory"]["action_id"] == ids.HOME_EDIT_PROFILE
    more = [b for b in view["blocks"] if b["type"] == "context"]
    assert [b["elements"][0]["text"] for b in more] == [
        f"…and {500 - HOME_LIST_MAX} more.",
        f"…and {500 - HOME_LIST_MAX} more.",
    ]


def test_app_home_shows_every_item_the_service_gives() -> None:
    """The service reads at most 10 asks and 10 pairs: all of them are shown, none cut."""
    view = build_home(worst_home(None, asks=10, pairs=10))
    bullets = [b for b in view["blocks"] if b["type"] == "section" and "• " in b["text"]["text"]]
    assert len(bullets) == 20


# --------------------------------------------------------------------------- cutting by length


@pytest.mark.parametrize(
    "text",
    [amps(MAX_CHALLENGE), worst(MAX_CHALLENGE), "x\n" * 1250, ("a&\n" * 900)[:2500]],
    ids=["ampersands", "worst", "newlines", "short-lines"],
)
def test_a_quoted_challenge_fits_a_section_with_its_heading(text: str) -> None:
    """The issue's bug: a 2,500-character challenge of ``&`` quoted into a 3,004+ section."""
    quoted = block_quote(text, limits.MAX_SECTION_TEXT - limits.SECTION_HEADROOM)
    assert len(quoted) <= limits.MAX_SECTION_TEXT - limits.SECTION_HEADROOM
    section = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*Their challenge*\n" + quoted},
    }
    Block.parse(section).validate_json()  # type: ignore[union-attr]
    assert "&amp" in quoted or "&" not in text
    assert all(line.startswith("> ") for line in quoted.splitlines())


def test_the_issues_example_of_121_ampersands_fits() -> None:
    text = ("x" * 19 + "&") * 121 + "y" * (2500 - 20 * 121)
    assert len(text) == 2500 and text.count("&") == 121
    quoted = block_quote(text, limits.MAX_SECTION_TEXT - limits.SECTION_HEADROOM)
    assert len(quoted) <= limits.MAX_SECTION_TEXT - limits.SECTION_HEADROOM
    assert quoted.endswith("…")


def test_a_short_quote_is_unchanged() -> None:
    assert (
        block_quote("  Tom & Jerry <3\nsecond line ", 3000)
        == "> Tom &amp; Jerry &lt;3\n> second line"
    )


@pytest.mark.parametrize("limit", [1, 2, 5, 6, 7, 50, 199, 200])
def test_truncate_escaped_never_splits_an_entity_and_fits(limit: int) -> None:
    out = truncate_escaped(worst(400), limit)
    assert len(out) <= limit
    unescaped = out.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    assert "&" not in unescaped and "<" not in unescaped and ">" not in unescaped


def test_truncate_escaped_keeps_combining_marks_with_their_letter() -> None:
    text = "e\u0301\u0323" * 100
    for limit in range(2, 40):
        out = truncate_escaped(text, limit)
        body = out.removesuffix("…")
        assert not body or not unicodedata.combining(body[0])
        assert len(body) % 3 == 0, (limit, body)  # whole letters only
    emoji = "👩🏽‍💻"  # four code points: woman, skin tone, zero-width joiner, laptop
    for limit in range(1, 30):
        body = truncate_escaped(emoji * 10, limit).removesuffix("…")
        assert body == emoji * (len(body) // len(emoji)), limit


def test_fit_leaves_text_that_fits_alone() -> None:
    assert fit("a & b", 9) == "a &amp; b"
    assert fit("a & b", 8) == "a &amp;…"
    assert fit("a & b", 7) == "a …"
    assert escape_mrkdwn("<&>") == "&lt;&amp;&gt;"


# --------------------------------------------------------------------------- one table of limits


def test_the_input_limits_fit_slacks_text_inputs() -> None:
    """What people may type (domain) fits what Slack's inputs accept (slack)."""
    for limit in (MAX_CHALLENGE, MAX_EXPERTISE, MAX_FIELD):
        assert limit <= limits.MAX_TEXT_INPUT


def test_the_emulator_enforces_the_same_limits_as_the_table() -> None:
    """The emulator keeps its own copy (it stands in for Slack); they must agree."""
    for name in (
        "MAX_MESSAGE_BLOCKS",
        "MAX_VIEW_BLOCKS",
        "MAX_SECTION_TEXT",
        "MAX_FIELD_TEXT",
        "MAX_VIEW_TITLE",
        "MAX_VIEW_BUTTON",
        "MAX_BUTTON_TEXT",
        "MAX_BUTTON_VALUE",
        "MAX_OPTION_TEXT",
        "MAX_OPTION_VALUE",
        "MAX_OPTIONS",
        "MAX_PLACEHOLDER",
        "MAX_LABEL",
        "MAX_HEADER_TEXT",
        "MAX_PRIVATE_METADATA",
        "MAX_ID",
        "MAX_CONTEXT_ELEMENTS",
        "MAX_ACTIONS_ELEMENTS",
    ):
        assert getattr(limits, name) == getattr(blockkit, name), name


def test_the_checks_can_fail() -> None:
    """The explicit walk and the validators reject a view past a limit."""
    view = blocks.build_pass_modal(1)
    view["title"]["text"] = "x" * 25
    view["blocks"][0]["text"]["text"] = "&" * 3001
    assert len(limit_problems(view)) == 2
    assert blockkit.validate_view(view)
    with pytest.raises(SlackObjectFormationError):
        View(**view).validate_json()
