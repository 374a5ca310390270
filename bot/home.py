"""Publishing someone's Home tab: when they open it (bot.home_actions), after their click on
one of its buttons, and when what it shows changes (a refresh from the outbox)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from admin import home
from admin.providers.registry import Providers
from bot.config import Settings
from bot.home_views import build_home_view
from storage.db import SessionFactory
from storage.models import utcnow
from storage.repo import ModelRef

log = logging.getLogger(__name__)

# views.publish errors no retry mends: the refresh is dropped (the next visit publishes anew).
GONE = {"not_enabled", "user_not_found", "account_inactive", "user_disabled"}


class HomePublisher:
    """Publishes one person's Home tab as it is now: the dashboard for an admin."""

    def __init__(
        self,
        *,
        settings: Settings,
        session_factory: SessionFactory,
        providers: Providers,
        client: WebClient,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._providers = providers
        self._client = client
        self._clock = clock

    def __call__(self, user: str, *, note: str | None = None) -> None:
        settings = self._settings
        data = home.load(
            self._sessions,
            [(c.name, c) for c in self._providers],
            default_model=ModelRef(settings.base_model_provider, settings.base_model),
            is_admin=user in settings.admins,
            now=self._clock(),
            price=self._providers.answer_price,
            budget_usd=settings.monthly_budget_usd,
        )
        view = build_home_view(data, label=self._providers.label, note=note)
        try:
            self._client.views_publish(user_id=user, view=view)
        except SlackApiError as error:
            if error.response.get("error") not in GONE:
                raise
            log.warning("the Home tab of %s cannot be published: %s", user, error.response["error"])
