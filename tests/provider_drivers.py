"""Drivers for the provider contract suite: each provider built the way `tunebot run` builds it
(its settings from the environment, through the registry), against its emulator over HTTP, and
the emulator moved along as the provider's own service would move a job."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from admin.providers.hosted import deployment_name
from admin.providers.plugin import Phase, Provider
from admin.providers.registry import Providers, Registry
from emulators.fireworks import FireworksEmulator
from emulators.openai import OpenAIEmulator
from emulators.together import TogetherEmulator
from storage import training_repo
from storage.models import utcnow
from storage.training_repo import RunStatus

TRAINING = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
)


@dataclass
class Driver:
    """One provider under test and the emulator behind it."""

    name: str
    env: dict[str, str]
    base_model: str
    # (a status the emulator reports, the phase it means), one per phase at least.
    statuses: list[tuple[str, Phase]]
    registry: Registry = field(default_factory=Registry.discover)
    session_factory: Any = None
    data_dir: Path | None = None

    def provider(self) -> Provider:
        """Built as `tunebot run` builds it: configured by its variables, via the registry."""
        providers = Providers.from_env(
            self.env,
            registry=self.registry,
            default=self.name,
            today=date.today,
            session_factory=self.session_factory,
            data_dir=self.data_dir,
        )
        return providers.get(self.name)

    def dataset(self, folder: Path) -> Path:
        path = folder / "prepared.jsonl"
        path.write_bytes(TRAINING * 6)
        return path

    # What the emulator saw and moves along; every driver implements these.
    def received(self, file_id: str) -> bytes:
        """The bytes the service stored under `file_id`."""
        raise NotImplementedError

    def sent(self, job_id: str) -> dict[str, Any]:
        """`epochs` and `suffix` as the service received them."""
        raise NotImplementedError

    def advance(self, job_id: str, status: str) -> None:
        raise NotImplementedError

    def succeed(self, job_id: str) -> None:
        raise NotImplementedError

    def fail(self, job_id: str, message: str) -> None:
        raise NotImplementedError

    def finish_cancel(self, job_id: str) -> None:
        """Where cancelling takes the service a while, let it finish."""

    def deploying(self, job_id: str) -> None:
        """Called while make_callable says NotReady: the service finishes the deployment."""


OPENAI_STATUSES = [
    ("validating_files", Phase.ACTIVE),
    ("queued", Phase.ACTIVE),
    ("running", Phase.ACTIVE),
    ("succeeded", Phase.SUCCEEDED),
    ("failed", Phase.FAILED),
    ("cancelled", Phase.CANCELLED),
]


@dataclass
class OpenAIDriver(Driver):
    """OpenAI, Azure OpenAI, Nebius and the generic provider: the OpenAI emulator serves all."""

    emu: OpenAIEmulator = field(default_factory=OpenAIEmulator)

    def received(self, file_id: str) -> bytes:
        return self.emu.files[file_id][1]

    def sent(self, job_id: str) -> dict[str, Any]:
        job = self.emu.jobs[job_id]
        hyper = job["method"][job["method"]["type"]]["hyperparameters"]
        return {
            "epochs": hyper.get("n_epochs"),
            "suffix": job.get("user_provided_suffix"),
            "beta": hyper.get("beta"),
        }

    def advance(self, job_id: str, status: str) -> None:
        self.emu.advance_job(job_id, status)

    def succeed(self, job_id: str) -> None:
        self.emu.succeed_job(job_id, steps=6)

    def fail(self, job_id: str, message: str) -> None:
        self.emu.fail_job(job_id, code="invalid_training_file", message=message)


@dataclass
class TogetherDriver(Driver):
    emu: TogetherEmulator = field(default_factory=TogetherEmulator)

    def received(self, file_id: str) -> bytes:
        return self.emu.file_data[file_id]

    def sent(self, job_id: str) -> dict[str, Any]:
        job = self.emu.jobs[job_id]
        method = job.get("training_method") or {}
        return {
            "epochs": job.get("n_epochs"),
            "suffix": job.get("suffix"),
            "beta": method.get("dpo_beta"),
        }

    def advance(self, job_id: str, status: str) -> None:
        if status == "completed":
            self.emu.succeed_job(job_id)
        elif status == "error":
            self.emu.fail_job(job_id, "Training failed.")
        else:
            self.emu.advance_job(job_id, status)

    def succeed(self, job_id: str) -> None:
        self.emu.succeed_job(job_id)

    def fail(self, job_id: str, message: str) -> None:
        self.emu.fail_job(job_id, message)

    def finish_cancel(self, job_id: str) -> None:
        self.emu.advance_job(job_id, "cancelled")

    def deploying(self, job_id: str) -> None:
        self.emu.set_deployment_state(deployment_name(job_id), "DEPLOYMENT_STATE_READY")


@dataclass
class FireworksDriver(Driver):
    emu: FireworksEmulator = field(default_factory=FireworksEmulator)

    def received(self, file_id: str) -> bytes:
        return self.emu.dataset_data[file_id.rsplit("/", 1)[-1]]

    def sent(self, job_id: str) -> dict[str, Any]:
        job = self.emu.jobs[job_id]
        config = job.get("trainingConfig") or job
        beta = ((job.get("lossConfig") or {}).get("dpo") or {}).get("beta")
        return {"epochs": config.get("epochs"), "suffix": job.get("displayName"), "beta": beta}

    def advance(self, job_id: str, status: str) -> None:
        self.emu.set_job_state(job_id, status)

    def succeed(self, job_id: str) -> None:
        self.emu.succeed_job(job_id)

    def fail(self, job_id: str, message: str) -> None:
        self.emu.fail_job(job_id, message)

    def deploying(self, job_id: str) -> None:
        self.emu.set_deployment(deployment_name(job_id), "READY")


@dataclass
class LocalDriver(Driver):
    """The local provider: jobs are rows `tunebot trainer` works; vLLM serves the adapters.
    Its trainer is the real one; a run is moved along the way a trainer moves it."""

    models: Path | None = None

    def _run(self, job_id: str) -> Any:
        with self.session_factory() as session:
            run = training_repo.get_run(session, run_id=int(job_id.removeprefix("local-")))
            assert run is not None
            return run

    def received(self, file_id: str) -> bytes:
        from admin.datastore import DatasetStore

        assert self.data_dir is not None
        return DatasetStore(self.data_dir).path(file_id).read_bytes()

    def sent(self, job_id: str) -> dict[str, Any]:
        run = self._run(job_id)
        return {
            "epochs": run.options["epochs"],
            "suffix": run.adapter_name.split("-")[1],
            "beta": run.options["beta"] if run.method == "dpo" else None,
        }

    def _claim(self, job_id: str) -> None:
        with self.session_factory.begin() as session:
            run = training_repo.claim_next(
                session, owner="contract", now=utcnow(), lease=timedelta(minutes=5)
            )
            assert run is not None and f"local-{run.id}" == job_id

    def _finish(self, job_id: str, status: RunStatus, message: str) -> None:
        if self._run(job_id).status == RunStatus.QUEUED:
            self._claim(job_id)
        with self.session_factory.begin() as session:
            training_repo.finish(
                session,
                run_id=int(job_id.removeprefix("local-")),
                owner="contract",
                status=status,
                message=message,
                error=message if status == RunStatus.FAILED else None,
            )

    def advance(self, job_id: str, status: str) -> None:
        if status == "running":
            self._claim(job_id)
        elif status != "queued":
            self._finish(job_id, RunStatus(status), f"Training {status}.")

    def succeed(self, job_id: str) -> None:
        from trainer.worker import Worker

        assert self.data_dir is not None and self.models is not None
        worker = Worker(self.session_factory, self.data_dir, self.models, heartbeat_every=1)
        assert worker.run_once()

    def fail(self, job_id: str, message: str) -> None:
        self._finish(job_id, RunStatus.FAILED, message)


def _openai_family(name: str, registry: Registry) -> OpenAIDriver:
    emu = OpenAIEmulator().start()
    settings = registry[name].Settings
    env = {v: emu.api_key for v in settings.secret_variables()}
    env |= {v: emu.base_url for v in settings.url_variables()}
    return OpenAIDriver(
        name, env, "gpt-4o-mini-2024-07-18", OPENAI_STATUSES, registry=registry, emu=emu
    )


def _together(registry: Registry) -> TogetherDriver:
    emu = TogetherEmulator().start()
    statuses = [
        ("pending", Phase.ACTIVE),
        ("running", Phase.ACTIVE),
        ("cancel_requested", Phase.ACTIVE),
        ("completed", Phase.SUCCEEDED),
        ("error", Phase.FAILED),
        ("cancelled", Phase.CANCELLED),
    ]
    env = {"TOGETHER_API_KEY": emu.api_key, "TOGETHER_BASE_URL": emu.base_url}
    base = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    return TogetherDriver("together", env, base, statuses, registry=registry, emu=emu)


def _fireworks(registry: Registry) -> FireworksDriver:
    emu = FireworksEmulator().start()
    statuses = [
        ("JOB_STATE_VALIDATING", Phase.ACTIVE),
        ("JOB_STATE_RUNNING", Phase.ACTIVE),
        ("JOB_STATE_COMPLETED", Phase.SUCCEEDED),
        ("JOB_STATE_EARLY_STOPPED", Phase.SUCCEEDED),
        ("JOB_STATE_FAILED", Phase.FAILED),
        ("JOB_STATE_CANCELLED", Phase.CANCELLED),
    ]
    env = {
        "FIREWORKS_API_KEY": emu.api_key,
        "FIREWORKS_BASE_URL": emu.base_url,
        "FIREWORKS_ACCOUNT_ID": emu.account,
        "FIREWORKS_GPU_HOURLY_USD": "2.90",
    }
    base = "accounts/fireworks/models/llama-v3p1-8b-instruct"
    return FireworksDriver("fireworks", env, base, statuses, registry=registry, emu=emu)


@contextlib.contextmanager
def hosted_driver(name: str, registry: Registry) -> Iterator[Driver]:
    """The driver for a provider served by an emulator of its own (no database needed)."""
    start = {"together": _together, "fireworks": _fireworks}.get(name)
    driver = start(registry) if start else _openai_family(name, registry)
    try:
        yield driver
    finally:
        driver.emu.stop()  # type: ignore[attr-defined]


# A trainer claims the oldest queued run: the one left queued comes last.
LOCAL_STATUSES = [
    ("running", Phase.ACTIVE),
    ("succeeded", Phase.SUCCEEDED),
    ("failed", Phase.FAILED),
    ("cancelled", Phase.CANCELLED),
    ("queued", Phase.ACTIVE),
]
