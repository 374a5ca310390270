"""Together AI dedicated endpoints, API v2 (`/v2/projects/{project}/endpoints`), via the SDK.

Together's v1 endpoint API (`/v1/endpoints`) is documented as still supported but deprecated by
the end of 2026; the 3.x SDK manages endpoints only through v2, so that is what tunebot uses.
A fine-tuned model is served by one endpoint per job (a deterministic name, found again after a
restart) holding one deployment of the job's registered model, with all live traffic.
"""

from __future__ import annotations

from typing import Any

import together

from admin.providers.base import Deployment, NotReady, ProviderError
from admin.providers.hosted import asking, deployment_name

ERRORS: tuple[type[Exception], ...] = (together.TogetherError,)  # API errors, bad files
DEPLOYMENT = "main"
READY = "DEPLOYMENT_STATE_READY"
BROKEN = frozenset({"DEPLOYMENT_STATE_FAILED"})
# Config selectors a deployment of a merged fine-tune must not have: those attach adapters.
_ADAPTER_MODES = frozenset({"fixed", "dynamic", "adapter_mode_fixed", "adapter_mode_dynamic"})


class TogetherEndpoints:
    def __init__(self, client: together.Together, *, project_id: str | None, label: str) -> None:
        self._client = client
        self._project = project_id
        self._label = label

    def _asking(self, action: str) -> Any:
        return asking(ERRORS, label=self._label, action=action)

    @property
    def project(self) -> str:
        """TOGETHER_PROJECT_ID, or the account's only project (a new account has one)."""
        if self._project:
            return self._project
        with self._asking("list your projects"):
            found = list(self._client.projects.list())
        if len(found) != 1:
            names = ", ".join(f"`{p.id}` ({p.name})" for p in found) or "none"
            raise ProviderError(
                f"{self._label} has {len(found)} projects for this key ({names}). "
                "Next: an administrator sets TOGETHER_PROJECT_ID to the one to deploy in."
            )
        self._project = found[0].id
        return self._project

    # -- the one endpoint per job ------------------------------------------------------------

    def ensure(self, job_id: str, model_id: str) -> str:
        """The endpoint name to chat with once its deployment is ready; NotReady before."""
        if not model_id:
            raise ProviderError(
                f"{self._label} finished job {job_id} but registered no model to deploy. "
                "Next: check the job in Together's dashboard."
            )
        name = deployment_name(job_id)
        endpoint = self._find(name) or self._create(name)
        if not endpoint.deployments:
            self._deploy(endpoint, model_id)
            raise NotReady(f"The endpoint for job {job_id} is provisioning.")
        summary = endpoint.deployments[0]
        if not endpoint.traffic_split:
            # A restart between creating the deployment and routing traffic to it.
            self._route(endpoint.id, summary.id)
        if summary.state == READY:
            return str(endpoint.name)
        if summary.state in BROKEN:
            detail = self._status_message(endpoint.id, summary.id) or summary.state
            raise ProviderError(
                f"{self._label} could not start the endpoint for job {job_id}: {detail}. "
                f"Next: remove it with `/finetune undeploy {endpoint.name}` and retry."
            )
        state = str(summary.state).removeprefix("DEPLOYMENT_STATE_").lower()
        raise NotReady(f"The endpoint for job {job_id} is {state}.")

    def _find(self, name: str) -> Any:
        with self._asking("list your endpoints"):
            for endpoint in self._client.endpoints.list(project_id=self.project):
                if endpoint.name == name or str(endpoint.name).endswith(f"/{name}"):
                    return endpoint
        return None

    def find_by_model(self, model: str) -> Any:
        """Our endpoint named `<project_slug>/<name>` (or bare `name`), if it exists."""
        return self._find(model.rsplit("/", 1)[-1])

    def _create(self, name: str) -> Any:
        try:
            with self._asking(f"create endpoint {name}"):
                return self._client.endpoints.create(project_id=self.project, name=name)
        except ProviderError as error:
            # Another replica (or our previous tick) made it between our list and now.
            if error.status == 409 and (found := self._find(name)) is not None:
                return found
            raise

    def _deploy(self, endpoint: Any, model_id: str) -> None:
        model = f"projects/{self.project}/models/{model_id}"
        config = self._config(model)
        with self._asking(f"deploy the model on endpoint {endpoint.name}"):
            created = self._client.endpoints.deployments.create(
                endpoint.id,
                project_id=self.project,
                name=DEPLOYMENT,
                model=model,
                config=config,
                autoscaling={"min_replicas": 1, "max_replicas": 1},
            )
        self._route(endpoint.id, created.id)

    def _route(self, endpoint_id: str, deployment_id: str) -> None:
        with self._asking("route the endpoint's traffic to its deployment"):
            self._client.endpoints.update(
                endpoint_id,
                project_id=self.project,
                traffic_split=[{"deployment_id": deployment_id, "weight": 1}],
            )

    def _config(self, model: str) -> str:
        with self._asking("list the deployment configs of the trained model"):
            listing = self._client.models.configs.list(
                project_id=self.project, reference_model=model
            )
            configs = list(listing)
        usable = [c for c in configs if _selector(c, "adapter_mode") not in _ADAPTER_MODES]
        if not usable:
            raise ProviderError(
                f"{self._label} offers no dedicated-endpoint config for the trained model. "
                "Next: train a base model Together supports for dedicated endpoints."
            )
        return f"projects/{usable[0].project_id}/configs/{usable[0].id}"

    def _status_message(self, endpoint_id: str, deployment_id: str) -> str | None:
        with self._asking("read the deployment"):
            found = self._client.endpoints.deployments.retrieve(
                deployment_id, project_id=self.project, endpoint_id=endpoint_id
            )
        return str(found.status.message or "") or None

    # -- costs, listing, removal -------------------------------------------------------------

    def _prices(self) -> dict[str, float]:
        with self._asking("read hardware prices"):
            catalog = self._client.endpoints.hardware.list().data or []
        return {i.name: i.price_cents_per_hour / 100 for i in catalog}

    def quote(self, model_id: str) -> float | None:
        if not model_id:
            return None
        config_path = self._config(f"projects/{self.project}/models/{model_id}")
        project, _, config_id = config_path.removeprefix("projects/").partition("/configs/")
        with self._asking("read the deployment config"):
            config = self._client.models.configs.retrieve(config_id, project_id=project)
        count, kind = _selector(config, "accelerator_count"), _selector(config, "accelerator_type")
        return self._prices().get(f"{count}x{kind}") if count and kind else None

    def hourly_cost(self, model: str) -> float | None:
        endpoint = self._find(model.rsplit("/", 1)[-1])
        if endpoint is None:
            return None
        prices = self._prices()
        total = 0.0
        for summary in endpoint.deployments:
            price = prices.get(str(summary.hardware or ""))
            if price is None:
                return None
            total += price * max(1, int(summary.autoscaling.min_replicas or 0))
        return total

    def listing(self) -> list[Deployment]:
        prices = self._prices()
        found: list[Deployment] = []
        with self._asking("list your endpoints"):
            for endpoint in self._client.endpoints.list(project_id=self.project):
                states: list[str] = [str(s.state) for s in endpoint.deployments] or ["EMPTY"]
                hourly = sum(prices.get(str(s.hardware or ""), 0.0) for s in endpoint.deployments)
                started = [s.created_at for s in endpoint.deployments if s.created_at]
                since = min(started) if started else None
                found.append(Deployment(str(endpoint.name), str(states[0]), hourly or None, since))
        return found

    def remove(self, model: str) -> bool:
        endpoint = self._find(model.rsplit("/", 1)[-1])
        if endpoint is None:
            return False
        with self._asking(f"delete endpoint {endpoint.name}"):
            for summary in endpoint.deployments:  # Together deletes deployments first
                self._client.endpoints.deployments.delete(
                    summary.id, project_id=self.project, endpoint_id=endpoint.id
                )
            self._client.endpoints.delete(endpoint.id, project_id=self.project)
        return True


def _selector(config: Any, key: str) -> str | None:
    for selector in config.selectors or []:
        if selector.key == key:
            return str(selector.value).lower()
    return None
