"""vLLM replicas that find adapters themselves (the filesystem resolver), and adapters let go
once tunebot serves them nowhere: through the real bot, the real trainer and emulated vLLM."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
from datetime import timedelta
from pathlib import Path

import openai
import pytest
from sqlalchemy import select

from tests.local_helpers import (
    QA,
    chat_jsonl,
    finished_run,
    greedy,
    local_gateway,
    require_train_extra,
    succeeded_job,
)

require_train_extra()

from admin.poller import tick  # noqa: E402
from admin.providers.base import NotReady  # noqa: E402
from admin.providers.local import Local  # noqa: E402
from admin.providers.registry import Providers, Registry  # noqa: E402
from admin.providers.vllm_api import VllmRefusal, VllmServer  # noqa: E402
from emulators.balancer import balancing  # noqa: E402
from emulators.sandbox import Sandbox  # noqa: E402
from emulators.vllm import VllmEmulator  # noqa: E402
from storage.db import SessionFactory  # noqa: E402
from storage.models import TrainingRun, utcnow  # noqa: E402
from storage.training_repo import RunStatus  # noqa: E402
from tests.sandbox_helpers import ADMIN, NOTIFY, command, final_reply, send  # noqa: E402
from trainer.worker import Worker  # noqa: E402

RESOLVER = {"TUNEBOT_VLLM_RESOLVER": "filesystem"}


def _started_as(tiny_model: Path, tmp_path: Path) -> Path:
    """The same model under another path: what `vllm serve <path>` names it as."""
    link = tmp_path / "served" / "team-base"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(tiny_model, target_is_directory=True)
    return link


def _calls(route: str, *servers: VllmEmulator) -> list[str]:
    return [path for s in servers for _, path in s.requests if path == f"/v1/{route}"]


def _loads(*servers: VllmEmulator) -> list[str]:
    return _calls("load_lora_adapter", *servers)


def _ask(base_url: str, model: str, question: str) -> str:
    """One chat on a connection of its own (a balancer sends each to the next replica)."""
    with openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0) as client:
        found = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": question}], max_tokens=16
        )
    return found.choices[0].message.content or ""


def _box(database_url: str, vllm_url: str, models: Path, **env: str) -> Sandbox:
    box = Sandbox.open(
        database_url=database_url,
        admins=frozenset({ADMIN}),
        notify_channel=NOTIFY,
        provider_env={"TUNEBOT_VLLM_URL": vllm_url, "TUNEBOT_MODEL_DIR": str(models), **env},
    )
    box.slack.add_user("admin", user_id=ADMIN)
    box.slack.add_channel("ml", channel_id=NOTIFY)
    return box


def test_two_replicas_answer_for_a_trained_adapter_that_nobody_loaded(
    database_url: str, tiny_model: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    # `vllm serve <path> --served-model-name <the id the trainer loads>`: the resolver compares
    # adapters with the path, so the trainer must write that, not the name it trained from.
    started = _started_as(tiny_model, tmp_path)
    replica = {"served_name": str(tiny_model), "resolver_dir": models}
    with (
        VllmEmulator(started, **replica) as a,
        VllmEmulator(started, **replica) as b,
        balancing([a.origin, b.origin]) as service,
        _box(database_url, f"{service.origin}/v1", models, **RESOLVER) as box,
    ):
        dm, ts = send(
            box, ADMIN, "qa.jsonl", chat_jsonl(tmp_path / "qa.jsonl", QA * 3).read_bytes()
        )
        assert "Stored as" in final_reply(box, dm, ts, "Stored as", "Nothing was stored")
        command(
            box,
            f"train ds-1 provider=local model={tiny_model} epochs=10 lr=0.02 batch=4 lora_r=8 "
            "lora_alpha=16 lora_dropout=0 max_len=64",
        )
        assert Worker(box.deps.session_factory, box.settings.dataset_dir, models).run_once()
        tick(box.deps.poller())
        tick(box.deps.poller())

        with box.deps.session_factory() as session:
            [run] = session.scalars(select(TrainingRun)).all()
        adapter = run.adapter_name
        config = json.loads((models / adapter / "adapter_config.json").read_text())
        assert config["peft_type"] == "LORA"
        assert config["base_model_name_or_path"] == a.model == str(started) != str(tiny_model)
        user = box.slack.add_user("minji")
        asked = box.slack.post_as_user(user, NOTIFY, f"<@{box.slack.bot_user_id}> {QA[0][0]}")
        assert box.wait_for_turn(NOTIFY, asked.ts, timeout=30).model == adapter  # it went live

        question = QA[2][0]
        answer = greedy(tiny_model, question, models / adapter)  # PEFT's own answer with it
        assert answer != greedy(tiny_model, question)
        assert [_ask(f"{service.origin}/v1", adapter, question) for _ in range(2)] == [answer] * 2
        assert adapter in a.loras and adapter in b.loras  # each replica resolved it itself
        listed = openai.OpenAI(base_url=b.base_url, api_key="unused").models.list()
        assert {m.id for m in listed} == {str(tiny_model), adapter}
        # A restarted replica forgets it and resolves it again; the scheduler does nothing.
        a.restart()
        before = len(a.requests)
        tick(box.deps.poller())
        assert a.requests[before:] == [] and adapter not in a.loras
        assert _ask(a.base_url, adapter, question) == answer
        assert _loads(a, b) == []


def _gateway(server: VllmEmulator, session_factory: SessionFactory, models: Path) -> Local:
    return local_gateway(server, session_factory, models.parent / "data", models, **RESOLVER)


def test_an_adapter_named_for_another_base_is_refused_as_vllm_refuses_it_and_tunebot_says_why(
    session_factory: SessionFactory, tiny_model: Path, trained_adapter: Path, tmp_path: Path
) -> None:
    name = trained_adapter.name
    config = json.loads((trained_adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_model)  # the name it was trained from
    started = _started_as(tiny_model, tmp_path)
    with VllmEmulator(started, resolver_dir=trained_adapter.parent) as vllm:
        with pytest.raises(openai.NotFoundError) as refused:
            _ask(vllm.base_url, name, "Hi")
        assert refused.value.body == {
            "message": f"The model `{name}` does not exist.",
            "type": "NotFoundError",
            "param": "model",
            "code": 404,
        }

        with pytest.raises(NotReady) as why:
            _gateway(vllm, session_factory, trained_adapter.parent).make_callable(
                succeeded_job(name)
            )
        said = str(why.value)
        assert f"names the base model `{tiny_model}`" in said
        assert f"vLLM was started with `{started}`" in said
        assert name not in vllm.loras and _loads(vllm) == []


def test_an_adapter_above_the_max_rank_is_found_but_not_loaded(
    session_factory: SessionFactory, tiny_model: Path, trained_adapter: Path
) -> None:
    with VllmEmulator(tiny_model, max_lora_rank=4, resolver_dir=trained_adapter.parent) as vllm:
        gateway = _gateway(vllm, session_factory, trained_adapter.parent)
        with pytest.raises(NotReady, match=r"was found but could not be loaded.*`lora_r=`"):
            gateway.make_callable(succeeded_job(trained_adapter.name))


def test_a_server_without_the_resolver_is_named_with_what_it_needs(
    session_factory: SessionFactory, tiny_model: Path, trained_adapter: Path
) -> None:
    with VllmEmulator(tiny_model) as vllm:  # runtime updating on, no resolver plugin
        gateway = _gateway(vllm, session_factory, trained_adapter.parent)
        with pytest.raises(NotReady, match="VLLM_PLUGINS=lora_filesystem_resolver"):
            gateway.make_callable(succeeded_job(trained_adapter.name))


def test_the_resolver_setting_takes_two_ways_and_names_itself_otherwise() -> None:
    bad = Registry.discover().bad_settings(
        {"TUNEBOT_VLLM_URL": "http://vllm:8000/v1", "TUNEBOT_VLLM_RESOLVER": "s3"}
    )
    assert bad == ["TUNEBOT_VLLM_RESOLVER must be `none` or `filesystem`, got 's3'"]


# -- letting go of adapters served nowhere -----------------------------------------------------


def _trained(session_factory: SessionFactory, adapter: Path, models: Path, name: str) -> None:
    """A run `tunebot trainer` finished, its adapter (a copy of the trained one) on disk."""
    shutil.copytree(adapter, models / name)
    (models / ".runs" / name / "checkpoint-10").mkdir(parents=True)
    finished_run(session_factory, name, RunStatus.SUCCEEDED)


@pytest.mark.parametrize("resolver", ["none", "filesystem"])
def test_after_swaps_and_a_rollback_an_adapter_served_nowhere_is_unloaded_then_removed_once(
    database_url: str,
    tiny_model: Path,
    trained_adapter: Path,
    tmp_path: Path,
    resolver: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    replicas = 2 if resolver == "filesystem" else 1  # runtime loading: one server
    servers = [
        VllmEmulator(tiny_model, resolver_dir=models if resolver == "filesystem" else None)
        for _ in range(replicas)
    ]
    with contextlib.ExitStack() as stack:
        for server in servers:
            stack.enter_context(server)
        service = stack.enter_context(balancing([s.origin for s in servers]))
        env = {"TUNEBOT_VLLM_RESOLVER": resolver, "TUNEBOT_ADAPTER_RETENTION_DAYS": "7"}
        with _box(database_url, f"{service.origin}/v1", models, **env) as box:
            old, kept, back = (
                "tunebot-old-0000000a",
                "tunebot-next-0000000b",
                "tunebot-last-0000000c",
            )
            for name in (old, kept, back):
                _trained(box.deps.session_factory, trained_adapter, models, name)
            scheduler = box.deps.poller()
            for name in (old, kept, back):
                command(box, f"use {name} provider=local")
                tick(scheduler)
                for server in servers:  # each replica answers with it (resolved or loaded)
                    assert _ask(server.base_url, name, QA[2][0]) == QA[2][1]
            back_to = command(box, "rollback")["text"]
            assert kept in back_to
            tick(scheduler)

            # Active: `kept`; its rollback target: `back`; `old` is served nowhere.
            for server in servers:
                assert {kept, back} <= set(server.loras) and old not in server.loras
            assert (models / old).is_dir()  # kept through the retention period
            # Past it, by the tick's clock, two schedulers remove its folder once.
            later = dataclasses.replace(scheduler, clock=lambda: utcnow() + timedelta(days=8))
            other = dataclasses.replace(later, providers=_providers(box))
            caplog.set_level(logging.INFO, logger="admin.providers.local_adapters")
            tick(later)
            tick(other)
            assert not (models / old).exists() and not (models / ".runs" / old).exists()
            assert all(
                (models / n).is_dir() and (models / ".runs" / n).is_dir() for n in (kept, back)
            )
            removed = [r.getMessage() for r in caplog.records if "removed the adapter" in r.msg]
            assert len(removed) == 1 and old in removed[0]
            for server in servers:
                assert _ask(server.base_url, kept, QA[2][0]) == QA[2][1]
                with pytest.raises(openai.NotFoundError):
                    _ask(server.base_url, old, QA[2][0])
            # The resolver's replicas were never asked to load; one server loads at runtime.
            assert bool(_loads(*servers)) is (resolver == "none")
            # Each server that listed it was asked once to unload it.
            assert [len(_calls("unload_lora_adapter", s)) for s in servers] == [1] * replicas


def _providers(box: Sandbox) -> Providers:
    """A second scheduler's own providers, built as its process would build them."""
    settings = box.settings
    return Providers.from_env(
        settings.provider_env,
        registry=settings.registry,
        default=settings.provider,
        base=settings.base_model_provider,
        session_factory=box.deps.session_factory,
        data_dir=settings.dataset_dir,
    )


