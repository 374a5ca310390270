"""/finetune eval and promote: a job's evaluation report, a re-run on demand, an override."""

from __future__ import annotations

from slack_bolt import Respond

from admin import job_stages
from admin.commands import Command
from admin.evaluation import actions
from bot.deps import Deps
from storage.models import utcnow


def run_eval_command(deps: Deps, parsed: Command, user: str, respond: Respond) -> str:
    """Both subcommands after the ack; returns the audit outcome."""
    job_ref = parsed.args[0]
    if parsed.name == "promote":
        model = job_stages.promote(
            deps.session_factory,
            ref=job_ref,
            user=user,
            notify_channel=deps.settings.notify_channel,
        )
        respond(
            response_type="in_channel",
            text=f"<@{user}> promoted {job_ref}: tunebot answers with `{model}` from now on.",
        )
        return f"promoted {model}"
    against = parsed.options.get("against")
    if against is None:
        text, blocks = actions.show(deps.session_factory, job_ref=job_ref)
        respond(response_type="ephemeral", text=text, blocks=blocks)
        return "shown"
    respond(
        response_type="ephemeral",
        text=f"Evaluating {job_ref} against `{against}` on its held-out data; the report "
        "follows here when both models have answered.",
    )
    text, blocks = actions.evaluate_now(
        deps.evaluation(),
        job_ref=job_ref,
        against=against,
        provider=parsed.options.get("provider"),
        user=user,
        clock=utcnow,
    )
    respond(response_type="ephemeral", text=text, blocks=blocks)
    return f"evaluated against {against}"
