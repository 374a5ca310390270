"""deploy/kubernetes stays deployable: valid objects, a clean security scan, tunebot's settings.

Rendered without a cluster by tests/kustomize_render.py; where kubectl is installed, its
`kubectl kustomize` must print the same objects.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from sqlalchemy import make_url

from admin.providers.registry import Registry
from bot.cli import build_parser
from bot.config import Settings
from tests.kustomize_render import Obj, render
from tests.settings_helpers import example_variables

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
FOLDERS = ["base", "overlays/gpu", "overlays/try"]
# The schemas every object is checked against (kubernetes-validate ships them; no network).
KUBERNETES_VERSION = "1.33.0"
SECRET_NAME = re.compile(r"_(TOKEN|SECRET|KEY|PASSWORD)$")
# Filled in as a user's secret.env would be, for the settings tunebot refuses to start without.
USER_SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-k8s",
    "SLACK_SIGNING_SECRET": "signing-secret",
    "OPENAI_API_KEY": "sk-k8s",
    "POSTGRES_PASSWORD": "pass word:/@#",
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    return {folder: render(DEPLOY / folder) for folder in FOLDERS}


@pytest.fixture(params=FOLDERS)
def folder(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def objects(rendered: dict[str, list[Obj]], folder: str) -> list[Obj]:
    """What one kustomization renders; a test taking it runs for each of them."""
    return rendered[folder]


def _one(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def _settings_data(objects: list[Obj]) -> tuple[dict[str, str], dict[str, str]]:
    """(ConfigMap data, decoded Secret data) of tunebot's generated settings."""
    config = _one(objects, "ConfigMap")["data"]
    secret = _one(objects, "Secret")["data"]
    return dict(config), {k: base64.b64decode(v).decode() for k, v in secret.items()}


