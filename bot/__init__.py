"""tunebot: the Slack-facing layer (app, chat, notifications, CLI)."""
