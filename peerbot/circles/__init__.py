"""Peer circles: small groups of managers formed from what they want to work on.

``formation`` is pure (numbers in, circles out, deterministic for a seed); ``theme`` names a
circle from its members' texts; ``evaluate`` measures a formation against random groups.
"""
