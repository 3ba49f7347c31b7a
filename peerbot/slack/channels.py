"""Private channels for circles of 9 or 10 (a group DM holds at most 8 people and the app):
the Slack side of ``peerbot.domain.circle_notices.ChannelMaker``. Needs ``groups:write``."""

from __future__ import annotations

from peerbot.domain.ports import Failure
from peerbot.slack.gateway import SlackCallError, WebApi

#: Tries with a numbered name when the name is taken (e.g. a channel left by a crash).
NAME_TRIES = 5


class SlackChannels:
    """Creates a private channel (``conversations.create``) and invites the members
    (``conversations.invite``)."""

    def __init__(self, gateway: WebApi) -> None:
        self._gateway = gateway

    def private_channel(self, team_id: str, name: str, user_ids: tuple[str, ...]) -> str:
        """The new channel's id; raises :class:`SlackCallError` when Slack refuses."""
        channel_id = ""
        for n in range(NAME_TRIES):
            try:
                answer = self._gateway.call(
                    team_id,
                    "conversations.create",
                    {"name": name if n == 0 else f"{name}-{n + 1}", "is_private": True},
                )
            except SlackCallError as err:
                if err.code == "name_taken" and n + 1 < NAME_TRIES:
                    continue
                raise
            channel = answer.get("channel")
            if isinstance(channel, dict) and isinstance(channel.get("id"), str):
                channel_id = channel["id"]
            break
        if not channel_id:
            raise SlackCallError("unexpected_answer", Failure.TRANSIENT)
        self._gateway.call(
            team_id, "conversations.invite", {"channel": channel_id, "users": ",".join(user_ids)}
        )
        return channel_id

    def remove(self, team_id: str, channel_id: str, user_id: str) -> None:
        """``conversations.kick``; someone already gone from the channel is fine."""
        try:
            self._gateway.call(
                team_id, "conversations.kick", {"channel": channel_id, "user": user_id}
            )
        except SlackCallError as err:
            if err.code != "not_in_channel":
                raise
