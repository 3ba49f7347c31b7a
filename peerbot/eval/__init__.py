"""Offline evaluation and benchmarks of matching (``peerbot eval routing``, ``peerbot bench match``)."""
