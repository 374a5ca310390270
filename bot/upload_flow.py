"""The /finetune upload form's submissions: pick the speaker in the form, report by DM."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from admin.datasets.options import DatasetOptions
from admin.errors import TunebotError
from admin.intake import IntakeOptions
from bot import upload_views
from bot.admins import require_admin
from bot.datasets import intake_options, take_file
from bot.deps import Deps


def register(app: App, deps: Deps) -> None:
    guard = require_admin(deps)

    @app.view(upload_views.UPLOAD_CALLBACK, middleware=[guard])
    def submit_upload(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
    ) -> None:
        try:
            given = upload_views.read_upload_form(view["state"]["values"])
        except TunebotError as error:
            ack(response_action="errors", errors={"split": str(error)})
            return
        ack(response_action="update", view=upload_views.build_working_view("Reading the file…"))
        assert context.client is not None
        _continue_upload(deps, context.client, body["user"]["id"], view["id"], given)

    @app.view(upload_views.SPEAKER_CALLBACK, middleware=[guard])
    def submit_speaker(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
    ) -> None:
        given = json.loads(view["private_metadata"])
        given["assistant"] = upload_views.read_speaker(view["state"]["values"])
        ack(response_action="clear")
        assert context.client is not None
        _continue_upload(deps, context.client, body["user"]["id"], None, given)


def _continue_upload(
    deps: Deps, client: WebClient, user: str, view_id: str | None, given: dict[str, Any]
) -> None:
    """After a form is submitted: ask for the speaker in the form if needed, else report by DM."""
    file_id = given.pop("file_id")
    options: IntakeOptions = intake_options(deps, DatasetOptions.model_validate(given))
    dm = client.conversations_open(users=user)["channel"]["id"]
    if view_id is not None and not options.assistant:
        speakers = upload_views.speakers_of(deps, client, file_id)
        if speakers:
            client.views_update(
                view_id=view_id,
                view=upload_views.build_speaker_view(speakers, {**given, "file_id": file_id}),
            )
            return
    if view_id is not None:
        client.views_update(
            view_id=view_id,
            view=upload_views.build_working_view(
                "Checking the file. The report will arrive in your DM with me."
            ),
        )
    take_file(deps, client, user=user, channel=dm, thread=None, file_id=file_id, options=options)
