"""Use-cases: ask, match, offer, intro, check-in, close-out. Each runs in one unit of work."""
