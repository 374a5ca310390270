"""Starting fine-tuning: a stored dataset + options -> an estimate -> a job at a provider."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from admin import plans
from admin.datastore import DatasetStore
from admin.errors import TunebotError
from admin.evaluation.heldout import HOW_TO_HOLD_OUT
from admin.job_stages import JobStage
from admin.providers.base import JobSnapshot, TrainRequest
from admin.providers.options import TrainOptions
from admin.providers.plugin import Estimate, Provider
from admin.providers.registry import Providers
from admin.uploads import ensure_uploaded
from storage import job_repo, repo
from storage.db import SessionFactory
from storage.models import Dataset


@dataclass(frozen=True)
class TrainPlan:
    provider: str
    dataset_id: int
    # The held-out data the eval gate compares models on: `validation=`, else the share set
    # aside with `split=` when the dataset was added; None when there is none. It is also the
    # job's validation file at the provider (which then reports validation loss).
    validation_id: int | None
    request: TrainRequest  # file ids are filled in when the job starts
    estimate: Estimate
    held_out: str = ""  # one sentence for the admin: which held-out data, or how to add it
    # `for=#c`: compared with that channel's model and swapped into that channel only.
    for_channel: str | None = None


def plan_training(
    session_factory: SessionFactory,
    *,
    dataset_ref: str,
    provider: str | None,
    options: TrainOptions | None,
    providers: Providers,
    default_model: str,
    for_channel: str | None = None,
) -> TrainPlan:
    """Check the dataset and options and price the job; raises TunebotError saying why not.

    `options` are validated by the provider's own `Options` (None: its defaults).
    """
    chosen = providers.get(provider)
    options = options if options is not None else chosen.Options()
    refusal = chosen.new_jobs_refusal(providers.today())
    if refusal:
        raise TunebotError(
            f"{chosen.label} takes no new fine-tuning jobs: {refusal}."
            + retrain_hint(providers, dataset_ref, exclude=chosen.name)
        )
    with session_factory() as session:
        dataset = _usable(session, dataset_ref, role="training")
        validation = None
        if options.validation:
            validation = _usable(session, options.validation, role="validation")
            if validation.id == dataset.id:
                raise TunebotError(
                    f"{dataset.label} cannot be its own held-out data: name another dataset "
                    "with `validation=`."
                )
        else:
            validation = _linked_held_out(session, dataset)
        model = options.model or _default_model(chosen, providers, dataset, default_model)
        chosen.check_model(model, options.training_method())
        request = TrainRequest(
            training_file="",
            model=model,
            options=options,
            metadata={"tunebot_dataset": dataset.label},
        )
        epochs = int(getattr(options, "epochs", None) or dataset.report.get("epochs") or 3)
        return TrainPlan(
            provider=chosen.name,
            dataset_id=dataset.id,
            validation_id=validation.id if validation else None,
            request=request,
            estimate=chosen.estimate(dataset.report, model, epochs),
            held_out=_held_out_sentence(
                dataset, validation, named=bool(options.validation), for_channel=for_channel
            ),
            for_channel=for_channel,
        )


def start_training(
    plan: TrainPlan,
    *,
    providers: Providers,
    store: DatasetStore | None,
    session_factory: SessionFactory,
    user: str,
    channel: str | None,
) -> tuple[str, JobSnapshot]:
    """Upload the data where needed, create the job (ProviderError quotes a refusal), record it
    with the first version of its plan."""
    provider = providers.get(plan.provider)

    def file_of(dataset_id: int) -> str:
        return ensure_uploaded(
            session_factory,
            dataset_id=dataset_id,
            provider=provider,
            providers=providers,
            store=store,
        )

    request = dataclasses.replace(
        plan.request,
        training_file=file_of(plan.dataset_id),
        validation_file=file_of(plan.validation_id) if plan.validation_id else None,
    )
    snapshot_ = provider.create_job(request)
    with session_factory.begin() as session:
        job = job_repo.create_job(
            session,
            values={
                "provider": provider.name,
                "provider_job_id": snapshot_.id,
                "dataset_id": plan.dataset_id,
                "validation_dataset_id": plan.validation_id,
                "base_model": request.model,
                "method": request.method,
                "hyperparameters": request.options.provider_fields(),
                "estimated_cost_usd": plan.estimate.cost_usd,
                "started_by": user,
                "channel_id": channel,
                "for_channel": plan.for_channel,
                "status": snapshot_.status,
                "stage": JobStage.TRAINING,
            },
        )
        plans.queue(session, job)  # the plan message in the admin's DM starts here
        return job.label, snapshot_


def retrain_hint(providers: Providers, dataset_ref: str | None, *, exclude: str) -> str:
    """' Retrain it elsewhere: `/finetune train ds-N provider=X model=Y`.' or ''."""
    for provider in providers:
        if provider.name == exclude or provider.new_jobs_refusal(providers.today()):
            continue
        if not provider.default_base_model:
            continue
        dataset = dataset_ref or "ds-N"
        return (
            f" Train the same dataset on {provider.label} instead: `/finetune train {dataset} "
            f"provider={provider.name} model={provider.default_base_model}`."
        )
    return ""


def _default_model(
    provider: Provider, providers: Providers, dataset: Dataset, default_model: str
) -> str:
    if provider.name == providers.base and dataset.model:
        return dataset.model or default_model
    if provider.default_base_model:
        return provider.default_base_model
    raise TunebotError(f"Name the base model to fine-tune at {provider.label} with `model=`.")


def _linked_held_out(session: Any, dataset: Dataset) -> Dataset | None:
    """The part set aside with `split=` when `dataset` was added, if it can be evaluated on."""
    part = repo.held_out_part(session, dataset_id=dataset.id)
    return part if part is not None and part.report.get("valid") else None


def _held_out_sentence(
    dataset: Dataset, validation: Dataset | None, *, named: bool, for_channel: str | None
) -> str:
    if validation is None:
        return (
            f"No held-out data for {dataset.label}: the new model will go live without an "
            f"evaluation. {HOW_TO_HOLD_OUT}"
        )
    source = "named with `validation=`" if named else f"set aside when {dataset.label} was added"
    current = f"<#{for_channel}>'s model" if for_channel else "the current one"
    example = "example" if validation.examples == 1 else "examples"
    return (
        f"Held-out data: {validation.label} ({validation.examples} {example}, {source}); the "
        f"eval gate compares the new model with {current} on it before it goes live, and the "
        "provider reports validation loss on it."
    )


def _usable(session: Any, ref: str, *, role: str) -> Dataset:
    match = re.fullmatch(r"(?:ds-)?(\d+)", ref.strip().lower())
    dataset = repo.get_dataset(session, dataset_id=int(match.group(1))) if match else None
    if dataset is None:
        raise TunebotError(f"There is no dataset `{ref}`. `/finetune datasets` lists them.")
    if not dataset.report.get("valid"):
        raise TunebotError(f"{dataset.label} is not valid, so it cannot be used for {role}.")
    return dataset
