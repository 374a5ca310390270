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
from admin.providers.base import JobSnapshot, Method, TrainRequest
from admin.providers.plugin import PROVIDER_OPTION_KEY, Estimate
from admin.providers.registry import Configured, Providers
from admin.uploads import ensure_uploaded
from storage import job_repo, repo
from storage.db import SessionFactory
from storage.models import Dataset

# Options tunebot reads itself rather than passing to the provider.
_OWN_OPTIONS = {PROVIDER_OPTION_KEY, "model", "validation", "method"}
_REQUEST_FIELDS = {f.name for f in dataclasses.fields(TrainRequest)}


@dataclass(frozen=True)
class TrainPlan:
    provider: str
    dataset_id: int
    # The held-out data the eval gate compares models on: `validation=`, else the share set
    # aside with `split=` when the dataset was added; None when there is none.
    validation_id: int | None
    request: TrainRequest  # file ids are filled in when the job starts
    estimate: Estimate
    # The provider takes a validation file too (and then reports validation loss).
    sends_validation: bool = False
    held_out: str = ""  # one sentence for the admin: which held-out data, or how to add it


def plan_training(
    session_factory: SessionFactory,
    *,
    dataset_ref: str,
    options: dict[str, Any],
    providers: Providers,
    default_model: str,
) -> TrainPlan:
    """Check the dataset and options and price the job; raises TunebotError saying why not."""
    configured = providers.get(options.get(PROVIDER_OPTION_KEY))
    plugin = configured.plugin
    refusal = plugin.new_jobs_refusal(providers.today())
    if refusal:
        raise TunebotError(
            f"{configured.label} takes no new fine-tuning jobs: {refusal}."
            + retrain_hint(providers, dataset_ref, exclude=configured.name)
        )
    with session_factory() as session:
        dataset = _usable(session, dataset_ref, role="training")
        validation = None
        if options.get("validation"):
            validation = _usable(session, options["validation"], role="validation")
            if validation.id == dataset.id:
                raise TunebotError(
                    f"{dataset.label} cannot be its own held-out data: name another dataset "
                    "with `validation=`."
                )
        else:
            validation = _linked_held_out(session, dataset)
        model = options.get("model") or _default_model(
            configured, providers, dataset, default_model
        )
        method: Method = "dpo" if options.get("method") == "dpo" else "supervised"
        if options.get("beta") is not None and method != "dpo":
            raise TunebotError("`beta=` applies to DPO only: add `method=dpo`.")
        plugin.check_model(model, method)
        fields: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in options.items():
            if key in _OWN_OPTIONS:
                continue
            option = plugin.option(key)
            target = option.field if option is not None else key
            (fields if target in _REQUEST_FIELDS else extra)[target] = value
        request = TrainRequest(
            training_file="",
            model=model,
            method=method,
            metadata={"tunebot_dataset": dataset.label},
            extra=extra,
            **fields,
        )
        epochs = int(options.get("epochs") or dataset.report.get("epochs") or 3)
        sends = validation is not None and plugin.option("validation") is not None
        return TrainPlan(
            provider=configured.name,
            dataset_id=dataset.id,
            validation_id=validation.id if validation else None,
            request=request,
            estimate=plugin.estimate(dataset.report, model, epochs),
            sends_validation=sends,
            held_out=_held_out_sentence(
                dataset, validation, named=bool(options.get("validation")), sends=sends
            ),
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
    configured = providers.get(plan.provider)

    def file_of(dataset_id: int) -> str:
        return ensure_uploaded(
            session_factory,
            dataset_id=dataset_id,
            provider=configured,
            providers=providers,
            store=store,
        )

    request = dataclasses.replace(
        plan.request,
        training_file=file_of(plan.dataset_id),
        validation_file=(
            file_of(plan.validation_id) if plan.validation_id and plan.sends_validation else None
        ),
    )
    snapshot_ = configured.gateway.create_job(request)
    with session_factory.begin() as session:
        job = job_repo.create_job(
            session,
            values={
                "provider": configured.name,
                "provider_job_id": snapshot_.id,
                "dataset_id": plan.dataset_id,
                "validation_dataset_id": plan.validation_id,
                "base_model": request.model,
                "method": request.method,
                "hyperparameters": _hyperparameters(request),
                "estimated_cost_usd": plan.estimate.cost_usd,
                "started_by": user,
                "channel_id": channel,
                "status": snapshot_.status,
                "stage": JobStage.TRAINING,
            },
        )
        plans.queue(session, job)  # the plan message in the admin's DM starts here
        return job.label, snapshot_


def retrain_hint(providers: Providers, dataset_ref: str | None, *, exclude: str) -> str:
    """' Retrain it elsewhere: `/finetune train ds-N provider=X model=Y`.' or ''."""
    for configured in providers:
        plugin = configured.plugin
        if configured.name == exclude or plugin.new_jobs_refusal(providers.today()):
            continue
        if not plugin.default_base_model:
            continue
        dataset = dataset_ref or "ds-N"
        return (
            f" Train the same dataset on {configured.label} instead: `/finetune train {dataset} "
            f"provider={configured.name} model={plugin.default_base_model}`."
        )
    return ""


def _default_model(
    configured: Configured, providers: Providers, dataset: Dataset, default_model: str
) -> str:
    if configured.name == providers.base and dataset.model:
        return dataset.model or default_model
    if configured.plugin.default_base_model:
        return configured.plugin.default_base_model
    raise TunebotError(f"Name the base model to fine-tune at {configured.label} with `model=`.")


def _linked_held_out(session: Any, dataset: Dataset) -> Dataset | None:
    """The part set aside with `split=` when `dataset` was added, if it can be evaluated on."""
    part = repo.held_out_part(session, dataset_id=dataset.id)
    return part if part is not None and part.report.get("valid") else None


def _held_out_sentence(
    dataset: Dataset, validation: Dataset | None, *, named: bool, sends: bool
) -> str:
    if validation is None:
        return (
            f"No held-out data for {dataset.label}: the new model will go live without an "
            f"evaluation. {HOW_TO_HOLD_OUT}"
        )
    source = "named with `validation=`" if named else f"set aside when {dataset.label} was added"
    count = validation.examples
    uses = "the eval gate compares the new model with the current one on it before it goes live"
    if sends:
        uses += ", and the provider reports validation loss on it"
    example = "example" if count == 1 else "examples"
    return f"Held-out data: {validation.label} ({count} {example}, {source}); {uses}."


def _usable(session: Any, ref: str, *, role: str) -> Dataset:
    match = re.fullmatch(r"(?:ds-)?(\d+)", ref.strip().lower())
    dataset = repo.get_dataset(session, dataset_id=int(match.group(1))) if match else None
    if dataset is None:
        raise TunebotError(f"There is no dataset `{ref}`. `/finetune datasets` lists them.")
    if not dataset.report.get("valid"):
        raise TunebotError(f"{dataset.label} is not valid, so it cannot be used for {role}.")
    return dataset


def _hyperparameters(request: TrainRequest) -> dict[str, Any]:
    fields = {
        "n_epochs": request.epochs,
        "learning_rate_multiplier": request.learning_rate_multiplier,
        "learning_rate": request.learning_rate,
        "batch_size": request.batch_size,
        "beta": request.beta,
        "seed": request.seed,
        "suffix": request.suffix,
        **request.extra,
    }
    return {k: v for k, v in fields.items() if v is not None}
