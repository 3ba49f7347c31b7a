"""HTTP mode: Slack's requests at POST /slack/events, health at GET /healthz."""
