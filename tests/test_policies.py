"""The llm-guardrails policies: each one trips on a violating object and passes a compliant one
(validators called through the Pulumi adapter with constructed args and a collecting reporter);
committed stacks pass every mandatory policy; a bad manifest set trips the expected ones."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest
from conftest import REPO_ROOT, STACK_FILES, llamacpp_entry, objects_of, vllm_entry

from infra.chart import render
from infra.planner import plan_stack
from infra.stack import load_stack_file, parse
from policies.check import load, run
from policies.guardrails.catalog import GUARDRAILS
from policies.guardrails.objects import Obj
from policies.guardrails.pulumi_adapter import obj_from, pulumi_policies
from google.protobuf import json_format, struct_pb2
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

TYPE = {
    "ServingRuntime": "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime",
    "InferenceService": "kubernetes:serving.kserve.io/v1beta1:InferenceService",
    "Deployment": "kubernetes:apps/v1:Deployment",
    "ScaledObject": "kubernetes:keda.sh/v1alpha1:ScaledObject",
    "HTTPScaledObject": "kubernetes:http.keda.sh/v1alpha1:HTTPScaledObject",
    "PrometheusRule": "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
    "NetworkPolicy": "kubernetes:networking.k8s.io/v1:NetworkPolicy",
}
POLICIES = {p.name: p for p in pulumi_policies()}


def pulumi_type(o: dict[str, Any]) -> str:
    """The Pulumi Kubernetes provider's type token of an object (core/v1 for the core group)."""
    api_version = o["apiVersion"] if "/" in o["apiVersion"] else f"core/{o['apiVersion']}"
    return f"kubernetes:{api_version}:{o['kind']}"


def engine_props(props: dict[str, Any]) -> Any:
    """Resource inputs exactly as pulumi_policy hands them to a validator under the real engine:
    a protobuf Struct (every number a double), deserialized, wrapped in its read-only proxies
    (pulumi_policy/policy.py: `unknown_checking_proxy(deserialize_properties(MessageToDict(...)))`)."""
    struct = struct_pb2.Struct()
    struct.update(props)
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


def report(policy_name: str, objects: list[dict[str, Any]]) -> list[str]:
    """Violations of one pack policy over objects, as CrossGuard would report them."""
    policy, violations = POLICIES[policy_name], []

    def collect(message: str, urn: str | None = None) -> None:
        violations.append(message)

    def to_args(o: dict[str, Any]) -> SimpleNamespace:
        props = {k: v for k, v in o.items() if k not in ("apiVersion", "kind")}
        return SimpleNamespace(resource_type=pulumi_type(o), props=engine_props(props), get_config=lambda: {})

    if hasattr(policy, "validate") and policy.__class__.__name__ == "StackValidationPolicy":
        policy.validate(SimpleNamespace(resources=[to_args(o) for o in objects], get_config=lambda: {}), collect)
    else:
        for o in objects:
            policy.validate(to_args(o), collect)
    return violations


@pytest.fixture(scope="module")
def compliant(render_models_module) -> list[dict[str, Any]]:
    raw_models = [
        vllm_entry(name="big", gpu={"count": 2, "product": "NVIDIA-L4"}, autoscaling={"mode": "keda", "maxReplicas": 2}),
        llamacpp_entry(name="tiny"),
    ]
    return render_models_module(*raw_models)