def _pods(objects: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    """(workload, pod spec) of every Deployment and StatefulSet."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            yield obj, obj["spec"]["template"]["spec"]


def _tunebot_containers(objects: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    for _, pod in _pods(objects):
        for container in pod["containers"]:
            if container.get("command", [""])[0] == "tunebot":
                yield pod, container


def _references(obj: Any, field: str) -> Iterator[str]:
    """The names under every `field` (configMapRef, secretKeyRef, ...) within `obj`."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == field:
                yield value["name"]
            else:
                yield from _references(value, field)
    elif isinstance(obj, list):
        for item in obj:
            yield from _references(item, field)


def _key(obj: Obj) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _check_with_kubectl(folder: Path, objects: list[Obj]) -> None:
    """Where kubectl is installed, its kustomize must print the objects rendered here."""
    if shutil.which("kubectl") is None:
        return
    printed = subprocess.run(
        ["kubectl", "kustomize", str(folder)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert {_key(o): o for o in objects} == {_key(o): o for o in yaml.safe_load_all(printed) if o}


def test_each_kustomization_renders_tunebot_in_its_namespace(
    objects: list[Obj], folder: str
) -> None:
    deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    assert {"tunebot", "tunebot-scheduler", "tunebot-trainer"} <= deployments
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {
        _one(objects, "Namespace")["metadata"]["name"]
    }
    # Every ConfigMap and Secret a pod names is one the rendering creates (hashed names).
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    pods = [pod for _, pod in _pods(objects)]
    for kind, fields in (
        ("ConfigMap", ("configMapRef", "configMapKeyRef")),
        ("Secret", ("secretRef", "secretKeyRef")),
    ):
        referenced = {name for field in fields for name in _references(pods, field)}
        assert referenced and {(kind, name) for name in referenced} <= names
    _check_with_kubectl(DEPLOY / folder, objects)


def test_every_object_is_valid_against_the_kubernetes_schemas(objects: list[Obj]) -> None:
    invalid = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(p) for p in error.path)
            invalid.append(f"{obj['kind']} {obj['metadata']['name']}: {where}: {error.message}")
    assert invalid == []


@pytest.fixture(scope="module")
def checkov(rendered: dict[str, list[Obj]], tmp_path_factory: pytest.TempPathFactory) -> Obj:
    """One checkov run over every rendered kustomization (it takes seconds to start)."""
    folder = tmp_path_factory.mktemp("rendered")
    for name, objects in rendered.items():
        (folder / f"{name.replace('/', '-')}.yaml").write_text(yaml.safe_dump_all(objects))
    binary = shutil.which("checkov") or str(Path(sys.executable).parent / "checkov")
    # --skip-download: no call to Prisma Cloud for guidelines or custom policies (offline).
    result = subprocess.run(
        [binary, "-d", str(folder), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    return dict(report)


def test_checkov_finds_no_failed_check(rendered: dict[str, list[Obj]], checkov: Obj) -> None:
    failed = [
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})"
        for c in checkov["results"]["failed_checks"]
    ]
    assert failed == []
    assert checkov["summary"]["parsing_errors"] == 0
    # It scanned what was rendered (a scan of nothing would also find nothing).
    assert checkov["summary"]["resource_count"] >= sum(len(o) for o in rendered.values())
    assert checkov["summary"]["passed"] > 0


def _suppressions(objects: list[Obj]) -> Iterator[tuple[Obj, str, str]]:
    for obj in objects:
        for name, value in obj["metadata"].get("annotations", {}).items():
            if name.startswith("checkov.io/skip"):
                check, _, reason = value.partition("=")
                yield obj, check, reason


def test_every_checkov_suppression_gives_its_reason_and_is_needed(
    rendered: dict[str, list[Obj]], checkov: Obj
) -> None:
    skipped = {
        (c["check_id"], c["resource"].split(".")[0], c["resource"].split(".")[-1])
        for c in checkov["results"]["skipped_checks"]
    }
    suppressions = [s for objects in rendered.values() for s in _suppressions(objects)]
    assert suppressions
    for obj, check, reason in suppressions:
        assert re.fullmatch(r"CKV2?_K8S_\d+", check), check
        assert len(reason.split()) >= 5, f"{check} on {obj['metadata']['name']}: say why"
        # A suppression whose check would pass anyway is stale: checkov must have skipped it.
        assert (check, obj["kind"], obj["metadata"]["name"]) in skipped


def test_the_configmap_and_secret_hold_the_variables_of_env_example(objects: list[Obj]) -> None:
    example = example_variables()
    assert {"SLACK_BOT_TOKEN", "DATABASE_URL", "TUNEBOT_LOG_FORMAT"} <= example
    config, secret = _settings_data(objects)
    assert set(config) | set(secret) == example
    assert set(secret) == {v for v in example if SECRET_NAME.search(v)}
    assert not set(config) & set(secret)


def test_the_secret_holds_what_the_providers_declare_secret() -> None:
    # The Secret takes the variables named like secrets: the providers' declarations agree.
    registry = Registry.discover()
    variables = {v for name in registry for v in registry[name].Settings.variables()}
    secrets = {v for name in registry for v in registry[name].Settings.secret_variables()}
    assert secrets and variables - secrets
    for variable in variables:
        assert (variable in secrets) == bool(SECRET_NAME.search(variable)), variable


def test_tunebot_reads_the_pods_environment_without_error(objects: list[Obj]) -> None:
    config, secret = _settings_data(objects)
    settings = Settings.from_env({**config, **secret, **USER_SECRETS}, env_file=None, service=True)
    assert settings.database_url.startswith("postgresql://")
    assert make_url(settings.database_url).password is None  # it travels as PGPASSWORD
    assert not settings.run_scheduler  # the scheduler has its own Deployment
    assert settings.dataset_dir == Path(config["TUNEBOT_DATA_DIR"])
    for _, container in _tunebot_containers(objects):
        password = next(e for e in container["env"] if e["name"] == "PGPASSWORD")
        assert password["valueFrom"]["secretKeyRef"]["key"] == "POSTGRES_PASSWORD"


def test_each_container_runs_a_tunebot_command(objects: list[Obj]) -> None:
    commands = {c["command"][1] for _, c in _tunebot_containers(objects)}
    assert commands == {"run", "scheduler", "trainer"}
    parser = build_parser()
    for _, container in _tunebot_containers(objects):
        parser.parse_args(container["command"][1:] + container.get("args", []))


def test_the_bot_is_ready_on_healthz_and_scaled_by_its_autoscaler(
    rendered: dict[str, list[Obj]],
) -> None:
    objects = rendered["base"]
    bot = _one(objects, "Deployment", "tunebot")
    [container] = bot["spec"]["template"]["spec"]["containers"]
    config, _ = _settings_data(objects)
    port = next(p for p in container["ports"] if p["name"] == "http")
    assert port["containerPort"] == int(config["PORT"])
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    hpa = _one(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "tunebot"
    assert 1 < hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert "replicas" not in bot["spec"]  # the autoscaler owns the count
    assert container["resources"]["requests"]["cpu"]  # what its CPU target is a share of
    service = _one(objects, "Service", "tunebot")
    assert (
        service["spec"]["selector"].items() <= bot["spec"]["template"]["metadata"]["labels"].items()
    )


def _dockerfile_user(name: str) -> int:
    match = re.search(r"^USER (\d+)$", (ROOT / name).read_text(), re.MULTILINE)
    assert match, name
    return int(match.group(1))


def test_every_pod_runs_as_a_non_root_user_without_privileges(objects: list[Obj]) -> None:
    image_user = _dockerfile_user("Dockerfile")
    assert image_user == _dockerfile_user("Dockerfile.trainer")
    for workload, pod in _pods(objects):
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == image_user, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name


def _named_port(objects: list[Obj], selector: dict[str, str], port: int | str) -> int:
    """The container port a Service's targetPort (a number or a name) reaches."""
    for workload, pod in _pods(objects):
        if not selector.items() <= workload["spec"]["template"]["metadata"]["labels"].items():
            continue
        for container in pod["containers"]:
            for declared in container.get("ports", []):
                if port in (declared["containerPort"], declared.get("name")):
                    return int(declared["containerPort"])
    raise AssertionError(f"no container port {port} for {selector}")


def test_every_service_is_let_through_the_network_policies(objects: list[Obj]) -> None:
    policies = [o["spec"] for o in objects if o["kind"] == "NetworkPolicy"]
    assert any(p["podSelector"] == {} and p["policyTypes"] == ["Ingress"] for p in policies)
    for service in (o for o in objects if o["kind"] == "Service"):
        selector = service["spec"]["selector"]
        for port in service["spec"]["ports"]:
            target = _named_port(objects, selector, port["targetPort"])
            allowed = [
                p
                for p in policies
                if p["podSelector"].get("matchLabels", {}).items() <= selector.items()
                and p["podSelector"] != {}
                and any(
                    target in [q["port"] for q in rule.get("ports", [])]
                    for rule in p.get("ingress", [])
                )
            ]
            assert allowed, f"no NetworkPolicy lets traffic into {service['metadata']['name']}"


def _on_claim(pod: Obj, container: Obj, path: str) -> tuple[str, PurePosixPath]:
    """(claim, folder within it) where `path` of `container` is stored."""
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    target = PurePosixPath(path)
    for mount in sorted(container["volumeMounts"], key=lambda m: -len(m["mountPath"])):
        if target.is_relative_to(mount["mountPath"]) and mount["name"] in claims:
            within = PurePosixPath(mount.get("subPath", "")) / target.relative_to(
                mount["mountPath"]
            )
            return claims[mount["name"]], within
    raise AssertionError(f"{path} is on no claim in {container['name']}")


def test_datasets_the_bot_stores_are_where_scheduler_and_trainers_read(objects: list[Obj]) -> None:
    config, _ = _settings_data(objects)
    places = {
        _on_claim(pod, container, config["TUNEBOT_DATA_DIR"])
        for pod, container in _tunebot_containers(objects)
    }
    [(claim, _)] = places
    assert "ReadWriteMany" in _one(objects, "PersistentVolumeClaim", claim)["spec"]["accessModes"]


def _env(container: Obj) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_gpu_overlay_trains_on_gpus_and_vllm_serves_the_trainers_adapters(
    rendered: dict[str, list[Obj]],
) -> None:
    objects = rendered["overlays/gpu"]
    config, _ = _settings_data(objects)
    trainer = _one(objects, "Deployment", "tunebot-trainer")
    assert trainer["spec"]["replicas"] >= 1
    [trainer_container] = trainer["spec"]["template"]["spec"]["containers"]
    resources = trainer_container["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"]
    vllm = _one(objects, "Deployment", "tunebot-vllm")
    vllm_pod = vllm["spec"]["template"]["spec"]
    [server] = vllm_pod["containers"]
    env = _env(server)
    assert env["VLLM_PLUGINS"] == "lora_filesystem_resolver"
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"].lower() in ("true", "1")
    assert {"--enable-lora", "--max-lora-rank=16", "--max-loras=4"} <= set(server["args"])
    assert server["args"][0] == "$(TUNEBOT_BASE_MODEL)" and "TUNEBOT_BASE_MODEL" in env
    # The resolver's folder is the trainers' TUNEBOT_MODEL_DIR: same claim, same folder.
    resolver = _on_claim(vllm_pod, server, env["VLLM_LORA_RESOLVER_CACHE_DIR"])
    written = _on_claim(
        trainer["spec"]["template"]["spec"], trainer_container, config["TUNEBOT_MODEL_DIR"]
    )
    assert resolver == written
    mount = next(m for m in server["volumeMounts"] if m["mountPath"] == "/shared/models")
    assert mount["readOnly"] is True
    # tunebot's local provider reaches vLLM through its Service.
    url = urlsplit(config["TUNEBOT_VLLM_URL"])
    service = _one(objects, "Service", url.hostname)
    assert url.port in [p["port"] for p in service["spec"]["ports"]]
    assert config["TUNEBOT_VLLM_RESOLVER"] == "filesystem"


def test_the_try_out_database_is_the_one_tunebot_connects_to(
    rendered: dict[str, list[Obj]],
) -> None:
    objects = rendered["overlays/try"]
    config, _ = _settings_data(objects)
    url = make_url(config["DATABASE_URL"])
    service = _one(objects, "Service", url.host)
    assert url.port in [p["port"] for p in service["spec"]["ports"]]
    postgres = _one(objects, "StatefulSet")
    env = _env(postgres["spec"]["template"]["spec"]["containers"][0])
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == (url.username, url.database)
    assert env["POSTGRES_PASSWORD"]["secretKeyRef"]["key"] == "POSTGRES_PASSWORD"


def _readme_overlay() -> str:
    section = (ROOT / "README.md").read_text().split("\n## Kubernetes", 1)[1]
    blocks = re.findall(r"```yaml\n(.*?)```", section.split("\n## ", 1)[0], re.DOTALL)
    assert blocks, "the README's Kubernetes section shows no overlay"
    return str(blocks[0])


def test_the_readmes_overlay_deploys_its_secrets_and_images(tmp_path: Path) -> None:
    # As the README lays it out: your overlay beside a clone of this repository.
    (tmp_path / "tunebot").symlink_to(ROOT)
    mine = tmp_path / "my-tunebot"
    mine.mkdir()
    (mine / "kustomization.yaml").write_text(_readme_overlay())
    (mine / "secret.env").write_text("".join(f"{k}={v}\n" for k, v in USER_SECRETS.items()))
    objects = render(mine)
    config, secret = _settings_data(objects)
    assert {k: secret[k] for k in USER_SECRETS} == USER_SECRETS
    Settings.from_env({**config, **secret}, env_file=None, service=True)
    images = {c["image"] for _, c in _tunebot_containers(objects)}
    assert not [image for image in images if "OWNER" in image]
    _check_with_kubectl(mine, objects)
