"""What every listener shares: who is acting (from Bolt's ``context``), short private replies to
the person who clicked, and what to do with a value that does not decode."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from peerbot.slack.codec import BadValue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who is acting, as Bolt read it from the request (``context.team_id`` and friends)."""

    team_id: str
    user_id: str
    enterprise_id: str | None = None


def actor(context: BoltContext) -> Actor:
    """The workspace, user and (for Enterprise Grid) organisation of this request."""
    if not context.team_id or not context.user_id:
        raise ValueError("the request names no workspace or no user")
    return Actor(context.team_id, context.user_id, context.enterprise_id)


BAD_VALUE_TEXT = (
    "That did not work: this button is out of date. Please try again from a new message."
)


def tell(respond: Respond | None, client: WebClient, context: BoltContext, text: str) -> None:
    """A private reply where the click happened: through the request's ``response_url`` when
    Slack gave one (messages), else ``chat.postEphemeral`` in the click's channel.

    Best effort: a reply that Slack refuses (a stale response_url, a channel the bot cannot post
    in) is one log line, not a traceback."""
    try:
        # Bolt's Respond has response_url None when Slack gave none (e.g. a click in a modal).
        if respond is not None and getattr(respond, "response_url", True):
            respond(text=text, response_type="ephemeral", replace_original=False)
            return
        if context.channel_id and context.user_id:
            client.chat_postEphemeral(channel=context.channel_id, user=context.user_id, text=text)
    except (SlackApiError, SlackRequestError, OSError) as exc:
        log.warning("could not reply privately to %s: %s", context.user_id, str(exc)[:200])


def bad_value(
    error: BadValue,
    respond: Respond | None,
    client: WebClient,
    context: BoltContext,
    *,
    reply: bool = True,
) -> None:
    """A button value or modal metadata that did not decode: one log line, a clear reply."""
    log.warning("ignoring a bad value from %s: %s", context.user_id, error)
    if reply:
        tell(respond, client, context, BAD_VALUE_TEXT)


_T_co = TypeVar("_T_co", covariant=True)


class Decoder(Protocol[_T_co]):
    """One of the codecs in ``peerbot.slack.codec``."""

    def decode(self, value: object) -> _T_co:
        """The typed value, or :class:`BadValue`."""
        ...


def decoded(
    decoder: Decoder[_T_co],
    value: object,
    respond: Respond | None,
    client: WebClient,
    context: BoltContext,
    *,
    reply: bool = True,
) -> _T_co | None:
    """``value`` decoded, or None once a bad one was logged (and, with ``reply``, answered)."""
    try:
        return decoder.decode(value)
    except BadValue as e:
        bad_value(e, respond, client, context, reply=reply)
        return None


_V = TypeVar("_V")
_R = TypeVar("_R")

#: How a listener answers privately: :func:`tell`, or a variant with the same arguments.
Say = Callable[[Respond | None, WebClient, BoltContext, str], None]


def answer_click(
    decoder: Decoder[_V],
    action: dict[str, Any],
    context: BoltContext,
    respond: Respond | None,
    client: WebClient,
    service: Callable[[str, _V, str], _R] | None,
    replies: Mapping[_R, str],
    *,
    say: Say = tell,
) -> _R | None:
    """What a button listener does after ``ack()``: decode the button's value (a bad one is
    logged and answered, see :func:`decoded`), call ``service(team_id, value, user_id)`` as the
    person who clicked, and answer privately with ``replies[result]`` when the table has a text
    for the result (``say``, :func:`tell` by default).

    Returns the service's result, or None when the value did not decode or there is no
    ``service`` here (a feature not switched on: the value is still checked, nothing happens).
    """
    value = decoded(decoder, action.get("value"), respond, client, context)
    if value is None or service is None:
        return None
    who = actor(context)
    result = service(who.team_id, value, who.user_id)
    text = replies.get(result)
    if text:
        say(respond, client, context, text)
    return result
