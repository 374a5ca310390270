"""The Together and Fireworks emulators answer the vendors' SDKs as the vendors document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fireworks
import openai
import pytest
import together

from emulators.fireworks import FireworksEmulator
from emulators.together import TogetherEmulator

TRAINING = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
)


@pytest.fixture
def tg() -> Iterator[TogetherEmulator]:
    with TogetherEmulator() as emu:
        yield emu


@pytest.fixture
def fw() -> Iterator[FireworksEmulator]:
    with FireworksEmulator() as emu:
        yield emu


def _together(emu: TogetherEmulator, **options: object) -> together.Together:
    return together.Together(api_key=emu.api_key, base_url=emu.origin, **options)  # type: ignore[arg-type]


def _fireworks(emu: FireworksEmulator, **options: object) -> fireworks.Fireworks:
    return fireworks.Fireworks(
        api_key=emu.api_key,
        account_id=emu.account,
        base_url=emu.base_url,
        **options,  # type: ignore[arg-type]
    )


def test_together_rejects_a_wrong_key_with_its_error_shape(tg: TogetherEmulator) -> None:
    client = together.Together(api_key="tgp_v1_wrong", base_url=tg.origin, max_retries=0)
    with pytest.raises(together.AuthenticationError) as refused:
        client.fine_tuning.retrieve("ft-123")
    assert refused.value.status_code == 401
    body = refused.value.body
    assert isinstance(body, dict) and set(body["error"]) == {"message", "type", "param", "code"}


def test_together_unknown_job_is_a_typed_404(tg: TogetherEmulator) -> None:
    with pytest.raises(together.NotFoundError, match="ft-nope"):
        _together(tg, max_retries=0).fine_tuning.retrieve("ft-nope")


def test_together_upload_goes_through_the_redirect_to_storage(
    tg: TogetherEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(TRAINING * 3)
    uploaded = _together(tg).files.upload(file=path, purpose="fine-tune")
    assert uploaded.processing_status == "COMPLETED" and uploaded.bytes == len(TRAINING * 3)
    assert ("POST", f"/v1/files/{uploaded.id}/preprocess") in tg.calls


def test_together_v2_endpoints_need_a_known_project(tg: TogetherEmulator) -> None:
    client = _together(tg, max_retries=0)
    with pytest.raises(together.NotFoundError) as missing:
        client.endpoints.create(project_id="proj_other", name="x")
    body = missing.value.body  # the v2 services answer with grpc-gateway's error body
    assert isinstance(body, dict) and body["code"] == 5 and "proj_other" in body["message"]
    created = client.endpoints.create(project_id=str(tg.project["id"]), name="bot")
    assert created.name == "acme/bot" and created.deployments == []
    with pytest.raises(together.ConflictError):
        client.endpoints.create(project_id=str(tg.project["id"]), name="bot")


def test_a_hang_times_the_sdk_out(tg: TogetherEmulator) -> None:
    tg.fail_next("fine_tunes", status=200, delay=1.0)
    client = _together(tg, max_retries=0, timeout=0.2)
    with pytest.raises(together.APITimeoutError):
        client.fine_tuning.retrieve("ft-any")


def test_fireworks_errors_are_grpc_gateway_bodies(fw: FireworksEmulator) -> None:
    client = _fireworks(fw, max_retries=0)
    with pytest.raises(fireworks.NotFoundError) as missing:
        client.datasets.get("nope")
    body = missing.value.body
    assert isinstance(body, dict) and body["code"] == 5 and "not found" in body["message"]
    wrong = fireworks.Fireworks(
        api_key="fw_wrong", account_id=fw.account, base_url=fw.base_url, max_retries=0
    )
    with pytest.raises(fireworks.AuthenticationError):
        wrong.datasets.get("nope")


def test_fireworks_dataset_create_then_upload(fw: FireworksEmulator) -> None:
    client = _fireworks(fw)
    created = client.datasets.create(dataset_id="team", dataset={"user_uploaded": {}})
    assert created.state == "UPLOADING" and created.name == "accounts/acme/datasets/team"
    client.datasets.upload("team", file=("team.jsonl", TRAINING))
    assert client.datasets.get("team").state == "READY"
    assert fw.dataset_data["team"] == TRAINING
    with pytest.raises(fireworks.ConflictError):
        _fireworks(fw, max_retries=0).datasets.create(dataset_id="team", dataset={})


def test_fireworks_retries_a_429_with_retry_after(fw: FireworksEmulator) -> None:
    _fireworks(fw).datasets.create(dataset_id="team", dataset={})
    fw.fail_next("datasets", status=429, retry_after=0)
    fw.fail_next("datasets", status=503, retry_after=0)
    assert _fireworks(fw).datasets.get("team").name == "accounts/acme/datasets/team"


@pytest.mark.parametrize("hosted", ["together", "fireworks"])
def test_chat_streams_like_openai_and_404s_unknown_models(
    hosted: str, tg: TogetherEmulator, fw: FireworksEmulator
) -> None:
    if hosted == "together":
        base, key, model = f"{tg.origin}/v1", tg.api_key, next(iter(tg.base_models))
    else:
        fw.serve_model("accounts/acme/models/m1")
        base, key, model = f"{fw.origin}/inference/v1", fw.api_key, "accounts/acme/models/m1"
    client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
    chunks = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith(f"[{model}]") and "hello" in text
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="acme/not-deployed", messages=[{"role": "user", "content": "hi"}]
        )
