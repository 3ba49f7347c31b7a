"""Time-driven work: the outbox worker and the one-a-minute tick (APScheduler or cron)."""
