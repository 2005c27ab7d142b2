"""Helm-only path on the real Helm CLI (helm.sh/helm/v4, built by the toolchain) against the local
control plane: `python -m infra values` writes the values of a committed stack, then `helm install`,
`helm test` (kwok completes the test hook pods) and `helm uninstall` of the same charts/llm-serving
the Pulumi program deploys, as the README's Helm-only section tells a team without Pulumi."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from localcp.helm import Helm

pytestmark = pytest.mark.engine
NAMESPACE = "llm-helm"
RELEASE = "llm"


@pytest.fixture(scope="module")
def cluster_helm(local_cluster, tmp_path_factory) -> Helm:
    local_cluster.kubectl("create", "namespace", NAMESPACE)
    local_cluster.kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    return Helm(tmp_path_factory.mktemp("helm"), kubeconfig=local_cluster.kubeconfig)


@pytest.fixture(scope="module")
def values_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("values") / "local.yaml"
    subprocess.run([sys.executable, "-m", "infra", "values", "--stack", "local", "--out", str(path)], cwd=REPO_ROOT, check=True)
    return path


def test_helm_install_of_a_committed_stack(cluster_helm: Helm, values_file, local_cluster) -> None:
    out = cluster_helm.run("install", RELEASE, str(REPO_ROOT / "charts" / "llm-serving"), "-n", NAMESPACE,
                           "-f", str(values_file), "--wait", "--timeout", "180s")  # fmt: skip
    assert "STATUS: deployed" in out
    deployment = local_cluster.get("deployment", "tinyllama", NAMESPACE)
    assert deployment is not None and deployment["status"].get("availableReplicas") == 1


def test_helm_test_runs_the_chart_test_hooks(cluster_helm: Helm) -> None:
    out = cluster_helm.run("test", RELEASE, "-n", NAMESPACE, "--timeout", "120s")
    assert "TEST SUITE:     tinyllama-test-models" in out and "Phase:          Succeeded" in out


def test_helm_uninstall_removes_the_release(cluster_helm: Helm, local_cluster) -> None:
    cluster_helm.run("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "120s")
    assert local_cluster.get("deployment", "tinyllama", NAMESPACE) is None
    assert local_cluster.list("scaledobject", NAMESPACE) == []
