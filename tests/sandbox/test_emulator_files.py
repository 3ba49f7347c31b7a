"""The emulator's external file upload (files.getUploadURLExternal, the upload, then
files.completeUploadExternal), driven by slack_sdk's own files_upload_v2."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from peerbot.sandbox import SlackEmulator


def test_files_upload_v2_shares_the_bytes_in_a_dm(slack_emulator: SlackEmulator) -> None:
    client = WebClient(token=slack_emulator.bot_token, base_url=slack_emulator.api_url)
    user = slack_emulator.add_user("ada")
    channel = client.conversations_open(users=user)["channel"]["id"]
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    r = client.files_upload_v2(
        content=data, filename="chart.png", title="Asks per week", channel=channel,
        initial_comment="Your weekly digest", alt_txt="bars",
    )  # fmt: skip
    file_id = r["files"][0]["id"]
    stored = slack_emulator.file(file_id)
    assert stored is not None and stored["content"] == data and stored["shared"]
    (msg,) = slack_emulator.messages(channel)
    assert msg["text"] == "Your weekly digest"
    assert msg["files"][0]["id"] == file_id and msg["files"][0]["title"] == "Asks per week"


def test_completing_a_file_never_uploaded_is_refused(slack_emulator: SlackEmulator) -> None:
    client = WebClient(token=slack_emulator.bot_token, base_url=slack_emulator.api_url)
    ticket = client.files_getUploadURLExternal(filename="x.png", length=10)
    with pytest.raises(SlackApiError) as info:
        client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}])
    assert info.value.response["error"] == "file_not_found"
    with pytest.raises(SlackApiError) as info:
        client.api_call("files.getUploadURLExternal", params={"filename": "x.png"})
    assert info.value.response["error"] == "missing_argument"
