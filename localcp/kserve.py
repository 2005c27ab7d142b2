"""The real KServe controller manager (cmd/manager, built by tools/toolchain.sh) as a local process
against the local API server: CRDs from the kserve-crd chart, the `inferenceservice-config`
ConfigMap and webhook configurations from the kserve-resources chart (../shared/charts), its
webhooks served on 127.0.0.1 with a generated certificate, the configurations pointed at that URL
with that CA (as envtest's WebhookInstallOptions does). Standard (raw Deployment) mode."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import httpx
import yaml

from localcp.certs import serving_cert
from localcp.cluster import LocalCluster
from localcp.process import LocalProcess, free_port
from localcp.chart_mirror import render_chart
from localcp.toolchain import bin_dir, pin
from localcp.webhooks import WebhookRoute, route_objects

NAMESPACE = "kserve"
WEBHOOK_SERVICE = "kserve-webhook-server-service"  # kserve-resources files/kserve/resources.yaml
# Values the platform layer passes to kserve-resources for a stack with default settings
# (infra/platform/releases.py kserve_controller_values; a test keeps the two equal).
VALUES = {"kserve": {"controller": {"deploymentMode": "Standard",
                                    "gateway": {"disableIngressCreation": True, "disableIstioVirtualHost": True}}}}  # fmt: skip
# What the manager needs from the chart when it runs outside the cluster: its config, the default
# storage container (storage-initializer injection) and the webhook registrations. The Deployment,
# Services, RBAC and cert-manager objects are for in-cluster installs.
KEPT_KINDS = {"ConfigMap", "ClusterStorageContainer", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}


def chart_objects(chart: str, values: dict, namespace: str = NAMESPACE) -> list[dict]:
    return render_chart(chart, pin("KSERVE_VERSION"), values, release="kserve", namespace=namespace)


@cache
def module_dir() -> Path:
    """The pinned KServe release's Go module (in the Go module cache since the toolchain built
    its manager from it): the source of what ../shared/charts lacks, e.g. the local-model CRDs."""
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run(["go", "mod", "download", "-json", f"github.com/kserve/kserve@{pin('KSERVE_VERSION')}"],
                                capture_output=True, text=True, cwd=scratch, timeout=600, env={**os.environ, "GOFLAGS": "-mod=mod"})  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"go mod download github.com/kserve/kserve failed: {result.stderr[-1000:]}")
    return Path(json.loads(result.stdout)["Dir"])


def local_model_crds() -> list[dict]:
    """serving.kserve.io LocalModel* CRDs of the release (charts/kserve-localmodel-crd upstream: the
    same files as config/crd/full/localmodel)."""
    return [yaml.safe_load(p.read_text()) for p in sorted((module_dir() / "config" / "crd" / "full" / "localmodel").glob("serving.kserve.io_*.yaml"))]


class KServeController:
    def __init__(self, cluster: LocalCluster, state: Path, *, install: bool = True, values: dict | None = None):
        """install=False: the kserve-resources chart is already installed (platform layer on);
        only the manager runs here, and route() gives a WebhookRouter what to rewrite.
        values: kserve-resources values (default VALUES); with kserve.localmodel.enabled the
        local-model CRDs are installed too and the defaulter looks caches up."""
        self.cluster, self.state, self.install_chart_objects = cluster, state.resolve(), install
        self.values = values or VALUES
        self.process = LocalProcess("kserve-manager", self.state)
        self.ports = {name: free_port() for name in ("webhook", "metrics", "probe")}

    def install(self) -> None:
        """CRDs, namespace, config and webhook registrations (server-side apply, idempotent)."""
        crds = chart_objects("kserve-crd", {})
        if self.values.get("kserve", {}).get("localmodel", {}).get("enabled"):
            crds += local_model_crds()
        kept = [o for o in chart_objects("kserve-resources", self.values) if o["kind"] in KEPT_KINDS]
        self.cluster.apply(crds, field_manager="kserve-chart")
        self.cluster.wait_crds_established(60, [c["metadata"]["name"] for c in crds])
        self.cluster.kubectl("create", "namespace", NAMESPACE, check=False)
        self.cluster.apply(route_objects(kept, [self.route()]), field_manager="kserve-chart")

    def start(self, timeout: float = 120) -> KServeController:
        # controller-runtime's webhook server reads tls.crt/tls.key from $TMPDIR/k8s-webhook-server/serving-certs.
        self.authority, _ = serving_cert(self.state / "tmp" / "k8s-webhook-server" / "serving-certs", "kserve-webhook")
        if self.install_chart_objects:
            self.install()
        binary = bin_dir("kserve") / "kserve-manager"
        env = {**os.environ, "POD_NAMESPACE": NAMESPACE, "TMPDIR": str(self.state / "tmp")}
        self.process.start([str(binary), "--kubeconfig", str(self.cluster.kubeconfig),
                            "--metrics-addr", f"127.0.0.1:{self.ports['metrics']}",
                            "--health-probe-addr", f"127.0.0.1:{self.ports['probe']}",
                            "--webhook-port", str(self.ports["webhook"])], env=env)  # fmt: skip
        try:
            self.process.wait_ready(self._ready, timeout)
        except BaseException:
            self.stop()  # never leave a half-started manager behind
            raise
        return self

    def _ready(self) -> bool:
        try:
            if httpx.get(f"http://127.0.0.1:{self.ports['probe']}/readyz", timeout=2).status_code != 200:
                return False
        except httpx.HTTPError:
            return False
        context = ssl.create_default_context(cafile=str(self.state / "tmp" / "k8s-webhook-server" / "serving-certs" / "ca.crt"))
        with socket.create_connection(("127.0.0.1", self.ports["webhook"]), timeout=2) as sock:
            with context.wrap_socket(sock, server_hostname="127.0.0.1"):
                return True

    def route(self) -> WebhookRoute:
        """The chart's webhooks (Service kserve-webhook-server-service) to this manager."""
        return WebhookRoute(NAMESPACE, WEBHOOK_SERVICE, f"https://127.0.0.1:{self.ports['webhook']}", self.authority.pem_b64)

    def stop(self) -> None:
        self.process.stop()