def _first(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    return copy.deepcopy(next(o for o in objects_of(objects, kind) if name is None or o["metadata"]["name"] == name))


def _runtime_container(o: dict[str, Any]) -> dict[str, Any]:
    return o["spec"]["containers"][0]


def _llama_container(o: dict[str, Any]) -> dict[str, Any]:
    return o["spec"]["template"]["spec"]["containers"][0]


def _set_arg(o: dict[str, Any], flag: str, value: str | None) -> dict[str, Any]:
    args = [a for a in _runtime_container(o)["args"] if not a.startswith(flag)]
    _runtime_container(o)["args"] = args + ([f"{flag}={value}"] if value is not None else [])
    return o


# policy -> (kind, mutation that makes the compliant object violate it)
VIOLATE: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "images-pinned": ("ServingRuntime", lambda o: _runtime_container(o).update(image="vllm/vllm-openai:latest") or o),
    "vllm-gpu-requested": ("InferenceService", lambda o: o["spec"]["predictor"]["model"]["resources"]["limits"].pop("nvidia.com/gpu") and o),
    "llamacpp-no-gpu": ("Deployment", lambda o: _llama_container(o)["resources"]["limits"].update({"nvidia.com/gpu": "1"}) or o),
    "vllm-max-model-len-set": ("ServingRuntime", lambda o: _set_arg(o, "--max-model-len", None)),
    "vllm-gpu-memory-utilization": ("ServingRuntime", lambda o: _set_arg(o, "--gpu-memory-utilization", "0.98")),
    "termination-grace-period": ("InferenceService", lambda o: o["spec"]["predictor"].update(terminationGracePeriodSeconds=30) or o),
    "rollout-keeps-capacity": ("Deployment", lambda o: o["spec"]["strategy"]["rollingUpdate"].update(maxUnavailable=1) or o),
    "probes-present": ("ServingRuntime", lambda o: _runtime_container(o).pop("startupProbe") and o),
    "shm-for-tensor-parallel": ("ServingRuntime", lambda o: o["spec"].pop("volumes") and o),
    "scale-to-zero-has-activation": ("ScaledObject", lambda o: o["spec"].update(minReplicaCount=0) or o),
    "alerts-have-runbook": ("PrometheusRule", lambda o: o["spec"]["groups"][1]["rules"][0]["annotations"].pop("runbook_url") and o),
    "pod-security-hardened": ("Deployment", lambda o: o["spec"]["template"]["spec"].pop("securityContext") and o),
    "resource-requests-set": ("Deployment", lambda o: _llama_container(o)["resources"].pop("requests") and o),
    "network-policy-restricts-model-pods": ("NetworkPolicy", None),  # type: ignore[dict-item]
    "api-key-auth-production": ("Deployment", lambda o: o["metadata"]["labels"].update({"llm-serving/environment": "production"}) or o),
    "api-key-auth": ("Deployment", lambda o: o),
}


# Routing and node-cache guardrails need a routed or cached stack: their violation cases are the
# test_*_is_reported tests below.
OWN_STACK_GUARDRAILS = {"inference-pool-selects-model-pods", "http-route-backend-exists",
                        "cached-models-fit-node-group", "cached-model-on-group-nodes"}


def test_every_guardrail_has_a_violation_case() -> None:
    assert set(VIOLATE) | OWN_STACK_GUARDRAILS == {g.name for g in GUARDRAILS}


