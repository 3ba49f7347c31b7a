"""A strict Slack stand-in on loopback: Web API emulator and request driver.

Imports only the standard library and ``slack_sdk`` (layer rule). See :class:`SlackEmulator` for
the Web API and :class:`SlackDriver` for requests Slack sends to the app.
"""

from peerbot.sandbox.driver import DriverResponse, SlackDriver
from peerbot.sandbox.methods import METHODS, SlackError
from peerbot.sandbox.server import Call, SlackEmulator

__all__ = ["METHODS", "Call", "DriverResponse", "SlackDriver", "SlackEmulator", "SlackError"]
