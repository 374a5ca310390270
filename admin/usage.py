"""What tunebot costs: answer tokens priced by each provider's own declaration, the estimates of
training jobs, and the paid deployments running now; over a window (`/finetune usage`) or this
calendar month in UTC (the budget, the Home tab).

Nothing here is ever $0 for want of a price: tokens a provider declares no price for are
counted apart, as "price unknown".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from admin.errors import TunebotError
from admin.providers.base import Deployment, Deployments
from admin.providers.plugin import AnswerPrice, Provider
from storage import usage_repo
from storage.db import SessionFactory
from storage.usage_repo import GroupBy, TokenRow

log = logging.getLogger(__name__)

# (provider, model) -> what answering with it costs; None: unknown.
PriceLookup = Callable[[str | None, str], AnswerPrice | None]
UNKNOWN = "price unknown"


@dataclass
class TokenCost:
    """Tokens and what they cost: `usd` sums the priced ones; `unpriced` counts the rest."""

    answers: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0
    unpriced_tokens: int = 0
    prices: set[str] = field(default_factory=set)  # how each part was priced, for the reader

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def unknown_only(self) -> bool:
        """Whether none of it had a price: its cost is unknown, not $0."""
        return self.prices == {UNKNOWN}

    def add(self, row: TokenRow, price: AnswerPrice | None) -> None:
        self.answers += row.answers
        self.prompt_tokens += row.prompt_tokens
        self.completion_tokens += row.completion_tokens
        if price is None:
            self.unpriced_tokens += row.prompt_tokens + row.completion_tokens
            self.prices.add(UNKNOWN)
        else:
            self.usd += price.cost(row.prompt_tokens, row.completion_tokens)
            self.prices.add(price.describe())

    def merge(self, other: TokenCost) -> None:
        self.answers += other.answers
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.usd += other.usd
        self.unpriced_tokens += other.unpriced_tokens
        self.prices |= other.prices


def usd(amount: float) -> str:
    """Money as admins read it: cents, and sums below a cent to two significant digits, so a
    few answers' cost never reads as nothing."""
    if 0 < abs(amount) < 0.01:
        digits = min(8, 1 - math.floor(math.log10(abs(amount))))
        return f"${amount:.{digits}f}"
    return f"${amount:,.2f}"


def price_rows(rows: Iterable[TokenRow], price: PriceLookup) -> TokenCost:
    total = TokenCost()
    for row in rows:
        total.add(row, price(row.provider, row.model))
    return total


def month_start(now: datetime) -> datetime:
    """Midnight UTC on the first of `now`'s month: where this month's spend starts."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(now: datetime) -> datetime:
    """When this month's spend is back to nothing."""
    start = month_start(now)
    return (start + timedelta(days=32)).replace(day=1)


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


# -- paid deployments ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningDeployment:
    provider: str
    deployment: Deployment

    @property
    def daily_usd(self) -> float | None:
        hourly = self.deployment.hourly_usd
        return hourly * 24 if hourly is not None else None

    def month_usd(self, now: datetime) -> float | None:
        """What it has cost since it started or the month began (the later), at today's hourly
        price; None when its price or its start is not known."""
        hourly, since = self.deployment.hourly_usd, self.deployment.since
        if hourly is None or since is None:
            return None
        since = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
        hours = (now - max(since, month_start(now))).total_seconds() / 3600
        return hourly * max(0.0, hours)


def running_deployments(providers: Iterable[Provider]) -> list[RunningDeployment]:
    """Every deployment the configured providers run now; a provider that cannot list its
    deployments is left out (and logged)."""
    found = []
    for provider in providers:
        if not isinstance(provider, Deployments):
            continue
        try:
            listed = provider.list_deployments()
        except TunebotError as error:
            log.warning("listing %s deployments failed: %s", provider.name, error)
            continue
        found += [RunningDeployment(provider.name, d) for d in listed]
    return found


# -- this month ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthSpend:
    """Spend this calendar month (UTC) so far: what the budget is compared with."""

    month: str  # "2026-12"
    tokens: TokenCost
    training_usd: float  # the estimates of the jobs started this month
    training_jobs: int
    deployments_usd: float  # the paid deployments' cost this month, where known
    unpriced_deployments: int  # running, but their price or start is not known

    @property
    def total_usd(self) -> float:
        return self.tokens.usd + self.training_usd + self.deployments_usd


def month_spend(
    session_factory: SessionFactory,
    price: PriceLookup,
    deployments: Iterable[RunningDeployment],
    *,
    now: datetime,
) -> MonthSpend:
    start = month_start(now)
    with session_factory() as session:
        tokens = price_rows(usage_repo.token_rows(session, since=start), price)
        jobs, training = usage_repo.training_since(session, since=start)
    costs = [d.month_usd(now) for d in deployments]
    return MonthSpend(
        month=f"{start:%Y-%m}",
        tokens=tokens,
        training_usd=training,
        training_jobs=jobs,
        deployments_usd=sum(c for c in costs if c is not None),
        unpriced_deployments=sum(1 for c in costs if c is None),
    )


# -- /finetune usage -----------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageGroup:
    key: str  # a channel or user id, or "provider model"
    provider: str | None  # by model only
    model: str | None  # by model only
    cost: TokenCost


@dataclass(frozen=True)
class UsageReport:
    days: int
    since: datetime
    by: GroupBy
    groups: list[UsageGroup]  # the costliest first
    total: TokenCost
    deployments: list[RunningDeployment]
    now: datetime


# DMs with the bot are one group when grouped by channel: their ids say nothing to a reader.
DMS = "DMs"


def usage_report(
    session_factory: SessionFactory,
    price: PriceLookup,
    deployments: list[RunningDeployment],
    *,
    days: int,
    by: GroupBy,
    now: datetime,
) -> UsageReport:
    since = now - timedelta(days=days)
    with session_factory() as session:
        rows = usage_repo.token_rows(session, since=since, by=by)
    groups: dict[tuple[str | None, str | None, str], TokenCost] = {}
    for row in rows:
        if by is GroupBy.MODEL:
            key: tuple[str | None, str | None, str] = (row.provider, row.model, row.model)
        else:
            who = row.group or "?"
            key = (None, None, DMS if by is GroupBy.CHANNEL and who.startswith("D") else who)
        groups.setdefault(key, TokenCost()).add(row, price(row.provider, row.model))
    ordered = sorted(groups.items(), key=lambda item: (-item[1].usd, -item[1].tokens, item[0][2]))
    total = TokenCost()
    for _, cost in ordered:
        total.merge(cost)
    return UsageReport(
        days=days,
        since=since,
        by=by,
        groups=[UsageGroup(k[2], k[0], k[1], cost) for k, cost in ordered],
        total=total,
        deployments=deployments,
        now=now,
    )
