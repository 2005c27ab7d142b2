"""Checks inside the serving pods (pytest-testinfra's kubectl:// backend). They need a cluster:
without one they are reported as skipped with the reason, never passed. On a kwok node (the local
control plane's fake nodes: kwok manages the nodes annotated kwok.x-k8s.io/node=fake) a pod runs no
container, so the checks that exec into it are skipped as not applicable; the others still run."""

from __future__ import annotations

import json
import subprocess

import pytest
import testinfra

from smoke.targets import Target

KWOK_ANNOTATION = "kwok.x-k8s.io/node"


def _kubectl(*args: str) -> str:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=30, check=True).stdout


def _events(namespace: str) -> str:
    try:
        return "\n".join(_kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp").splitlines()[-10:])
    except subprocess.SubprocessError as err:
        return f"(events unavailable: {err})"


@pytest.fixture(scope="module")
def pod(target: Target, kubectl_available: bool) -> dict:
    if target.via == "gateway":
        pytest.skip("not applicable: a model's pods are checked once, with its Service target")
    if not kubectl_available or not target.namespace:
        pytest.skip("not applicable: no cluster reachable through kubectl (or no namespace in the stack outputs)")
    pods = json.loads(_kubectl("get", "pods", "-n", target.namespace, "-l", f"llm-serving/model={target.name}", "-o", "json"))
    running = [p for p in pods["items"] if p["status"].get("phase") == "Running"]
    assert running, f"{target.name}: expected a Running pod in {target.namespace}; recent events: {_events(target.namespace)}"
    return running[0]


def simulated_node(pod: dict) -> str | None:
    """The pod's node when kwok simulates it (nothing to exec into), else None. A user who may not
    read nodes is on a real cluster as far as this check can tell."""
    try:
        node = json.loads(_kubectl("get", "node", pod["spec"]["nodeName"], "-o", "json"))
    except subprocess.SubprocessError:
        return None
    return node["metadata"]["name"] if node["metadata"].get("annotations", {}).get(KWOK_ANNOTATION) == "fake" else None


def _host(pod: dict) -> testinfra.host.Host:
    if node := simulated_node(pod):
        pytest.skip(f"not applicable: {pod['metadata']['name']} runs on kwok node {node}, which runs no container to exec into")
    container = pod["spec"]["containers"][0]["name"]
    return testinfra.get_host(f"kubectl://{pod['metadata']['name']}?container={container}&namespace={pod['metadata']['namespace']}")


def _gpus(pod: dict) -> int:
    limits = pod["spec"]["containers"][0].get("resources", {}).get("limits", {})
    return int(limits.get("nvidia.com/gpu", 0))


def test_gpus_visible_match_request(pod: dict, target: Target) -> None:
    requested = _gpus(pod)
    if target.runtime == "llamacpp":
        assert requested == 0, f"{target.name}: llama.cpp pod requests {requested} GPUs, expected none"
        return
    seen = len(_host(pod).check_output("nvidia-smi -L").splitlines())
    assert seen == requested, f"{target.name}: nvidia-smi lists {seen} GPUs, the pod requests {requested}"


def test_shm_is_large_for_tensor_parallel(pod: dict, target: Target) -> None:
    if _gpus(pod) <= 1:
        pytest.skip("not applicable: tensor parallel size 1 needs no large /dev/shm")
    size_kib = int(_host(pod).check_output("df -k --output=size /dev/shm | tail -n 1").strip())
    assert size_kib > 1024 * 1024, f"{target.name}: /dev/shm is {size_kib} KiB, expected > 1 GiB for NCCL"


def test_model_files_present(pod: dict, target: Target) -> None:
    listing = _host(pod).check_output("ls -A /mnt/models")
    assert listing.strip(), f"{target.name}: /mnt/models is empty in {pod['metadata']['name']}"


def test_inference_service_is_ready(target: Target, kubectl_available: bool) -> None:
    if target.runtime == "llamacpp":
        pytest.skip("not applicable: llama.cpp models are plain Deployments, not InferenceServices")
    if not kubectl_available or not target.namespace:
        pytest.skip("not applicable: no cluster reachable through kubectl (or no namespace in the stack outputs)")
    isvc = json.loads(_kubectl("get", "inferenceservice", target.name, "-n", target.namespace, "-o", "json"))
    ready = next((c for c in isvc.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), None)
    assert ready and ready.get("status") == "True", (
        f"{target.name}: InferenceService Ready condition is {ready}; recent events:\n{_events(target.namespace)}"
    )
