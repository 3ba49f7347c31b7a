"""peerbot: just-in-time peer help among managers, inside Slack."""

__version__ = "0.1.0"
