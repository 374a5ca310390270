"""/finetune in Slack: admins only, usage errors at once and privately, slow work after the ack."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from admin import deployments, job_stages
from admin.commands import FOR_CHANNEL_KEY, Command, help_text, parse_command
from admin.errors import TunebotError, new_reference
from admin.training import plan_training, start_training
from bot import feedback, greeting, job_views, upload_views
from bot.admins import audit, require_admin
from bot.deps import Deps
from bot.eval_commands import run_eval_command
from bot.model_commands import model_lines, run_model_command
from bot.usage_commands import show_usage
from storage import job_repo, repo

log = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    guard = require_admin(deps)

    @app.command("/finetune", middleware=[guard])
    def run_finetune(
        ack: Ack, command: dict[str, Any], context: BoltContext, respond: Respond
    ) -> None:
        user, text = command["user_id"], command.get("text") or ""
        try:
            parsed = parse_command(text, deps.providers)
        except TunebotError as error:
            ack(response_type="ephemeral", text=str(error))
            audit(deps, user, "/finetune", text, "usage error")
            return
        if parsed.name == "help":
            ack(response_type="ephemeral", text=help_text(deps.providers))
            return
        ack()
        assert context.client is not None
        handle(deps, context.client, parsed, command, respond)

    @app.action(job_views.CONFIRM_ACTION, middleware=[guard])
    def confirm_training(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond
    ) -> None:
        ack()
        user = body["user"]["id"]
        text = action["value"]
        try:
            parsed = parse_command(text, deps.providers)
            channel = (body.get("channel") or {}).get("id")
            outcome = train(deps, parsed, text, user, channel, respond, confirmed=True)
        except TunebotError as error:
            respond(replace_original=True, text=str(error))
            outcome = f"refused: {error}"
        audit(deps, user, "/finetune train (confirmed)", text, outcome)

    @app.action(job_views.CANCEL_ACTION, middleware=[guard])
    def cancel_training(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        respond(replace_original=True, text="Not started.")
        audit(deps, body["user"]["id"], "/finetune train (declined)", "", "not started")


def handle(
    deps: Deps, client: WebClient, parsed: Command, command: dict[str, Any], respond: Respond
) -> None:
    """Run one admin command after the ack; every outcome is audited."""
    user = command["user_id"]
    try:
        outcome = _dispatch(deps, client, parsed, command, respond)
    except TunebotError as error:
        respond(response_type="ephemeral", text=str(error))
        outcome = f"refused: {error}"
    except Exception:
        reference = new_reference()
        log.exception("/finetune %s failed (ref %s)", parsed.name, reference)
        respond(response_type="ephemeral", text=f"Sorry, that did not work. (ref `{reference}`)")
        outcome = f"error {reference}"
    audit(deps, user, f"/finetune {parsed.name}", command.get("text") or "", outcome)


def _dispatch(
    deps: Deps, client: WebClient, parsed: Command, command: dict[str, Any], respond: Respond
) -> str:
    name, user = parsed.name, command["user_id"]
    if name == "providers":
        text = job_views.build_provider_list(deps.providers, deps.providers.today())
        respond(response_type="ephemeral", text=text + _deployment_lines(deps))
        return "listed"
    if name == "upload":
        client.views_open(
            trigger_id=command["trigger_id"],
            view=upload_views.build_upload_view(deps.settings.base_model),
        )
        return "opened the upload form"
    if name == "datasets":
        with deps.session_factory() as session:
            rows = repo.list_datasets(session, limit=20)
        text = upload_views.build_dataset_list(rows, deps.providers.label)
        respond(response_type="ephemeral", text=text)
        return "listed"
    if name == "train":
        return train(
            deps,
            parsed,
            command.get("text") or "",
            user,
            command.get("channel_id"),
            respond,
            confirmed=False,
        )
    if name == "jobs":
        with deps.session_factory() as session:
            jobs = job_repo.list_jobs(session, limit=15)
        respond(response_type="ephemeral", text=job_views.build_job_list(jobs))
        return "listed"
    if name in ("status", "cancel", "pause", "resume", "events", "checkpoints"):
        job = _job(deps, parsed.args[0])
        provider = deps.providers.get(job.provider)
        if name == "status":
            text = job_views.build_job_status(job, provider.get_job(job.provider_job_id))
        elif name == "events":
            with deps.session_factory() as session:
                events = job_repo.job_events(session, job_id=job.id, limit=15)
            text = job_views.build_events(job, events)
        elif name == "checkpoints":
            text = job_views.build_checkpoints(job, provider.list_checkpoints(job.provider_job_id))
        else:
            action = {
                "cancel": provider.cancel_job,
                "pause": provider.pause_job,
                "resume": provider.resume_job,
            }[name]
            snap = action(job.provider_job_id)
            respond(
                response_type="in_channel",
                text=f"<@{user}> asked to {name} {job.label}: it is now *{snap.status}*.",
            )
            return f"{name}: {snap.status}"
        respond(response_type="ephemeral", text=text)
        return "shown"
    if name == "models":
        text = job_views.build_model_list(model_lines(deps), deps.providers)
        respond(response_type="ephemeral", text=text + _deployment_lines(deps))
        return "listed"
    if name in ("use", "rollback", "prompt", "channels"):
        return run_model_command(deps, parsed, user, respond)
    if name in ("eval", "promote"):
        return run_eval_command(deps, parsed, user, respond)
    if name in ("deploy", "undeploy"):
        return _deployment_command(deps, parsed, user, respond)
    if name == "feedback":
        return feedback.show_feedback(deps, client, respond)
    if name == "feedback dataset":
        return feedback.export_feedback(deps, parsed, user, respond)
    if name in ("prompts", "prompts reset"):
        return greeting.run_prompts_command(deps, parsed, user, respond)
    if name == "usage":
        return show_usage(deps, parsed, respond)
    raise TunebotError(f"`{name}` is not available.")


def _deployment_lines(deps: Deps) -> str:
    """Paid deployments still running, with what each costs per day ("" when none)."""
    running = deployments.describe(deployments.running(deps.providers))
    return "\n*Deployments*\n" + "\n".join(running) if running else ""


def _deployment_command(deps: Deps, parsed: Command, user: str, respond: Respond) -> str:
    if parsed.name == "deploy":
        label = job_stages.approve_deployment(deps.session_factory, ref=parsed.args[0])
        text = f"<@{user}> approved the deployment of {label}; it goes live once it answers."
    else:
        text = deployments.undeploy(
            deps.session_factory,
            [(p.name, p) for p in deps.providers],
            model=parsed.args[0],
            default_model=deps.base_model,
            provider=parsed.options.get("provider"),
        )
    respond(response_type="in_channel", text=text)
    return f"{parsed.name} {parsed.args[0]}"


def train(
    deps: Deps,
    parsed: Command,
    text: str,
    user: str,
    channel: str | None,
    respond: Respond,
    *,
    confirmed: bool,
) -> str:
    plan = plan_training(
        deps.session_factory,
        dataset_ref=parsed.args[0],
        provider=parsed.options.get("provider"),
        options=parsed.train,
        providers=deps.providers,
        default_model=deps.settings.base_model,
        for_channel=parsed.options.get(FOR_CHANNEL_KEY),
    )
    cost = plan.estimate.cost_usd
    if not confirmed and cost is not None and cost > deps.settings.confirm_above_usd:
        respond(
            response_type="ephemeral",
            text=f"Confirm: {plan.estimate.describe()}",
            blocks=job_views.build_confirmation(plan, text, deps.settings.confirm_above_usd),
        )
        return f"asked to confirm ${cost:.2f}"
    label, snap = start_training(
        plan,
        providers=deps.providers,
        store=deps.store,
        session_factory=deps.session_factory,
        user=user,
        channel=channel,
    )
    respond(
        response_type="in_channel",
        replace_original=confirmed,
        text=f"<@{user}> started *{label}* (`{snap.id}`) at {deps.providers.label(plan.provider)}: "
        f"ds-{plan.dataset_id} on `{plan.request.model}`, {plan.estimate.describe()}. "
        f"{plan.held_out} I will post here when it is done; "
        f"`/finetune status {label}` shows progress.",
    )
    return f"started {label} ({snap.id})"


def _job(deps: Deps, ref: str) -> Any:
    with deps.session_factory() as session:
        job = job_repo.find_job(session, ref=ref)
    if job is None:
        raise TunebotError(f"There is no job `{ref}`. `/finetune jobs` lists them.")
    return job
