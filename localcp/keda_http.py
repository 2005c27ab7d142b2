"""The real KEDA HTTP add-on (interceptor, external scaler, operator; built by tools/toolchain.sh
`kedahttp` with their listeners on loopback) as local processes against the local API server,
configured the way the keda-add-ons-http chart configures its Deployments (their env is taken
from the chart's render, only ports and addresses are ours):

- the add-on gets a loopback address of its own; its scaler's gRPC listens there on the chart's
  port 9090, which the models' ScaledObjects name in `scalerAddress`;
- the chart's Services keep their names and ports but lose their selectors (no pods run the
  add-on here); each gets an EndpointSlice of addressType FQDN naming the add-on's host. The
  scaler finds interceptors through the admin Service's EndpointSlices (pkg/k8s/endpoints.go
  EndpointsFuncForK8sClientset) and kube-apiserver refuses loopback IPs in EndpointSlices, so the
  FQDN resolves to the loopback address through the HostsFile;
- interceptor and scaler run with that HostsFile as /etc/hosts (localcp/hosts.py), so the
  interceptor reaches a model Service `<svc>.<ns>` wherever the test maps it, and the KEDA operator
  (started with the same file) reaches `keda-add-ons-http-external-scaler.<ns>`."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from localcp.chart_mirror import render_chart
from localcp.cluster import LocalCluster
from localcp.hosts import HostsFile, loopback_address
from localcp.process import LocalProcess, free_port, http_ok
from localcp.toolchain import bin_dir

NAMESPACE = "keda"
RELEASE = "keda-add-ons-http"
SCALER_PORT = 9090  # the chart's external scaler port (the models' scalerAddress names it)
HOST = "keda-add-ons-http.localcp"  # the FQDN the Services' EndpointSlices carry


def chart_version() -> str:
    from infra.versions import PLATFORM_CHARTS

    return PLATFORM_CHARTS["keda-add-ons-http"].version


class KedaHttpAddon:
    def __init__(self, cluster: LocalCluster, state: Path, hosts: HostsFile):
        self.cluster, self.state, self.hosts = cluster, state.resolve(), hosts
        self.address = loopback_address()
        self.ports = {"proxy": free_port(), "admin": free_port(), "op-metrics": free_port(), "op-probe": free_port()}
        self.interceptor = LocalProcess("keda-http-interceptor", self.state)
        self.scaler = LocalProcess("keda-http-scaler", self.state)
        self.operator = LocalProcess("keda-http-operator", self.state)
        self.objects = render_chart("keda-add-ons-http", chart_version(), {}, release=RELEASE, namespace=NAMESPACE)

    @property
    def proxy_url(self) -> str:
        """Where clients reach the interceptor (the chart's proxy Service, here)."""
        return f"http://{self.address}:{self.ports['proxy']}"

    def map_service(self, service: str, namespace: str, address: str) -> None:
        """Route the interceptor's `<service>.<namespace>` to a loopback address."""
        self.hosts.add(address, f"{service}.{namespace}")

    # ---- the chart's objects ---------------------------------------------------------------
    def _env(self, deployment: str) -> dict[str, str]:
        spec = next(o for o in self.objects if o["kind"] == "Deployment" and o["metadata"]["name"] == deployment)
        container = spec["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: str(e["value"]) for e in container.get("env") or [] if "value" in e}

    def register(self) -> None:
        """The chart's Services without selectors, each with an FQDN EndpointSlice to the add-on."""
        ports = {"keda-add-ons-http-interceptor-admin": self.ports["admin"],
                 "keda-add-ons-http-interceptor-proxy": self.ports["proxy"],
                 "keda-add-ons-http-external-scaler": SCALER_PORT}  # fmt: skip
        objects: list[dict] = []
        for service in (o for o in self.objects if o["kind"] == "Service" and o["metadata"]["name"] in ports):
            name = service["metadata"]["name"]
            service["spec"].pop("selector", None)
            objects.append(service)
            objects.append({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": f"{name}-localcp", "namespace": NAMESPACE,
                             "labels": {"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "localcp"}},
                "addressType": "FQDN",
                "endpoints": [{"addresses": [HOST], "conditions": {"ready": True}}],
                "ports": [{"name": service["spec"]["ports"][0].get("name", ""), "port": ports[name], "protocol": "TCP"}],
            })  # fmt: skip
        self.cluster.kubectl("create", "namespace", NAMESPACE, check=False)
        self.cluster.apply(objects, field_manager="keda-http-harness")
        self.hosts.add(self.address, HOST, f"keda-add-ons-http-external-scaler.{NAMESPACE}",
                       f"keda-add-ons-http-interceptor-proxy.{NAMESPACE}")  # fmt: skip

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 120) -> KedaHttpAddon:
        binaries = bin_dir("kedahttp")
        # LOCALCP_BIND_HOST: where the interceptor's and the scaler's listeners bind (the build
        # patches their hard-coded 0.0.0.0 to it; tools/toolchain.sh build_kedahttp).
        base = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig), "LOCALCP_BIND_HOST": self.address}
        try:
            self.register()
            self.operator.start_ready(self.hosts.wrap([
                str(binaries / "keda-http-operator"),
                "--metrics-bind-address", f"127.0.0.1:{self.ports['op-metrics']}",
                "--health-probe-bind-address", f"127.0.0.1:{self.ports['op-probe']}",
            ]), http_ok(f"http://127.0.0.1:{self.ports['op-probe']}/readyz"), timeout, env={
                **base, **self._env("keda-add-ons-http-controller-manager")})  # fmt: skip
            self.interceptor.start_ready(self.hosts.wrap([str(binaries / "keda-http-interceptor")]),
                http_ok(f"http://{self.address}:{self.ports['admin']}/queue"), timeout, env={
                **base, **self._env("keda-add-ons-http-interceptor"), "KEDA_HTTP_PROXY_PORT": str(self.ports["proxy"]),
                "KEDA_HTTP_ADMIN_PORT": str(self.ports["admin"]), "OTEL_PROM_EXPORTER_PORT": str(free_port())})  # fmt: skip
            self.scaler.start_ready(self.hosts.wrap([str(binaries / "keda-http-scaler")]), self._listening, timeout, env={
                **base, **self._env("keda-add-ons-http-external-scaler"),
                "KEDA_HTTP_SCALER_TARGET_ADMIN_PORT": str(self.ports["admin"])})  # fmt: skip
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> list[str]:
        return [p.name for p in (self.scaler, self.interceptor, self.operator) if p.stop()]

    @property
    def pids(self) -> list[int]:
        return [p for p in (self.operator.pid, self.interceptor.pid, self.scaler.pid) if p]

    # ---- readiness -------------------------------------------------------------------------
    def _listening(self) -> bool:
        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex((self.address, SCALER_PORT)) == 0
