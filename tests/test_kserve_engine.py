"""KServe in the loop: the real KServe v0.20 controller manager and its webhooks (built by
tools/toolchain.sh, run by localcp.kserve on 127.0.0.1) reconcile every committed stack's models on
the local control plane. Assertions are against the objects KServe actually created: predictor
Deployments and Services, the pods kwok runs, Ready InferenceServices, the selectors of our
ScaledObjects, PodMonitor, NetworkPolicy and PDB, no HPA for fixed-replica models, no drift after
KServe's defaulting, and the restricted Pod Security Standard enforced by the API server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT, STACK_FILES

from infra.chart import render
from infra.planner import plan_stack
from infra.program import MODEL_NAMESPACE_LABELS
from infra.stack import load_stack_file

pytestmark = pytest.mark.engine
STACKS = [*STACK_FILES, REPO_ROOT / "tests" / "fixtures" / "stacks" / "Pulumi.e2e.yaml"]
READY_TIMEOUT = 120


@pytest.fixture(scope="module")
def kserve(local_cluster, kserve_on):
    yield from kserve_on(local_cluster)


@pytest.fixture(scope="module")
def deployed(local_cluster, kserve) -> dict[str, tuple[str, list[dict]]]:
    """Every stack's models applied once (server-side, as the provider does); stack -> (ns, objects)."""
    out = {}
    for stack in STACKS:
        config = plan_stack(load_stack_file(stack)).config
        objects = render(config.chart_values(), release=config.release_name, namespace=config.namespace)
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": config.namespace, "labels": MODEL_NAMESPACE_LABELS}}
        local_cluster.apply([namespace], field_manager="llm-platform")
        local_cluster.provide_claims(config.namespace, objects)  # prod's CPU model reads a PVC copy
        _label_cache_group_nodes(local_cluster, config)
        result = local_cluster.kubectl("apply", "--server-side", "--field-manager", "llm-platform", "-f", "-",
                                       stdin=_yaml(objects), check=False)  # fmt: skip
        assert result.returncode == 0, f"{stack.name}: KServe (or the API server) rejected a model:\n{result.stderr[-3000:]}"
        out[stack.name] = (config.namespace, objects)
    return out


def _label_cache_group_nodes(cluster, config) -> None:
    """What an operator does for each node cache group (prod's H100 pool): label its nodes
    kserve/localmodel=worker, where KServe's node agent runs and cached models are pinned."""
    for group in config.platform.kserve.local_model.node_groups.values():
        for node in cluster.list("nodes"):
            if all(node["metadata"]["labels"].get(k) == v for k, v in group.node_selector.items()):
                cluster.kubectl("label", "nodes", node["metadata"]["name"], "kserve/localmodel=worker", "--overwrite")


def _yaml(objects: list[dict]) -> str:
    import yaml

    return yaml.safe_dump_all(objects)


def _isvcs(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] == "InferenceService"]


def _wait_ready(cluster, namespace: str, name: str) -> dict:
    deadline, live = time.monotonic() + READY_TIMEOUT, None
    while time.monotonic() < deadline:
        live = cluster.get("inferenceservice", name, namespace)
        conditions = {c["type"]: c for c in (live or {}).get("status", {}).get("conditions", [])}
        if conditions.get("Ready", {}).get("status") == "True":
            return live
        time.sleep(2)
    # The InferenceService's events and its pods' (FailedScheduling says which node constraint failed).
    events = cluster.kubectl("get", "events", "-n", namespace, check=False).stdout
    events = "\n".join(line for line in events.splitlines() if name in line or "LAST SEEN" in line)
    raise AssertionError(f"InferenceService {namespace}/{name} not Ready within {READY_TIMEOUT}s: "
                         f"{(live or {}).get('status')}\nevents:\n{events[-2000:]}")  # fmt: skip


def _workload(pod: dict) -> str:
    """The model a live pod serves, from what created it: KServe's InferenceService label, or the
    ReplicaSet (<deployment>-<hash>) of a llama.cpp Deployment."""
    isvc = pod["metadata"]["labels"].get("serving.kserve.io/inferenceservice")
    return isvc or pod["metadata"]["ownerReferences"][0]["name"].rsplit("-", 1)[0]