@pytest.mark.parametrize("name", sorted(VIOLATE))
def test_policy_trips_on_violation_and_passes_compliant(name: str, compliant: list[dict[str, Any]]) -> None:
    kind, violate = VIOLATE[name]
    if name == "network-policy-restricts-model-pods":
        without = [o for o in compliant if o["kind"] != "NetworkPolicy"]
        assert report(name, [o for o in without if o["kind"] in TYPE])
        assert report(name, [o for o in compliant if o["kind"] in TYPE]) == []
        return
    if name == "api-key-auth":  # advisory: compliant objects carry an API key
        obj = _first(compliant, kind)
        assert report(name, [obj])
        _llama_container(obj)["env"].append({"name": "LLAMA_API_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "api-key"}}})
        assert report(name, [obj]) == []
        return
    obj = _first(compliant, kind)
    assert report(name, [obj]) == [], f"{name} flags the chart's own {kind}"
    assert report(name, [violate(copy.deepcopy(obj))]), f"{name} misses the violation"


@pytest.fixture(scope="module")
def waking(render_models_module) -> list[dict[str, Any]]:
    """vLLM scaled to zero through the KEDA HTTP add-on (HTTPScaledObject + external-push trigger)."""
    config = plan_stack(parse({"namespace": "llm", "platform": {"keda": {"httpAddon": True}},
                               "models": [vllm_entry(name="wake", autoscaling={"mode": "keda", "minReplicas": 0, "maxReplicas": 2})]}))
    return [o for o in render(config.config.chart_values(), release="llm", namespace="llm") if o["kind"] in TYPE]


def test_scale_to_zero_through_the_http_addon_passes(waking: list[dict[str, Any]]) -> None:
    assert report("scale-to-zero-has-activation", waking) == []


def test_scale_to_zero_without_the_http_scaled_object_trips(waking: list[dict[str, Any]]) -> None:
    found = report("scale-to-zero-has-activation", [o for o in waking if o["kind"] != "HTTPScaledObject"])
    assert any("names HTTPScaledObject wake-http, which is not in this stack" in m for m in found), found
    assert any("InferenceService" in m or "nothing holds requests" in m for m in found), found


def test_http_scaled_object_waking_another_deployment_trips(waking: list[dict[str, Any]]) -> None:
    objects = copy.deepcopy(waking)
    _first_in_place(objects, "HTTPScaledObject")["spec"]["scaleTargetRef"]["name"] = "other-predictor"
    found = report("scale-to-zero-has-activation", objects)
    assert any("wakes other-predictor, not this ScaledObject's wake-predictor" in m for m in found), found


def _first_in_place(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind)


def test_policies_are_documented_and_remediated() -> None:
    docs = (REPO_ROOT / "docs" / "policies.md").read_text()
    for policy in pulumi_policies():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", policy.name)
        assert policy.description and policy.remediation_steps and policy.url.startswith("https://")
        assert f"### {policy.name}" in docs
    levels = {p.name: p.enforcement_level.value for p in pulumi_policies()}
    assert levels["api-key-auth"] == "advisory" and levels["images-pinned"] == "mandatory"


def test_threshold_comes_from_pack_config() -> None:
    policy = POLICIES["vllm-gpu-memory-utilization"]
    runtime = {"metadata": {"name": "r"}, "spec": {"containers": [{"name": "c", "command": ["vllm", "serve"], "args": ["--gpu-memory-utilization=0.97"]}]}}
    found: list[str] = []
    args = SimpleNamespace(resource_type=TYPE["ServingRuntime"], props=engine_props(runtime), get_config=lambda: {"maxGpuMemoryUtilization": 0.98})
    policy.validate(args, lambda m, u=None: found.append(m))
    assert found == []
    args.get_config = lambda: {}
    policy.validate(args, lambda m, u=None: found.append(m))
    assert found and "above 0.95" in found[0]


def test_unknown_preview_values_do_not_trip_policies() -> None:
    unknown = UNKNOWN_STRING_VALUE  # what the engine sends for a computed value before `pulumi up`
    props = {"metadata": {"name": "r"}, "spec": {"containers": [{"name": "c", "image": unknown, "command": ["vllm", "serve"],
             "args": ["--max-model-len=4096", unknown]}]}}  # fmt: skip
    obj = obj_from(TYPE["ServingRuntime"], engine_props(props))
    assert obj is not None
    for guardrail in GUARDRAILS:
        if guardrail.check and guardrail.name in ("images-pinned", "vllm-gpu-memory-utilization", "vllm-max-model-len-set"):
            assert list(guardrail.check(obj, {"maxGpuMemoryUtilization": 0.95})) == []


@pytest.mark.parametrize("stack", STACK_FILES, ids=lambda p: p.name)
def test_committed_stacks_pass_mandatory_policies(stack: Path) -> None:
    config = plan_stack(load_stack_file(stack)).config
    objects = [Obj(o) for o in render(config.chart_values(), release=config.release_name, namespace=config.namespace)]
    mandatory = [v for v in run(objects) if v[1] == "mandatory"]
    assert mandatory == []


def test_bad_manifests_trip_the_expected_policies() -> None:
    tripped = {v[0] for v in run(load(REPO_ROOT / "tests" / "fixtures" / "bad-manifests"))}
    assert tripped == {
        "images-pinned", "vllm-gpu-requested", "llamacpp-no-gpu", "vllm-max-model-len-set",
        "vllm-gpu-memory-utilization", "termination-grace-period", "rollout-keeps-capacity", "probes-present",
        "shm-for-tensor-parallel", "scale-to-zero-has-activation", "alerts-have-runbook", "pod-security-hardened",
        "resource-requests-set", "network-policy-restricts-model-pods", "api-key-auth-production", "api-key-auth",
        "inference-pool-selects-model-pods", "http-route-backend-exists",
    }  # fmt: skip


def test_check_cli_prints_violations_and_exits_nonzero() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "policies.check", "--manifests", str(REPO_ROOT / "tests" / "fixtures" / "bad-manifests")],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 1
    assert "images-pinned: ServingRuntime/llm/bad-vllm: container kserve-container image 'vllm/vllm-openai:latest' is not pinned" in result.stdout


def test_engine_shaped_props_still_trip_numeric_policies() -> None:
    """The real engine sends numbers as floats inside read-only proxies: a grace period of 30 must
    still be reported (before the fix every check returned early on a non-dict)."""
    deployment = {"metadata": {"name": "tiny", "labels": {"app.kubernetes.io/component": "model-server"}}, "spec": {"template": {
                  "spec": {"terminationGracePeriodSeconds": 30, "containers": [{"name": "llama-server"}]}}}}  # fmt: skip
    props = engine_props(deployment)
    assert not isinstance(props, dict) and props["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 30.0
    found: list[str] = []
    POLICIES["termination-grace-period"].validate(
        SimpleNamespace(resource_type=TYPE["Deployment"], props=props, get_config=lambda: {}), lambda m, u=None: found.append(m)
    )
    assert found and "30" in found[0]


def test_config_floor_and_policy_threshold_are_one_number() -> None:
    """What the config refuses below and what the pack reports below are the same threshold."""
    from infra.config.models import MIN_TERMINATION_GRACE_SECONDS

    policy = next(g for g in GUARDRAILS if g.name == "termination-grace-period")
    assert dict((k, d) for k, _, d in policy.config)["minTerminationGraceSeconds"] == MIN_TERMINATION_GRACE_SECONDS
    assert f">= {MIN_TERMINATION_GRACE_SECONDS} s" in policy.description


def test_check_cli_prints_remediation_link_and_object_count() -> None:
    result = subprocess.run([sys.executable, "-m", "policies.check", "--manifests", str(REPO_ROOT / "tests" / "fixtures" / "bad-manifests")],
                            capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
    images = next(g for g in GUARDRAILS if g.name == "images-pinned")
    assert f"  fix: {images.remediation}" in result.stdout and f"  see: {images.url}" in result.stdout
    assert re.search(r"checked 7 objects against \d+ policies", result.stderr)


@pytest.mark.parametrize("layout", ["missing", "empty"])
def test_check_cli_refuses_nothing_to_check(tmp_path: Path, layout: str) -> None:
    target = tmp_path / "manifests"
    if layout == "empty":
        target.mkdir()
    result = subprocess.run([sys.executable, "-m", "policies.check", "--manifests", str(target)], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 2 and "error: --manifests" in result.stderr and "0 mandatory" not in result.stderr


@pytest.fixture(scope="module")
def sglang_runtime(render_models_module) -> dict[str, Any]:
    entry = vllm_entry(name="sg", runtime="sglang", gpu={"count": 2, "product": "NVIDIA-L4"})
    return _first(render_models_module(entry), "ServingRuntime")


@pytest.mark.parametrize("name, violate, message", [
    ("vllm-max-model-len-set", lambda a: [x for x in a if not x.startswith("--context-length")], "runs SGLang without --context-length"),
    ("vllm-gpu-memory-utilization", lambda a: [x for x in a if not x.startswith("--mem-fraction-static")] + ["--mem-fraction-static=0.98"],
     "sets --mem-fraction-static=0.98 above 0.95"),
], ids=["context-length", "mem-fraction"])  # fmt: skip
def test_engine_policies_read_sglang_flags(sglang_runtime: dict[str, Any], name: str, violate, message: str) -> None:
    assert report(name, [sglang_runtime]) == []
    bad = copy.deepcopy(sglang_runtime)
    _runtime_container(bad)["args"] = violate(_runtime_container(bad)["args"])
    found = report(name, [bad])
    assert any(message in m for m in found), found


def test_sglang_tensor_parallel_needs_shm(sglang_runtime: dict[str, Any]) -> None:
    assert report("shm-for-tensor-parallel", [sglang_runtime]) == []
    bad = copy.deepcopy(sglang_runtime)
    bad["spec"].pop("volumes")
    assert report("shm-for-tensor-parallel", [bad])


ROUTED = {"namespace": "llm-r", "platform": {"inferenceGateway": {"enabled": True}}}


def _routed_objects() -> list[dict[str, Any]]:
    config = plan_stack(parse({**ROUTED, "models": [llamacpp_entry(replicas=2)]})).config
    return render(config.chart_values(), release="llm", namespace="llm-r")


def test_rendered_routing_passes_the_routing_policies() -> None:
    objects = _routed_objects()
    assert report("inference-pool-selects-model-pods", objects) == []
    assert report("http-route-backend-exists", objects) == []


def test_pool_that_selects_no_model_pod_is_reported() -> None:
    objects = _routed_objects()
    _first_in_place(objects, "InferencePool")["spec"]["selector"]["matchLabels"]["llm-serving/model"] = "typo"
    found = report("inference-pool-selects-model-pods", objects)
    assert any("matches no model server pods" in m for m in found), found


def test_pool_that_selects_its_picker_is_reported() -> None:
    objects = _routed_objects()
    _first_in_place(objects, "InferencePool")["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/instance": "llm"}
    found = report("inference-pool-selects-model-pods", objects)
    assert any("also selects endpoint picker pods" in m for m in found), found


def test_route_to_a_missing_pool_is_reported() -> None:
    objects = [o for o in _routed_objects() if o["kind"] != "InferencePool"]
    found = report("http-route-backend-exists", objects)
    assert any("InferencePool llm-r/tiny is not in this stack" in m for m in found), found


def test_unpinned_picker_image_is_reported() -> None:
    objects = _routed_objects()
    picker = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "tiny-epp")
    picker["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.k8s.io/gateway-api-inference-extension/epp:latest"
    found = report("images-pinned", objects)
    assert any("container epp image" in m for m in found), found


def _cached_objects(capacity: str = "100Gi") -> list[dict[str, Any]]:
    """A cached model's objects plus the node group the platform layer creates (both in one stack)."""
    from infra.components.platform.components import node_group_spec

    platform = {"kserve": {"localModel": {"enabled": True, "nodeGroups": {"l4": {"capacity": capacity, "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"}}}}}}
    config = plan_stack(parse({"namespace": "llm-c", "platform": platform, "models": [vllm_entry(cache={"enabled": True})]})).config
    group = {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "LocalModelNodeGroup", "metadata": {"name": "l4"},
             "spec": node_group_spec(config.platform.kserve.local_model.node_groups["l4"])}
    return [*render(config.chart_values(), release="llm", namespace="llm-c"), group]


def test_rendered_cache_passes_the_cache_policies() -> None:
    objects = _cached_objects()
    assert report("cached-models-fit-node-group", objects) == []
    assert report("cached-model-on-group-nodes", objects) == []


def test_cache_larger_than_its_node_group_is_reported() -> None:
    objects = _cached_objects()
    next(o for o in objects if o["kind"] == "LocalModelNodeGroup")["spec"]["storageLimit"] = "10Gi"
    found = report("cached-models-fit-node-group", objects)
    assert any("over its storageLimit 10Gi" in m for m in found), found


def test_cached_model_scheduled_outside_its_group_is_reported() -> None:
    objects = _cached_objects()
    _first_in_place(objects, "InferenceService")["spec"]["predictor"]["nodeSelector"] = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    found = report("cached-model-on-group-nodes", objects)
    assert any("does not pin it to the group's nodes" in m for m in found), found
