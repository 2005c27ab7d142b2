"""The real KEDA (operator + external metrics API server, built by tools/toolchain.sh) as local
processes against the local API server, the way the keda chart wires them in a cluster:

- the operator reconciles ScaledObjects into HPAs and answers metric requests on its gRPC metrics
  service (mutual TLS from --cert-dir: ca.crt, tls.crt, tls.key; cmd/operator/main.go);
- the adapter (cmd/adapter) serves external.metrics.k8s.io and asks the operator over that gRPC
  connection (pkg/metricsservice NewGrpcClient reads the same three files from its --cert-dir);
- kube-apiserver aggregates the keda chart's APIService `v1beta1.external.metrics.k8s.io` to the
  adapter. Its Service becomes `type: ExternalName, externalName: localhost`: the aggregator
  resolves an ExternalName Service to that host and the APIService's port (k8s.io/apiserver
  pkg/util/proxy ResolveCluster) and verifies the serving certificate for
  `<service>.<namespace>.svc` with the APIService's caBundle, so the adapter's certificate names it;
- kube-controller-manager's HPA controller reads the metric through the aggregated API.

Every listener is bound to 127.0.0.1 (the adapter's own /metrics listener is patched at build time).
CRDs come from the keda chart (LocalCluster's platform CRDs). Cert rotation, webhook and APIService
patching are off: the harness owns those certificates and objects."""

from __future__ import annotations

import os
import ssl
from pathlib import Path


from localcp import certs
from localcp.chart_mirror import render_chart
from localcp.cluster import LocalCluster
from localcp.hosts import HostsFile
from localcp.process import LocalProcess, free_port, http_ok
from localcp.toolchain import bin_dir

NAMESPACE = "keda"
EXTERNAL_METRICS = "v1beta1.external.metrics.k8s.io"


def keda_chart_version() -> str:
    from infra.versions import PLATFORM_CHARTS

    return PLATFORM_CHARTS["keda"].version


class Keda:
    def __init__(self, cluster: LocalCluster, state: Path, hosts: HostsFile | None = None):
        self.cluster, self.state = cluster, state.resolve()
        self.hosts = hosts
        """Cluster DNS names for the operator (external scalers it dials by Service name)."""
        self.cert_dir = self.state / "certs"
        self.operator = LocalProcess("keda-operator", self.state)
        self.adapter = LocalProcess("keda-adapter", self.state)
        self.ports = {name: free_port() for name in ("grpc", "op-metrics", "op-probe", "adapter", "adapter-metrics")}

    # ---- certificates and registration -----------------------------------------------------
    def _certs(self) -> certs.KeyPair:
        """One CA; one pair both processes present (server and client of the mTLS gRPC link)
        and the adapter serves to kube-apiserver."""
        authority = certs.ca(self.cert_dir, "ca")
        sans = certs.LOCAL_SANS + tuple(f"DNS:{name}.{NAMESPACE}.svc" for name in ("keda-operator", "keda-operator-metrics-apiserver"))
        certs.signed(self.cert_dir, "tls", authority, "/CN=keda", sans, usage="serverAuth,clientAuth")
        return authority

    def register(self, authority: certs.KeyPair) -> None:
        """The chart's APIService (with our caBundle and the adapter's port) and its Service as an
        ExternalName to localhost."""
        objects = render_chart("keda", keda_chart_version(), {}, release="keda", namespace=NAMESPACE)
        api = next(o for o in objects if o["kind"] == "APIService" and o["metadata"]["name"] == EXTERNAL_METRICS)
        ref = api["spec"]["service"]
        ref["port"] = self.ports["adapter"]
        api["spec"].pop("insecureSkipTLSVerify", None)
        api["spec"]["caBundle"] = authority.pem_b64
        service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": ref["name"], "namespace": ref["namespace"]},
                   "spec": {"type": "ExternalName", "externalName": "localhost"}}  # fmt: skip
        self.cluster.kubectl("create", "namespace", NAMESPACE, check=False)
        self.cluster.kubectl("delete", "service", ref["name"], "-n", ref["namespace"], "--ignore-not-found")
        self.cluster.apply([service, api], field_manager="keda-harness")

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 120) -> Keda:
        authority = self._certs()
        binaries = bin_dir("keda")
        kubeconfig = str(self.cluster.kubeconfig)
        env = {**os.environ, "KUBECONFIG": kubeconfig, "WATCH_NAMESPACE": "", "POD_NAMESPACE": NAMESPACE,
               "KEDA_CLUSTER_OBJECT_NAMESPACE": NAMESPACE}  # fmt: skip
        loopback = "127.0.0.1:{}".format
        try:
            wrap = self.hosts.wrap if self.hosts else list
            self.operator.start(wrap([
                str(binaries / "keda-operator"), "--cert-dir", str(self.cert_dir), "--enable-cert-rotation=false",
                "--enable-webhook-patching=false", "--enable-apiservice-patching=false",
                "--metrics-bind-address", loopback(self.ports["op-metrics"]),
                "--health-probe-bind-address", loopback(self.ports["op-probe"]),
                "--metrics-service-bind-address", loopback(self.ports["grpc"]),
            ]), env=env)  # fmt: skip
            self.operator.wait_ready(self._operator_ready, timeout)
            self.adapter.start([
                str(binaries / "keda-adapter"), "--secure-port", str(self.ports["adapter"]), "--bind-address", "127.0.0.1",
                "--cert-dir", str(self.cert_dir), "--tls-cert-file", str(self.cert_dir / "tls.crt"),
                "--tls-private-key-file", str(self.cert_dir / "tls.key"), "--port", str(self.ports["adapter-metrics"]),
                "--lister-kubeconfig", kubeconfig, "--authentication-kubeconfig", kubeconfig,
                "--authorization-kubeconfig", kubeconfig, "--metrics-service-address", loopback(self.ports["grpc"]),
            ], env=env)  # fmt: skip
            self.adapter.wait_ready(self._adapter_ready, timeout)
            self.register(authority)
            self.adapter.wait_ready(self._aggregated, timeout)
        except BaseException:
            self.stop()  # never leave a half-started KEDA behind
            raise
        return self

    def stop(self) -> list[str]:
        return [p.name for p in (self.adapter, self.operator) if p.stop()]

    @property
    def pids(self) -> list[int]:
        return [p for p in (self.operator.pid, self.adapter.pid) if p]

    # ---- readiness -------------------------------------------------------------------------
    def _operator_ready(self) -> bool:
        return http_ok(f"http://127.0.0.1:{self.ports['op-probe']}/readyz")()

    def _adapter_ready(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.cert_dir / "ca.crt"))
        return http_ok(f"https://127.0.0.1:{self.ports['adapter']}/readyz", verify=context)()

    def _aggregated(self) -> bool:
        """kube-apiserver reports the APIService Available (it reached the adapter)."""
        api = self.cluster.get("apiservice", EXTERNAL_METRICS)
        conditions = (api or {}).get("status", {}).get("conditions") or []
        return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)