def _matches(selector: dict, labels: dict) -> bool:
    """A LabelSelector (matchLabels + matchExpressions In/Exists) against labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        value, op = labels.get(expr["key"]), expr["operator"]
        if (op == "In" and value not in expr["values"]) or (op == "Exists" and value is None) or (op == "NotIn" and value in expr["values"]):
            return False
    return True


@pytest.mark.parametrize("stack", STACKS, ids=lambda p: p.name)
def test_every_inferenceservice_becomes_ready(local_cluster, deployed, stack: Path) -> None:
    namespace, objects = deployed[stack.name]
    for isvc in _isvcs(objects):
        _wait_ready(local_cluster, namespace, isvc["metadata"]["name"])


@pytest.mark.parametrize("stack", STACKS, ids=lambda p: p.name)
def test_kserve_creates_predictors_that_kwok_runs_on_matching_gpu_nodes(local_cluster, deployed, stack: Path) -> None:
    namespace, objects = deployed[stack.name]
    for isvc in _isvcs(objects):
        name = isvc["metadata"]["name"]
        _wait_ready(local_cluster, namespace, name)
        assert local_cluster.get("deployment", f"{name}-predictor", namespace), f"no Deployment {name}-predictor"
        assert local_cluster.get("service", f"{name}-predictor", namespace), f"no Service {name}-predictor"
        pods = local_cluster.list("pods", namespace, f"serving.kserve.io/inferenceservice={name}")
        assert pods and all(p["status"]["phase"] == "Running" for p in pods), [p["status"].get("phase") for p in pods]
        product = isvc["spec"]["predictor"].get("nodeSelector", {}).get("nvidia.com/gpu.product")
        for pod in pods:
            node = local_cluster.get("node", pod["spec"]["nodeName"])
            assert product is None or node["metadata"]["labels"]["nvidia.com/gpu.product"] == product
            # KServe's pod mutator injected the storage initializer for the model's storageUri.
            assert "storage-initializer" in [c["name"] for c in pod["spec"].get("initContainers", [])]


@pytest.mark.parametrize("stack", STACKS, ids=lambda p: p.name)
def test_our_selectors_match_what_kserve_created(local_cluster, deployed, stack: Path) -> None:
    namespace, objects = deployed[stack.name]
    for isvc in _isvcs(objects):
        _wait_ready(local_cluster, namespace, isvc["metadata"]["name"])
    # Every model pod that exists: KServe's predictors and the llama.cpp Deployments' pods (not the
    # OTel collector, not the routed models' endpoint pickers).
    every = local_cluster.list("pods", namespace)
    pods = [p for p in every if p["metadata"]["labels"].get("app.kubernetes.io/component") not in ("otel-collector", "endpoint-picker")]
    pickers = [p for p in every if p["metadata"]["labels"].get("app.kubernetes.io/component") == "endpoint-picker"]
    assert any("serving.kserve.io/inferenceservice" in p["metadata"]["labels"] for p in pods) == bool(_isvcs(objects))
    for obj in objects:
        kind = obj["kind"]
        if kind == "InferencePool":
            # Exactly the pods KServe (or the chart's Deployment) made for that model.
            model = obj["metadata"]["name"]
            matched = [p for p in pods + pickers if _matches(obj["spec"]["selector"], p["metadata"]["labels"])]
            assert matched and {_workload(p) for p in matched} == {model}, (model, [p["metadata"]["name"] for p in matched])
        elif (kind == "NetworkPolicy" and obj["metadata"]["name"].endswith("-epp")) or (kind == "PodMonitor" and "endpoint-pickers" in obj["metadata"]["name"]):
            selector = obj["spec"]["podSelector"] if kind == "NetworkPolicy" else obj["spec"]["selector"]
            matched = [p["metadata"]["name"] for p in pods + pickers if _matches(selector, p["metadata"]["labels"])]
            wanted = [p["metadata"]["name"] for p in pickers if kind == "PodMonitor" or p["metadata"]["name"].startswith(obj["metadata"]["name"] + "-")]
            assert matched and sorted(matched) == sorted(wanted), (kind, obj["metadata"]["name"], matched)
        elif kind == "ScaledObject":
            target = obj["spec"]["scaleTargetRef"]["name"]
            assert local_cluster.get("deployment", target, namespace), f"ScaledObject {obj['metadata']['name']} targets missing {target}"
        elif kind in ("PodMonitor", "PodDisruptionBudget") or kind == "NetworkPolicy":
            selector = obj["spec"]["podSelector"] if kind == "NetworkPolicy" else obj["spec"]["selector"]
            matched = [p["metadata"]["name"] for p in pods if _matches(selector, p["metadata"]["labels"])]
            if kind == "PodDisruptionBudget":
                model = obj["metadata"]["labels"]["llm-serving/model"]
                owners = {p["metadata"]["name"]: _workload(p) for p in pods}
                assert matched and {owners[m] for m in matched} == {model}, (obj["metadata"]["name"], matched)
            else:
                assert sorted(matched) == sorted(p["metadata"]["name"] for p in pods), (kind, selector)


@pytest.mark.parametrize("stack", STACKS, ids=lambda p: p.name)
def test_fixed_replica_models_get_no_hpa_from_kserve(local_cluster, deployed, stack: Path) -> None:
    namespace, objects = deployed[stack.name]
    fixed = [i["metadata"]["name"] for i in _isvcs(objects) if i["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "none"]
    for name in fixed:
        _wait_ready(local_cluster, namespace, name)
    hpas = {h["metadata"]["name"] for h in local_cluster.list("hpa", namespace)}
    assert not {f"{name}-predictor" for name in fixed} & hpas, hpas


@pytest.mark.parametrize("stack", STACKS, ids=lambda p: p.name)
def test_second_apply_after_kserve_acted_shows_no_drift(local_cluster, deployed, stack: Path) -> None:
    """KServe's defaulting webhook and controller have acted: re-applying the same render (server
    side, as our field manager) must change nothing we own."""
    namespace, objects = deployed[stack.name]
    for isvc in _isvcs(objects):
        _wait_ready(local_cluster, namespace, isvc["metadata"]["name"])
    diff = local_cluster.kubectl("diff", "--server-side", "--field-manager", "llm-platform", "-f", "-", stdin=_yaml(objects), check=False)
    assert diff.returncode == 0, f"drift after KServe acted:\n{diff.stdout[-4000:]}{diff.stderr[-1000:]}"


@pytest.mark.parametrize("stack", STACKS, ids=lambda p: p.name)
def test_restricted_pod_security_admits_every_model_pod(local_cluster, deployed, stack: Path) -> None:
    namespace, objects = deployed[stack.name]
    assert local_cluster.get("namespace", namespace)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for isvc in _isvcs(objects):
        _wait_ready(local_cluster, namespace, isvc["metadata"]["name"])
    failed = local_cluster.kubectl("get", "events", "-n", namespace, "--field-selector", "reason=FailedCreate", "-o", "name").stdout.split()
    assert failed == [], local_cluster.kubectl("get", "events", "-n", namespace, "--field-selector", "reason=FailedCreate").stdout
    deadline = time.monotonic() + 90  # a PVC-backed pod waits for its claim to bind first
    while True:
        unready = [d["metadata"]["name"] for d in local_cluster.list("deployments", namespace)
                   if d["status"].get("readyReplicas", 0) != d["spec"]["replicas"]]  # fmt: skip
        if not unready or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert unready == []


def test_helm_test_pods_and_otel_collector_pass_restricted_pod_security(local_cluster, kserve) -> None:
    """Pods the chart creates itself: `helm test` pods (created directly: the API server judges them
    at create time) and the OTel collector Deployment (judged when its ReplicaSet creates pods)."""
    from conftest import llamacpp_entry, vllm_entry

    from infra.stack import parse

    config = parse({"namespace": "llm-psa", "observability": {"tracing": {"enabled": True}}, "models": [vllm_entry(), llamacpp_entry()]})
    objects = render(config.chart_values(), release=config.release_name, namespace=config.namespace, include_hooks=True)
    assert any(o["kind"] == "Pod" for o in objects) and any("otel" in o["metadata"]["name"] for o in objects if o["kind"] == "Deployment")
    local_cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llm-psa", "labels": MODEL_NAMESPACE_LABELS}}])
    for obj in objects:
        obj["metadata"].get("annotations", {}).pop("helm.sh/hook", None)
    result = local_cluster.kubectl("apply", "--server-side", "--field-manager", "llm-platform", "-f", "-", stdin=_yaml(objects), check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        deployments = local_cluster.list("deployments", "llm-psa")
        if deployments and all(d["status"].get("readyReplicas", 0) == d["spec"]["replicas"] for d in deployments):
            break
        time.sleep(2)
    failed = local_cluster.kubectl("get", "events", "-n", "llm-psa", "--field-selector", "reason=FailedCreate").stdout
    assert "violates PodSecurity" not in failed and all(d["status"].get("readyReplicas", 0) == d["spec"]["replicas"] for d in deployments), failed


def test_deployment_mode_change_is_refused_in_place_and_admitted_as_a_replacement(local_cluster, deployed) -> None:
    """Why the program replaces an InferenceService whose deploymentMode changes (model_serving.py
    replace_on_deployment_mode_change): KServe's webhook refuses the update, and admits the
    delete-then-create the engine performs instead."""
    import yaml

    from infra.stack import parse

    namespace, objects = deployed["Pulumi.dev.yaml"]
    [isvc] = _isvcs(objects)
    _wait_ready(local_cluster, namespace, isvc["metadata"]["name"])
    # The same model in knative mode, as the chart renders it.
    raw = yaml.safe_load((REPO_ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    raw["llm-platform:models"][0]["autoscaling"] = {"mode": "knative"}
    raw["llm-platform:platform"] = {**raw["llm-platform:platform"], "knative": {"preinstalled": True}}
    config = plan_stack(parse({k.split(":", 1)[1]: v for k, v in raw.items()})).config
    [knative] = _isvcs(render(config.chart_values(), release=config.release_name, namespace=config.namespace))
    assert knative["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
    update = local_cluster.kubectl("apply", "--server-side", "--field-manager", "llm-platform", "-f", "-", stdin=_yaml([knative]), check=False)
    assert update.returncode != 0 and "deploymentMode cannot be changed" in update.stderr, update.stderr
    local_cluster.kubectl("delete", "inferenceservice", isvc["metadata"]["name"], "-n", namespace, "--wait=true")
    create = local_cluster.kubectl("apply", "--server-side", "--field-manager", "llm-platform", "-f", "-", stdin=_yaml([knative]), check=False)
    try:
        assert create.returncode == 0, create.stderr
    finally:  # back to the render, for the other tests of this module
        local_cluster.kubectl("delete", "inferenceservice", isvc["metadata"]["name"], "-n", namespace, "--wait=true", check=False)
        local_cluster.apply([isvc], field_manager="llm-platform")


# ---- Linter tier: kube-score and Checkov over every committed stack, with the predictor
# Deployments the real KServe controller built (the linters cannot read an InferenceService).
def _linted_objects(local_cluster, deployed) -> list[dict]:
    found = []
    for namespace, objects in deployed.values():
        for obj in objects:
            if obj["kind"] == "InferenceService":
                _wait_ready(local_cluster, namespace, obj["metadata"]["name"])
                live = local_cluster.get("deployment", f"{obj['metadata']['name']}-predictor", namespace)
                live.pop("status", None)
                for key in ("managedFields", "uid", "resourceVersion", "creationTimestamp", "generation"):
                    live["metadata"].pop(key, None)
                found.append(live)
            elif obj["kind"] != "ServingRuntime":
                found.append(obj)
    return found


@pytest.fixture(scope="module")
def linted(local_cluster, deployed) -> list[dict]:
    return _linted_objects(local_cluster, deployed)


def test_kube_score_finds_nothing_outside_the_reviewed_allow_list(linted) -> None:
    from linters import kube_score, unexplained

    from infra.versions import KUBERNETES_VERSION
    from localcp.toolchain import bin_dir

    assert any(o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-predictor") for o in linted)
    findings = kube_score(bin_dir("kubescore") / "kube-score", linted, "v" + KUBERNETES_VERSION.rsplit(".", 1)[0])
    left, stale = unexplained(findings, "kube-score")
    assert not left, "kube-score findings not in tests/linters/allowlist.yaml:\n" + "\n".join(map(str, left))
    assert not stale, f"allow-list entries that no longer match a kube-score finding (remove them): {stale}"


def test_checkov_finds_nothing_outside_the_reviewed_allow_list(linted) -> None:
    import subprocess

    from linters import checkov, unexplained

    result = subprocess.run(["bash", str(REPO_ROOT / "tools" / "checkov-venv.sh")], capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-2000:]
    findings = checkov(Path(result.stdout.split()[-1]), linted)
    left, stale = unexplained(findings, "checkov")
    assert not left, "Checkov findings not in tests/linters/allowlist.yaml:\n" + "\n".join(map(str, left))
    assert not stale, f"allow-list entries that no longer match a Checkov finding (remove them): {stale}"


def test_every_allow_list_entry_has_a_reason() -> None:
    from linters import allowlist

    for entry in allowlist():
        assert set(entry) == {"linter", "check", "objects", "reason"}, entry
        assert entry["linter"] in ("kube-score", "checkov") and len(entry["reason"].split()) >= 8, entry
