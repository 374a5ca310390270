"""Dataset engine: read any chat export, convert to chat JSONL, validate, count tokens, price."""
