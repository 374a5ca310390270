"""Loopback emulators of the Slack Web API and the OpenAI API, driven through the real SDKs."""
