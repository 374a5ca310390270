"""Starting fine-tuning: a stored dataset + options -> an estimate -> a job at the provider."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from admin.datasets.pricing import price_for, snapshot, training_cost
from admin.errors import TunebotError
from admin.providers.base import FineTuneProvider, JobSnapshot, Method, TrainRequest
from admin.tokens import base_model, encoding_name_for
from storage import job_repo, repo
from storage.db import SessionFactory
from storage.models import Dataset

# Base models OpenAI fine-tunes (supervised; DPO on the gpt-4o / gpt-4.1 families).
OPENAI_FINE_TUNABLE = (
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "gpt-3.5-turbo-0125",
    "gpt-3.5-turbo-1106",
    "gpt-3.5-turbo-0613",
    "davinci-002",
    "babbage-002",
)
_DPO_FAMILIES = ("gpt-4o", "gpt-4.1")


@dataclass(frozen=True)
class Estimate:
    model: str
    billed_tokens_per_epoch: int
    epochs: int
    price_per_1m: float | None
    cost_usd: float | None
    note: str = ""

    def describe(self) -> str:
        tokens = f"{self.billed_tokens_per_epoch:,} billed tokens × {self.epochs} epochs"
        if self.cost_usd is None:
            return f"{tokens}; no price is known for `{self.model}`{self.note}"
        return f"{tokens} × ${self.price_per_1m:g}/1M = about *${self.cost_usd:.2f}*{self.note}"


@dataclass(frozen=True)
class TrainPlan:
    dataset_id: int
    validation_id: int | None
    request: TrainRequest
    estimate: Estimate


def plan_training(
    session_factory: SessionFactory,
    *,
    dataset_ref: str,
    options: dict[str, Any],
    default_model: str,
    provider: FineTuneProvider,
) -> TrainPlan:
    """Check the dataset and options and price the job; raises TunebotError saying why not."""
    with session_factory() as session:
        dataset = _usable(session, dataset_ref, role="training")
        validation = None
        if options.get("validation"):
            validation = _usable(session, options["validation"], role="validation")
        model = options.get("model") or dataset.model or default_model
        if options.get("method", "supervised") not in ("supervised", "dpo"):
            raise TunebotError("`method=` is `supervised` or `dpo`.")
        method: Method = "dpo" if options.get("method") == "dpo" else "supervised"
        if options.get("beta") is not None and method != "dpo":
            raise TunebotError("`beta=` applies to DPO only: add `method=dpo`.")
        _check_model(model, method, provider.name)
        epochs = options.get("epochs") or dataset.report.get("epochs") or 3
        request = TrainRequest(
            training_file=str(dataset.provider_file_id),
            model=model,
            validation_file=validation.provider_file_id if validation else None,
            epochs=options.get("epochs"),
            learning_rate_multiplier=options.get("lr"),
            batch_size=options.get("batch"),
            suffix=options.get("suffix"),
            method=method,
            beta=options.get("beta"),
            seed=options.get("seed"),
            metadata={"tunebot_dataset": dataset.label},
        )
        return TrainPlan(
            dataset_id=dataset.id,
            validation_id=validation.id if validation else None,
            request=request,
            estimate=_estimate(dataset, model, int(epochs)),
        )


def start_training(
    plan: TrainPlan,
    *,
    provider: FineTuneProvider,
    session_factory: SessionFactory,
    user: str,
    channel: str | None,
) -> tuple[str, JobSnapshot]:
    """Create the job at the provider (ProviderError quotes its refusal) and record it."""
    snapshot_ = provider.create_job(plan.request)
    with session_factory.begin() as session:
        job = job_repo.create_job(
            session,
            values={
                "provider": provider.name,
                "provider_job_id": snapshot_.id,
                "dataset_id": plan.dataset_id,
                "validation_dataset_id": plan.validation_id,
                "base_model": plan.request.model,
                "method": plan.request.method,
                "hyperparameters": _hyperparameters(plan.request),
                "estimated_cost_usd": plan.estimate.cost_usd,
                "started_by": user,
                "channel_id": channel,
                "status": snapshot_.status,
            },
        )
        return job.label, snapshot_


def _usable(session: Any, ref: str, *, role: str) -> Dataset:
    match = re.fullmatch(r"(?:ds-)?(\d+)", ref.strip().lower())
    dataset = repo.get_dataset(session, dataset_id=int(match.group(1))) if match else None
    if dataset is None:
        raise TunebotError(f"There is no dataset `{ref}`. `/finetune datasets` lists them.")
    if not dataset.report.get("valid"):
        raise TunebotError(f"{dataset.label} is not valid, so it cannot be used for {role}.")
    if dataset.status != "uploaded" or not dataset.provider_file_id:
        raise TunebotError(
            f"{dataset.label} is not uploaded to the provider ({dataset.status}). "
            "Send the file again to retry the upload."
        )
    return dataset


def _check_model(model: str, method: str, provider: str) -> None:
    if provider not in ("openai", "azure"):
        return  # other providers name their own models; their refusal is quoted instead
    base = snapshot(base_model(model))
    if base not in OPENAI_FINE_TUNABLE:
        names = ", ".join(f"`{m}`" for m in OPENAI_FINE_TUNABLE[:5])
        raise TunebotError(
            f"`{model}` cannot be fine-tuned. Use a fine-tunable base model ({names}, ...) "
            "or one of your fine-tuned `ft:` models to continue training it."
        )
    if method == "dpo" and not base.startswith(_DPO_FAMILIES):
        raise TunebotError(f"DPO is available for the gpt-4o and gpt-4.1 families, not `{base}`.")


def _estimate(dataset: Dataset, model: str, epochs: int) -> Estimate:
    tokens = int((dataset.report.get("tokens") or {}).get("billed_per_epoch") or 0)
    price = price_for(base_model(model))
    note = ""
    counted_for = str(dataset.report.get("model") or dataset.model)
    if encoding_name_for(counted_for) != encoding_name_for(model):
        note = f" (tokens were counted for `{counted_for}`, so this is approximate)"
    return Estimate(
        model=model,
        billed_tokens_per_epoch=tokens,
        epochs=epochs,
        price_per_1m=price.per_million_usd if price else None,
        cost_usd=training_cost(price, tokens, epochs),
        note=note,
    )


def _hyperparameters(request: TrainRequest) -> dict[str, Any]:
    fields = {
        "n_epochs": request.epochs,
        "learning_rate_multiplier": request.learning_rate_multiplier,
        "batch_size": request.batch_size,
        "beta": request.beta,
        "seed": request.seed,
        "suffix": request.suffix,
    }
    return {k: v for k, v in fields.items() if v is not None}