def test_the_emulators_resolver_refuses_what_vllms_refuses(
    tiny_model: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "adapters"
    for name, kind in (("prefix", "PREFIX_TUNING"), ("lora", "LORA")):
        (folder / name).mkdir(parents=True)
        config = {"peft_type": kind, "base_model_name_or_path": str(tiny_model), "r": 8}
        (folder / name / "adapter_config.json").write_text(json.dumps(config))
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "base_model_name_or_path": str(tiny_model)})
    )
    with VllmEmulator(tiny_model, max_lora_rank=4, resolver_dir=folder) as vllm:
        for name in ("prefix", "../outside", str(tmp_path / "outside"), "missing"):
            with pytest.raises(openai.NotFoundError, match="does not exist"):
                _ask(vllm.base_url, name, "Hi")
        with pytest.raises(openai.BadRequestError, match="'lora' was found but could not be"):
            _ask(vllm.base_url, "lora", "Hi")  # rank 8 above --max-lora-rank 4
        assert vllm.loras == {}
    with VllmEmulator(tiny_model, runtime_updating=False) as plain:
        with pytest.raises(openai.NotFoundError):
            _ask(plain.base_url, "lora", "Hi")
        with pytest.raises(VllmRefusal) as refused:  # FastAPI's 404: no such route
            VllmServer(plain.base_url, None).load_adapter("lora", str(folder / "lora"))
        assert refused.value.no_such_route
    with pytest.raises(ValueError, match="VLLM_LORA_RESOLVER_CACHE_DIR"):
        VllmEmulator(tiny_model, resolver_dir=tmp_path / "no-such-folder")
