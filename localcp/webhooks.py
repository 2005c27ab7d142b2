"""Route admission webhooks that charts install to the real webhook servers the harness runs on
127.0.0.1, like envtest's WebhookInstallOptions: a webhook registered against a Service
(`clientConfig.service`) is rewritten to the local URL with the harness CA. A router thread does it
as the charts create their configurations during `pulumi up`/`helm install`, since the Services'
pods are kwok stand-ins. Webhooks with no local server keep their Service: kube-apiserver's call is
refused on the loopback ClusterIP and the webhook's own failurePolicy decides (as in a cluster
whose webhook pod is down)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localcp.cluster import LocalCluster

KINDS = "validatingwebhookconfigurations,mutatingwebhookconfigurations"


@dataclass(frozen=True)
class WebhookRoute:
    namespace: str
    service: str
    """The Service the chart registers its webhooks against."""
    base_url: str
    """https://127.0.0.1:PORT of the local server; the webhook's service path is appended."""
    ca_bundle: str
    """Base64 PEM of the CA that signed the local server's certificate."""


def _local_client_config(hook: dict, routes: list[WebhookRoute]) -> dict | None:
    """The routed clientConfig of one webhook, or None if it has no local server."""
    service = hook.get("clientConfig", {}).get("service")
    for route in routes if service else []:
        if (service.get("namespace"), service.get("name")) == (route.namespace, route.service):
            return {"url": route.base_url + (service.get("path") or "/"), "caBundle": route.ca_bundle}
    return None


def rewrites(configuration: dict, routes: list[WebhookRoute]) -> list[dict]:
    """JSON-patch operations that point the configuration's routed webhooks at their local servers."""
    ops = []
    for i, hook in enumerate(configuration.get("webhooks") or []):
        if (config := _local_client_config(hook, routes)) is not None:
            ops.append({"op": "replace", "path": f"/webhooks/{i}/clientConfig", "value": config})
    return ops


def route_objects(configurations: list[dict], routes: list[WebhookRoute]) -> list[dict]:
    """The same rewrite on configurations before they are applied (the harness installs them)."""
    for configuration in configurations:
        for hook in configuration.get("webhooks") or []:
            if (config := _local_client_config(hook, routes)) is not None:
                hook["clientConfig"] = config
    return configurations


class WebhookRouter:
    def __init__(self, cluster: LocalCluster, routes: list[WebhookRoute], interval: float = 0.5):
        self.cluster, self.routes, self.interval = cluster, routes, interval
        self.rewritten: list[str] = []
        """`kind/name` of every configuration rewritten so far (for test messages)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-router", daemon=True)

    def start(self) -> WebhookRouter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def route_once(self) -> None:
        result = self.cluster.kubectl("get", KINDS, "-o", "json", check=False)
        if result.returncode != 0:
            return
        for item in json.loads(result.stdout)["items"]:
            ops = rewrites(item, self.routes)
            if not ops:
                continue
            kind, name = item["kind"].lower(), item["metadata"]["name"]
            patched = self.cluster.kubectl("patch", kind, name, "--type=json", "-p", json.dumps(ops),
                                           "--field-manager", "local-webhook-router", check=False)  # fmt: skip
            if patched.returncode == 0:
                self.rewritten.append(f"{kind}/{name}")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.route_once()
            self._stop.wait(self.interval)

    def __enter__(self) -> WebhookRouter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
