"""One model routed the way a cluster routes it, for the routing engine tier and the routing bench:
the chart's objects applied to a cluster whose pods get loopback IPs, one real server per Ready
replica listening on that replica's pod IP and the InferencePool's target port, the model's real
endpoint picker (started with the args and config the chart renders) and the stand-in gateway
with the HTTPRoute's path prefix pointed at the picker."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any, Callable

from localcp.cluster import LocalCluster
from localcp.inference import EndpointPicker, InferenceGateway
from localcp.process import ProcessError

# serve(pod_ip, port, index) -> a context manager running a real server there; it yields an
# object with `base_url` (.../v1).
ServeFn = Callable[[str, int, int], AbstractContextManager[Any]]


def _one(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


class RoutedModel:
    def __init__(self, cluster: LocalCluster, state: Path, objects: list[dict], model: str, serve: ServeFn,
                 namespace_labels: dict[str, str] | None = None):  # fmt: skip
        self.cluster, self.state, self.objects, self.model, self.serve = cluster, state.resolve(), objects, model, serve
        pool = _one(objects, "InferencePool", model)
        self.namespace = pool["metadata"]["namespace"]
        self.port = int(pool["spec"]["targetPorts"][0]["number"])
        self.namespace_labels = namespace_labels or {}
        self.replicas = self._replica_count()
        self.pods: dict[str, str] = {}  # pod IP -> pod name
        self.servers: list[Any] = []
        self.picker: EndpointPicker | None = None
        self.gateway: InferenceGateway | None = None
        self._stack = ExitStack()

    def _replica_count(self) -> int:
        workload = next(o for o in self.objects if o["kind"] in ("Deployment", "InferenceService") and o["metadata"]["name"] == self.model)
        if workload["kind"] == "Deployment":
            return int(workload["spec"]["replicas"])
        return int(workload["spec"]["predictor"].get("minReplicas", 1))

    @property
    def route_url(self) -> str:
        """The model's OpenAI base URL through the gateway (the HTTPRoute's /<model> prefix)."""
        assert self.gateway is not None
        return f"{self.gateway.url}/{self.model}/v1"

    def ready_pods(self) -> dict[str, str]:
        pods = self.cluster.list("Pod", self.namespace, selector=f"llm-serving/model={self.model}")
        return {p["status"]["podIP"]: p["metadata"]["name"] for p in pods
                if p.get("status", {}).get("podIP") and not p["metadata"].get("deletionTimestamp")
                and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))}  # fmt: skip

    def start(self, timeout: float = 120) -> RoutedModel:
        try:
            self.cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace, "labels": self.namespace_labels}}])
            self.cluster.apply(self.objects)
            deadline = time.monotonic() + timeout
            while len(self.pods) < self.replicas:
                if time.monotonic() > deadline:
                    raise ProcessError(f"{self.model}: {len(self.pods)} of {self.replicas} pods Ready with an IP after {timeout:.0f}s")
                time.sleep(1)
                self.pods = self.ready_pods()
            for ip in self.pods:
                if not ip.startswith("127."):
                    raise ProcessError(f"pod IP {ip} is not loopback: start the cluster with pod_cidr=LOOPBACK_POD_CIDR")
            self.servers = [self._stack.enter_context(self.serve(ip, self.port, i)) for i, ip in enumerate(sorted(self.pods))]
            config = _one(self.objects, "ConfigMap", f"{self.model}-epp")["data"]["config.yaml"]
            self.picker = EndpointPicker(self.cluster, self.state / "epp", _one(self.objects, "Deployment", f"{self.model}-epp"), config)
            self.picker.start()
            self._stack.callback(self.picker.stop)
            self.gateway = InferenceGateway(self.state / "gateway", {f"/{self.model}": self.picker.address}).start()
            self._stack.callback(self.gateway.stop)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stack.close()
