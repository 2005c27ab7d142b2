"""API-server tier: a real local control plane (kube-apiserver, etcd, controller-manager, scheduler,
kwok; built from the Go module proxy by tools/toolchain.sh, run by localcp.cluster) with
the platform charts' CRDs applied. Every committed stack's rendered objects are server-side applied, so the
API server's own validation (structural schemas, CEL rules, defaulting) accepts them; the local
stack's llama.cpp Deployment becomes available on a kwok node; deleting leaves nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, STACK_FILES

from infra.chart import render
from infra.planner import plan_stack
from infra.stack import load_stack_file


@pytest.fixture(scope="module")
def kubectl(local_cluster):
    def run(*args: str, **kwargs):
        return local_cluster.kubectl(*args, **kwargs)

    run.state = local_cluster.state  # type: ignore[attr-defined]
    return run


def _objects(stack: Path) -> tuple[str, list[dict]]:
    config = plan_stack(load_stack_file(stack)).config
    return config.namespace, render(config.chart_values(), release=config.release_name, namespace=config.namespace)


@pytest.mark.parametrize("stack", STACK_FILES, ids=lambda p: p.name)
def test_api_server_accepts_every_rendered_object(kubectl, stack: Path) -> None:
    namespace, objects = _objects(stack)
    kubectl("create", "namespace", namespace, check=False)
    kubectl("apply", "--server-side", "--field-manager", "llm-platform-tests", "-f", "-", stdin=yaml.safe_dump_all(objects))
    for obj in objects:
        got = json.loads(kubectl("get", obj["kind"].lower(), obj["metadata"]["name"], "-n", namespace, "-o", "json").stdout)
        assert got["metadata"]["labels"] == obj["metadata"].get("labels", got["metadata"]["labels"])


def test_local_stack_deployment_becomes_available(kubectl) -> None:
    namespace, objects = _objects(REPO_ROOT / "stacks" / "Pulumi.local.yaml")
    kubectl("create", "namespace", namespace, check=False)
    kubectl("apply", "--server-side", "--field-manager", "llm-platform-tests", "-f", "-", stdin=yaml.safe_dump_all(objects))
    kubectl("rollout", "status", "deployment/tinyllama", "-n", namespace, "--timeout=90s")
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "llm-serving/model=tinyllama", "-o", "json").stdout)["items"]
    assert pods and all(p["spec"]["nodeName"] == "cpu-0" for p in pods)  # GPU nodes are tainted
    assert all(p["spec"]["securityContext"]["runAsNonRoot"] for p in pods)


def test_delete_leaves_nothing_behind(kubectl) -> None:
    namespace, objects = _objects(REPO_ROOT / "stacks" / "Pulumi.dev.yaml")
    kubectl("create", "namespace", namespace, check=False)
    manifest = yaml.safe_dump_all(objects)
    kubectl("apply", "--server-side", "--field-manager", "llm-platform-tests", "-f", "-", stdin=manifest)
    kubectl("delete", "--wait=true", "-f", "-", stdin=manifest)
    for obj in objects:
        gone = kubectl("get", obj["kind"].lower(), obj["metadata"]["name"], "-n", namespace, check=False)
        assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_second_start_reuses_the_running_cluster(kubectl) -> None:
    pids = {p.name: p.read_text() for p in kubectl.state.glob("*.pid")}
    again = subprocess.run([sys.executable, "-m", "localcp", "cluster", "start", str(kubectl.state)],
                           capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)  # fmt: skip
    assert again.returncode == 0 and "cluster already up" in again.stderr
    assert again.stdout.strip() == str(kubectl.state / "kubeconfig")
    assert {p.name: p.read_text() for p in kubectl.state.glob("*.pid")} == pids
    assert kubectl("get", "nodes", "-o", "name").stdout.split() == ["node/cpu-0", "node/gpu-0", "node/gpu-1"]


def test_fake_nodes_carry_the_well_known_labels(kubectl) -> None:
    """Upstream charts select on these (e.g. the GPU Operator on kubernetes.io/os: linux)."""
    for node in json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]:
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/os"] == "linux" and labels["kubernetes.io/arch"] == "amd64"
        assert labels["kubernetes.io/hostname"] == node["metadata"]["name"]
        assert labels["node.kubernetes.io/instance-type"] and labels["topology.kubernetes.io/zone"].startswith(labels["topology.kubernetes.io/region"])
        if "nvidia.com/gpu" in node["status"]["capacity"]:
            assert labels["nvidia.com/gpu.count"] == node["status"]["capacity"]["nvidia.com/gpu"] and labels["nvidia.com/gpu.product"]


def test_stop_reports_what_it_stopped_and_leaves_no_process(tmp_path) -> None:
    from localcp.cluster import COMPONENTS, LocalCluster

    cluster = LocalCluster(tmp_path / "c").start()
    pids = [int((cluster.state / f"{name}.pid").read_text()) for name in COMPONENTS]
    assert sorted(cluster.stop()) == sorted(COMPONENTS)
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]] == []
    assert cluster.stop() == []


def test_certificates_close_to_expiry_are_made_again(tmp_path, monkeypatch) -> None:
    """A reused cluster directory must not fail TLS once its certificates expire."""
    from localcp import certs

    monkeypatch.setattr(certs, "DAYS", 1)  # valid for less than RENEW_BEFORE_SECONDS + a bit
    first = certs.ca(tmp_path, "ca")
    leaf = certs.signed(tmp_path, "leaf", first, "/CN=leaf", certs.LOCAL_SANS)
    pem = leaf.cert.read_bytes()
    assert not certs.valid(first.cert)  # expires within a day
    monkeypatch.setattr(certs, "DAYS", 30)
    again = certs.ca(tmp_path, "ca")
    assert certs.valid(again.cert)
    assert certs.signed(tmp_path, "leaf", again, "/CN=leaf", certs.LOCAL_SANS).cert.read_bytes() != pem


def test_apply_keeps_yaml_1_1_boolean_words_as_strings(local_cluster) -> None:
    """`n` is a legal namespace name; kubectl's YAML 1.1 decoder reads a bare n as false."""
    local_cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": {"flag": "off"}}}])
    namespace = local_cluster.get("namespace", "n")
    assert namespace and namespace["metadata"]["labels"]["flag"] == "off"
