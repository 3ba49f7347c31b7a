"""Slack surface: listeners that translate, pure Block Kit builders, ids, middleware."""
