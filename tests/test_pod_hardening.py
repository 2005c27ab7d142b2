"""Pod hardening the foreign linters (Checkov, kube-score, kube-linter, Polaris) asked for, on every
pod the chart renders: the linter tier (test_linters_engine.py) runs the linters themselves; these
tests pin each fix on every committed stack and matrix case."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CONFIGS, objects_of, vllm_entry

from infra.chart import render
from infra.planner import plan_stack
from infra.stack import parse

RENDERED = [(case, render(config.chart_values(), release=config.release_name, namespace=config.namespace, include_hooks=True))
            for case, config in CONFIGS]  # fmt: skip
IDS = [case for case, _ in RENDERED]


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every pod the chart defines; an InferenceService's predictor is
    the pod spec KServe copies into its Deployment."""
    found = []
    for o in objects:
        name = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] == "Deployment":
            found.append((name, o["spec"]["template"]["spec"]))
        elif o["kind"] == "Pod":
            found.append((name, o["spec"]))
        elif o["kind"] == "InferenceService":
            found.append((name, o["spec"]["predictor"]))
    return found


def containers(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    found = [(f"{n}/{c['name']}", c) for n, spec in pod_specs(objects) for c in spec.get("containers", []) + spec.get("initContainers", [])]
    found += [(f"ServingRuntime/{o['metadata']['name']}/{c['name']}", c) for o in objects_of(objects, "ServingRuntime") for c in o["spec"]["containers"]]
    return found


@pytest.mark.parametrize("case,objects", RENDERED, ids=IDS)
def test_no_pod_mounts_a_service_account_token(case: str, objects: list) -> None:
    """Except endpoint pickers, which watch their InferencePool and its pods: they mount the token
    of their own ServiceAccount, bound to a Role that only reads."""
    specs = pod_specs(objects)
    assert specs
    pickers = {f"Deployment/{o['metadata']['name']}" for o in objects_of(objects, "Deployment")
               if o["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == "endpoint-picker"}  # fmt: skip
    assert [n for n, spec in specs if spec.get("automountServiceAccountToken") is not False and n not in pickers] == []
    assert all(sa.get("automountServiceAccountToken") is False for sa in objects_of(objects, "ServiceAccount"))
    roles = {o["metadata"]["name"]: o for o in objects_of(objects, "Role")}
    for name, spec in specs:
        if name in pickers:
            account = spec["serviceAccountName"]
            assert {v for rule in roles[account]["rules"] for v in rule["verbs"]} == {"get", "list", "watch"}, name


@pytest.mark.parametrize("case,objects", RENDERED, ids=IDS)
def test_every_container_has_a_read_only_root_filesystem_and_a_bounded_tmp(case: str, objects: list) -> None:
    for name, container in containers(objects):
        assert container["securityContext"].get("readOnlyRootFilesystem") is True, name
    volumes = [v for o in objects_of(objects, "ServingRuntime") for v in o["spec"]["volumes"]]
    volumes += [v for _, spec in pod_specs(objects) for v in spec.get("volumes", [])]
    for volume in volumes:
        if "emptyDir" in volume and volume["name"] != "models":
            assert volume["emptyDir"].get("sizeLimit"), volume


@pytest.mark.parametrize("case,objects", RENDERED, ids=IDS)
def test_server_containers_request_and_limit_ephemeral_storage(case: str, objects: list) -> None:
    servers = [(n, c) for n, c in containers(objects) if n.startswith("ServingRuntime/") or c["name"] == "llama-server"]
    servers += [(n, c) for n, c in containers(objects) if n.startswith("InferenceService/")]
    for name, container in servers:
        resources = container.get("resources")
        if resources is None:  # ServingRuntime containers: resources come from the InferenceService
            continue
        assert resources["requests"].get("ephemeral-storage") == resources["limits"].get("ephemeral-storage"), name
        assert resources["requests"]["ephemeral-storage"].endswith("Gi"), name


def test_downloaded_weights_size_the_ephemeral_storage() -> None:
    # Qwen2.5-7B BF16: 15.2 GB of weights, +10% headroom, +10 GiB scratch.
    [model] = plan_stack(parse({"models": [vllm_entry()]})).config.models
    assert model.resources.ephemeral_storage == "26Gi"
    [mounted] = plan_stack(parse({"models": [vllm_entry(source={"uri": "pvc://weights/qwen"}, architecture="qwen2.5-7b")]})).config.models
    assert mounted.resources.ephemeral_storage == "10Gi"


@pytest.mark.parametrize("case,objects", RENDERED, ids=IDS)
def test_multi_replica_models_spread_across_nodes_and_zones(case: str, objects: list) -> None:
    for name, spec in pod_specs(objects):
        if name.startswith("Pod/") or "otel" in name:
            continue
        many = [p for p in objects_of(objects, "PodDisruptionBudget") if p["metadata"]["name"] == name.split("/")[1]]
        if not many:  # a PDB exists exactly for models that can run more than one replica
            assert "affinity" not in spec, name
            continue
        [term] = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
        assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == many[0]["spec"]["selector"]["matchLabels"]
        [spread] = spec["topologySpreadConstraints"]
        assert (spread["topologyKey"], spread["whenUnsatisfiable"]) == ("topology.kubernetes.io/zone", "ScheduleAnyway")


@pytest.mark.parametrize("case,objects", RENDERED, ids=IDS)
def test_disruption_budgets_let_drains_evict_unready_replicas(case: str, objects: list) -> None:
    for pdb in objects_of(objects, "PodDisruptionBudget"):
        assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow", pdb["metadata"]["name"]


def test_otel_collector_has_probes_and_accepts_otlp_only_from_model_pods() -> None:
    [(_, objects)] = [(c, o) for c, o in RENDERED if c == "matrix-vllm-tracing"]
    [collector] = [d for d in objects_of(objects, "Deployment") if d["metadata"]["name"].endswith("otel-collector")]
    container = collector["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["port"] == container["livenessProbe"]["httpGet"]["port"] == "health"
    [config] = [c for c in objects_of(objects, "ConfigMap") if c["metadata"]["name"].endswith("otel-collector")]
    assert "health_check:" in config["data"]["config.yaml"] and "extensions: [health_check]" in config["data"]["config.yaml"]
    [policy] = [p for p in objects_of(objects, "NetworkPolicy") if p["metadata"]["name"].endswith("otel-collector")]
    assert policy["spec"]["podSelector"]["matchLabels"] == collector["spec"]["selector"]["matchLabels"]
    [rule] = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "llm-serving", "app.kubernetes.io/instance": "llm",
                                                             "app.kubernetes.io/component": "model-server"}}}]
    assert rule["ports"] == [{"port": 4317, "protocol": "TCP"}]