class LocalModelController:
    """KServe's local-model controller (cmd/localmodel of the pinned release, built by the toolchain
    component `kservelocal`): reconciles LocalModelCaches into one LocalModelNode per Ready node of
    each node group, the group's download volume and claim in the jobs namespace, and a claim in
    every namespace whose InferenceServices use the cache. Its validating webhook server listens on
    127.0.0.1 (the webhook registration itself is not installed here)."""

    def __init__(self, cluster: LocalCluster, state: Path):
        self.cluster, self.state = cluster, state.resolve()
        self.process = LocalProcess("kserve-localmodel", self.state)
        self.ports = {name: free_port() for name in ("webhook", "metrics", "probe")}

    def start(self, timeout: float = 60) -> LocalModelController:
        serving_cert(self.state / "tmp" / "k8s-webhook-server" / "serving-certs", "kserve-localmodel-webhook")
        env = {**os.environ, "POD_NAMESPACE": NAMESPACE, "TMPDIR": str(self.state / "tmp")}
        self.process.start_ready([str(bin_dir("kservelocal") / "kserve-localmodel-controller"), "--kubeconfig", str(self.cluster.kubeconfig),
                                  "--metrics-addr", f"127.0.0.1:{self.ports['metrics']}",
                                  "--health-probe-addr", f"127.0.0.1:{self.ports['probe']}",
                                  "--webhook-port", str(self.ports["webhook"])], self._ready, timeout, env=env)  # fmt: skip
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.ports['probe']}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> bool:
        return self.process.stop()


class LocalModelNodeAgent:
    """KServe's node agent (cmd/localmodelnode, toolchain component `kservelocal`) for one node:
    it downloads the node's LocalModelNode models with a Job pinned to that node, into the node
    group's volume. It keeps its models under the hard-coded /mnt/models (the DaemonSet mounts the
    host's /models there), so here it runs in its own mount namespace with a directory of ours bound
    over /mnt: nothing on this machine changes. Its metrics and probe listeners are on loopback."""

    def __init__(self, cluster: LocalCluster, state: Path, node: str):
        self.cluster, self.state, self.node = cluster, state.resolve(), node
        self.process = LocalProcess(f"kserve-localmodelnode-{node}", self.state)
        self.mnt = self.state / "mnt"

    def start(self, timeout: float = 60) -> LocalModelNodeAgent:
        (self.mnt / "models").mkdir(parents=True, exist_ok=True)
        agent = str(bin_dir("kservelocal") / "kserve-localmodelnode-agent")
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /mnt && shift && exec "$@"',
                   str(self.mnt), "_", agent, "--kubeconfig", str(self.cluster.kubeconfig)]  # fmt: skip
        env = {**os.environ, "POD_NAMESPACE": NAMESPACE, "NODE_NAME": self.node}
        self.process.start_ready(command, self._ready, timeout, env=env)
        return self

    def _ready(self) -> bool:
        return "Starting workers" in self.process.log_tail(200)

    def stop(self) -> bool:
        return self.process.stop()
