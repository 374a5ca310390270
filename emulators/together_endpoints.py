"""Together emulator routes for dedicated endpoints, API v2 (/v2/projects/{project}/...)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from emulators._wire import Request

if TYPE_CHECKING:
    from emulators.together import TogetherEmulator

Json = dict[str, Any]
HARDWARE = "1xnvidia-h100-80gb"
CONFIG = "cr_emulated_h100"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _summary(deployment: Json) -> Json:
    keys = ("id", "autoscaling", "createdAt", "model", "modelId", "name", "trafficMode", "hardware")
    summary = {k: deployment[k] for k in keys}
    summary["state"] = deployment["status"]["state"]
    summary["estimatedEffectiveTrafficShare"] = 1.0
    ready = summary["state"] == "DEPLOYMENT_STATE_READY"
    summary["readyReplicas"] = deployment["autoscaling"].get("minReplicas", 1) if ready else 0
    return summary


def _public(endpoint: Json) -> Json:
    shown = {k: v for k, v in endpoint.items() if k != "_deployments"}
    shown["deployments"] = [_summary(d) for d in endpoint["_deployments"].values()]
    return shown


def install(emu: TogetherEmulator) -> None:
    from emulators.together import TogetherError

    def project(request: Request) -> str:
        if request.params["project"] != emu.project["id"]:
            raise TogetherError(404, f"Project {request.params['project']} not found")
        return str(emu.project["id"])

    def endpoint(request: Request) -> Json:
        project(request)
        found = emu.endpoints.get(request.params["id"])
        if found is None:
            raise TogetherError(404, f"Endpoint {request.params['id']} not found")
        return found

    def create(request: Request) -> Json:
        body = request.json() or {}
        name = str(body.get("name") or "").split("/")[-1]
        if not name:
            raise TogetherError(400, "name is required")
        qualified = f"{emu.project['slug']}/{name}"
        if any(e["name"] == qualified for e in emu.endpoints.values()):
            raise TogetherError(409, f"Endpoint {qualified} already exists")
        endpoint_id = emu.new_id("ep_")
        emu.endpoints[endpoint_id] = {
            "id": endpoint_id,
            "name": qualified,
            "projectId": project(request),
            "createdAt": _now(),
            "updatedAt": _now(),
            "etag": "1",
            "endpointType": "ENDPOINT_TYPE_DEDICATED",
            "trafficSplit": [],
            "visibility": body.get("visibility", "VISIBILITY_PRIVATE"),
            "_deployments": {},
        }
        return _public(emu.endpoints[endpoint_id])

    def listing(request: Request) -> Json:
        project(request)
        return {"data": [_public(e) for e in emu.endpoints.values()], "next_cursor": None}

    def update(request: Request) -> Json:
        found = endpoint(request)
        body = request.json() or {}
        if "trafficSplit" in body:
            for entry in body["trafficSplit"]:
                if entry.get("deploymentId") not in found["_deployments"]:
                    raise TogetherError(400, f"Unknown deployment {entry.get('deploymentId')}")
            found["trafficSplit"] = body["trafficSplit"]
            routed = {t["deploymentId"] for t in found["trafficSplit"] if t.get("weight")}
            ready = [
                d
                for d in found["_deployments"].values()
                if d["id"] in routed and d["status"]["state"] == "DEPLOYMENT_STATE_READY"
            ]
            (emu.serve_model if ready else emu.stop_serving)(found["name"])
        found["updatedAt"] = _now()
        return _public(found)

    def delete(request: Request) -> Json:
        found = endpoint(request)
        if found["_deployments"]:
            raise TogetherError(400, "Delete the endpoint's deployments first")
        del emu.endpoints[found["id"]]
        return {}

    def deploy(request: Request) -> Json:
        found = endpoint(request)
        body = request.json() or {}
        model, config = str(body.get("model") or ""), str(body.get("config") or "")
        model_id = model.rsplit("/", 1)[-1]
        known = {j.get("model_object_id") for j in emu.jobs.values()}
        if model_id not in known:
            raise TogetherError(404, f"Model {model} not found")
        if config.rsplit("/", 1)[-1] != CONFIG:
            raise TogetherError(400, f"Config {config} is not compatible with {model}")
        deployment_id = emu.new_id("dep_")
        deployment = {
            "id": deployment_id,
            "endpointId": found["id"],
            "projectId": found["projectId"],
            "name": f"{found['name']}/{body.get('name')}",
            "model": f"{model}/revisions/rv_1",
            "modelId": model_id,
            "modelRevisionId": "rv_1",
            "config": config,
            "configId": CONFIG,
            "hardware": HARDWARE,
            "trafficMode": "TRAFFIC_MODE_LIVE",
            "autoscaling": body.get("autoscaling") or {},
            "createdAt": _now(),
            "updatedAt": _now(),
            "etag": "1",
            "status": {"state": "DEPLOYMENT_STATE_PROVISIONING", "message": "Provisioning"},
        }
        found["_deployments"][deployment_id] = deployment
        return deployment

    def deployment(request: Request) -> Json:
        found = endpoint(request)
        if request.params["dep"] not in found["_deployments"]:
            raise TogetherError(404, f"Deployment {request.params['dep']} not found")
        return dict(found["_deployments"][request.params["dep"]])

    def undeploy(request: Request) -> Json:
        found = endpoint(request)
        gone = found["_deployments"].pop(request.params["dep"], None)
        if gone is None:
            raise TogetherError(404, f"Deployment {request.params['dep']} not found")
        found["trafficSplit"] = [
            t for t in found["trafficSplit"] if t["deploymentId"] != gone["id"]
        ]
        emu.stop_serving(found["name"])
        return {}

    def configs(request: Request) -> Json:
        project(request)
        reference = request.query.get("referenceModel", "")
        item = {
            "id": CONFIG,
            "projectId": "proj_public",
            "referenceModel": reference,
            "referenceModelId": reference.rsplit("/", 1)[-1],
            "certifications": [],
            "selectors": [
                {"key": "accelerator_type", "value": "nvidia-h100-80gb"},
                {"key": "accelerator_count", "value": "1"},
                {"key": "adapter_mode", "value": "disabled"},
            ],
        }
        return {"data": [item], "next_cursor": None}

    def configs_public(request: Request) -> Json:
        item = configs(_with_project(request, emu))["data"][0]
        return dict(item)

    def hardware(request: Request) -> Json:
        return {
            "data": [
                {
                    "id": "hw_h100",
                    "name": HARDWARE,
                    "description": "1x H100 80GB",
                    "gpuCount": 1,
                    "gpuMemoryGib": 80,
                    "gpuType": "nvidia-h100-80gb",
                    "regions": [],
                    "priceCentsPerHour": emu.price_cents_per_hour,
                }
            ]
        }

    g, base = emu.guarded, "/v2/projects/{project}"
    emu.route("POST", f"{base}/endpoints", "endpoints", g(create))
    emu.route("GET", f"{base}/endpoints", "endpoints", g(listing))
    emu.route("GET", f"{base}/endpoints/{{id}}", "endpoints", g(lambda r: _public(endpoint(r))))
    emu.route("PATCH", f"{base}/endpoints/{{id}}", "endpoints", g(update))
    emu.route("DELETE", f"{base}/endpoints/{{id}}", "endpoints", g(delete))
    emu.route("POST", f"{base}/endpoints/{{id}}/deployments", "endpoints", g(deploy))
    emu.route("GET", f"{base}/endpoints/{{id}}/deployments/{{dep}}", "endpoints", g(deployment))
    emu.route("DELETE", f"{base}/endpoints/{{id}}/deployments/{{dep}}", "endpoints", g(undeploy))
    emu.route("GET", f"{base}/configs", "endpoints", g(configs))
    emu.route("GET", f"{base}/configs/{{cid}}", "endpoints", g(configs_public))
    emu.route("GET", "/v2/public/inference-instance-types", "endpoints", g(hardware))


def _with_project(request: Request, emu: TogetherEmulator) -> Request:
    from dataclasses import replace

    return replace(request, params=request.params | {"project": str(emu.project["id"])})


def set_state(emu: TogetherEmulator, endpoint_name: str, state: str, message: str) -> None:
    """Move the endpoint's deployment to `state`; a READY one answers chats at the endpoint."""
    with emu.lock:
        found = [e for e in emu.endpoints.values() if e["name"].endswith(f"/{endpoint_name}")]
        endpoint = found[0]
        for deployment in endpoint["_deployments"].values():
            deployment["status"] = {"state": state, "message": message or state}
        routed = bool(endpoint["trafficSplit"])
    if state == "DEPLOYMENT_STATE_READY" and routed:
        emu.serve_model(endpoint["name"])
    else:
        emu.stop_serving(endpoint["name"])
