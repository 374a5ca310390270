"""The `local` provider through the real bot: /finetune train, the trainer, the swap, a reply."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.local_helpers import QA, chat_jsonl, require_train_extra

require_train_extra()

from admin.poller import tick  # noqa: E402
from emulators.sandbox import Sandbox  # noqa: E402
from emulators.vllm import VllmEmulator  # noqa: E402
from storage import job_repo, repo  # noqa: E402
from tests.sandbox_helpers import ADMIN, NOTIFY, command, final_reply, send  # noqa: E402
from trainer.worker import Worker  # noqa: E402


def test_a_local_job_from_slack_trains_swaps_in_and_answers_through_vllm(
    database_url: str, tiny_model: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    with (
        VllmEmulator(tiny_model) as vllm,
        Sandbox.open(
            database_url=database_url,
            admins=frozenset({ADMIN}),
            notify_channel=NOTIFY,
            provider_env={"TUNEBOT_VLLM_URL": vllm.base_url, "TUNEBOT_MODEL_DIR": str(models)},
        ) as box,
    ):
        box.slack.add_user("admin", user_id=ADMIN)
        box.slack.add_channel("ml", channel_id=NOTIFY)
        data = chat_jsonl(tmp_path / "qa.jsonl", QA * 3).read_bytes()
        dm, ts = send(box, ADMIN, "qa.jsonl", data)
        assert "Stored as" in final_reply(box, dm, ts, "Stored as", "Nothing was stored")

        answer = command(
            box,
            f"train ds-1 provider=local model={vllm.served_name} epochs=10 lr=0.02 batch=4 "
            "lora_r=8 lora_alpha=16 lora_dropout=0 max_len=64",
        )
        assert "job-1" in answer["text"] or "local-1" in answer["text"], answer["text"]

        worker = Worker(box.deps.session_factory, box.settings.dataset_dir, models)
        assert worker.run_once()
        tick(box.deps.poller())
        tick(box.deps.poller())

        with box.deps.session_factory() as session:
            [job] = job_repo.list_jobs(session)
            adapter = job.callable_model
        assert adapter and adapter.startswith("tunebot-") and adapter in vllm.loras
        user = box.slack.add_user("minji")
        asked = box.slack.post_as_user(user, NOTIFY, f"<@{box.slack.bot_user_id}> {QA[0][0]}")
        assert box.wait_for_turn(NOTIFY, asked.ts, timeout=30).model == adapter
        assert vllm.chats[-1]["model"] == adapter and "max_tokens" in vllm.chats[-1]

        # vLLM restarts and forgets runtime-loaded adapters: the scheduler loads it again.
        vllm.restart()
        assert adapter not in vllm.loras
        tick(box.deps.poller())
        assert adapter in vllm.loras

        # Restarted again with the adapter's folder gone: back to the base model, said once.
        vllm.restart()
        shutil.rmtree(models / adapter)
        tick(box.deps.poller())
        tick(box.deps.poller())
        with box.deps.session_factory() as session:
            assert repo.get_active_model(session, default=box.deps.base_model) == (
                box.deps.base_model
            )
        gone = [
            m for m in box.slack.messages(NOTIFY) if "cannot be served" in (m.get("text") or "")
        ]
        assert len(gone) == 1 and adapter in gone[0]["text"]
