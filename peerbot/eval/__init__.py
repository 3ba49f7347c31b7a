"""Offline evaluation and benchmarks of matching.

``peerbot eval routing`` and ``peerbot bench match``.
"""
