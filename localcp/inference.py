"""Prefix-aware routing on the local control plane: the real endpoint picker (EPP, Gateway API
Inference Extension v1.5.0 cmd/epp, built by tools/toolchain.sh `gie` with its listeners on
127.0.0.1) and a stand-in for the gateway's data path (tools/go/inference-gateway: the ext_proc
exchange a conformant gateway does, then a forward to the endpoint the picker chose).

The picker runs with the args the chart renders for its Deployment, substituting only its config
path and its ports (several pickers and other servers share this machine's loopback). It finds
its InferencePool and the pool's pods through the local API server (KUBECONFIG: cmd/epp parses
its own flags only, so --kubeconfig is not accepted; controller-runtime's GetConfig reads the env),
and scrapes each Ready pod at podIP:targetPort/metrics: the cluster must give pods loopback IPs
(LocalCluster pod_cidr=LOOPBACK_POD_CIDR) and a real server must listen on each.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from localcp.cluster import LocalCluster
from localcp.process import LocalProcess, free_port
from localcp.toolchain import bin_dir

# Flags whose values are machine-local here (each process gets free ports; the config is a file).
SUBSTITUTED_FLAGS = {
    "--config-file": "the ConfigMap's config.yaml written to the picker's state directory",
    "--grpc-port": "a free loopback port (ext_proc)",
    "--grpc-health-port": "a free loopback port (gRPC health)",
    "--metrics-port": "a free loopback port (/metrics)",
}


def picker_args(deployment: dict) -> list[str]:
    """The epp container's args from the chart's rendered Deployment."""
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "epp"]
    return list(container["args"])


class EndpointPicker:
    def __init__(self, cluster: LocalCluster, state: Path, deployment: dict, config_yaml: str, *, kubeconfig: Path | None = None):
        """deployment: the chart's rendered `<model>-epp` Deployment; config_yaml: its ConfigMap's
        config.yaml. kubeconfig: another API server to use (default: the cluster's)."""
        self.cluster = cluster
        self.state = state.resolve()
        self.name = deployment["metadata"]["name"]
        self.namespace = deployment["metadata"]["namespace"]
        self.process = LocalProcess(self.name, self.state)
        self.grpc_port, self.health_port, self.metrics_port = free_port(), free_port(), free_port()
        self.config_file = self.state / f"{self.name}.yaml"
        self.config_yaml = config_yaml
        self.kubeconfig = kubeconfig or cluster.kubeconfig
        self.args = self._args(picker_args(deployment))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def _args(self, rendered: list[str]) -> list[str]:
        values = {"--config-file": str(self.config_file), "--grpc-port": str(self.grpc_port),
                  "--grpc-health-port": str(self.health_port), "--metrics-port": str(self.metrics_port)}  # fmt: skip
        out = []
        for arg in rendered:
            flag = arg.split("=", 1)[0]
            out.append(f"{flag}={values[flag]}" if flag in values else arg)
        missing = set(values) - {a.split("=", 1)[0] for a in out}
        if missing:
            raise ValueError(f"{self.name}: the rendered args lack {sorted(missing)}")
        return out

    def start(self, timeout: float = 60) -> EndpointPicker:
        self.state.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.config_yaml)
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "NAMESPACE": self.namespace, "POD_NAME": f"{self.name}-local-0"}
        self.process.start_ready([str(bin_dir("gie") / "epp"), *self.args], self.serving, timeout, env=env)
        return self

    def stop(self) -> bool:
        return self.process.stop()

    def health(self) -> str:
        """The gRPC health status its health port reports (SERVING once it has read its pool). That
        server is plain gRPC (cmd/epp/runner/runner.go registerHealthServer); ext_proc is TLS."""
        result = subprocess.run([str(bin_dir("gie") / "inference-gateway"), "health", "-epp-plaintext", f"127.0.0.1:{self.health_port}"],
                                capture_output=True, text=True, timeout=10)  # fmt: skip
        lines = (result.stdout.strip() or result.stderr.strip()).splitlines()
        return lines[-1] if lines else "UNREACHABLE"

    def serving(self) -> bool:
        return self.health() == "SERVING"

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text


class InferenceGateway:
    def __init__(self, state: Path, routes: dict[str, str]):
        """routes: HTTPRoute path prefix (/<model>) -> that pool's picker address (ext_proc)."""
        self.state = state.resolve()
        self.routes = routes
        self.process = LocalProcess("inference-gateway", self.state)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> InferenceGateway:
        self.state.mkdir(parents=True, exist_ok=True)
        routes = [a for prefix, addr in self.routes.items() for a in ("-route", f"{prefix}={addr}")]
        self.process.start_ready([str(bin_dir("gie") / "inference-gateway"), "-listen", f"127.0.0.1:{self.port}", *routes],
                                 self._ready, timeout)  # fmt: skip
        return self

    def stop(self) -> bool:
        return self.process.stop()

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/", timeout=2).status_code == 404  # no route for "/": it answers
        except httpx.HTTPError:
            return False




def gateway_objects(name: str = "inference-gateway", namespace: str = "gateway-system") -> list[dict]:
    """What a gateway implementation's install leaves on a cluster for routed models to attach to:
    its namespace, a GatewayClass (here the stand-in's controller name) and the Gateway, whose
    listener admits HTTPRoutes from every namespace."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "llm-platform-local"},
         "spec": {"controllerName": "llm-platform.dev/local-inference-gateway"}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": name, "namespace": namespace},
         "spec": {"gatewayClassName": "llm-platform-local",
                  "listeners": [{"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {"from": "All"}}}]}},
    ]  # fmt: skip
