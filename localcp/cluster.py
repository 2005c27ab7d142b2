"""The local Kubernetes control plane (tools/local-cluster.sh: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok with fake nodes, upstream CRDs), all on 127.0.0.1,
with a kubectl of the same version as the server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from localcp.toolchain import REPO_ROOT, bin_dir

CLUSTER_SCRIPT = REPO_ROOT / "tools" / "local-cluster.sh"


class ClusterError(RuntimeError):
    """The cluster did not start; the message holds the script's log tails."""


class LocalCluster:
    def __init__(self, state: Path):
        self.state = state.resolve()
        self.kubeconfig = self.state / "kubeconfig"
        self.bin_dir = bin_dir("kube")

    def start(self, timeout: float = 300) -> LocalCluster:
        result = subprocess.run(["bash", str(CLUSTER_SCRIPT), "start", str(self.state)], capture_output=True,
                                text=True, timeout=timeout)  # fmt: skip
        if result.returncode != 0:
            raise ClusterError(f"`tools/local-cluster.sh start {self.state}` failed:\n{result.stderr[-4000:]}")
        return self

    def stop(self) -> str:
        result = subprocess.run(["bash", str(CLUSTER_SCRIPT), "stop", str(self.state)], capture_output=True,
                                text=True, timeout=120)  # fmt: skip
        return result.stderr

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
        command = [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args]
        result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """One object as JSON, or None when the API server says NotFound."""
        ns = ["-n", namespace] if namespace else []
        result = self.kubectl("get", kind, name, *ns, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(f"kubectl get {kind} {name} failed:\n{result.stderr[-2000:]}")
        return json.loads(result.stdout)
