"""Weights cached on GPU node groups (KServe LocalModelCache): config refusals by key, the planner's
capacity check and start-up estimates, the chart's objects, the platform layer's settings."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import llamacpp_entry, objects_of, run_program, vllm_entry

from infra.chart import render
from infra.planner import plan_stack
from infra.planner.report import table
from infra.platform.releases import component_releases
from infra.stack import ConfigError, parse

L4 = {"nvidia.com/gpu.product": "NVIDIA-L4"}


def _platform(groups: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    groups = {"l4": {"capacity": "100Gi", "nodeSelector": L4}} if groups is None else groups
    return {"kserve": {"localModel": {"enabled": True, "nodeGroups": groups, **extra}}}


def _error(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as err:
        plan_stack(parse(raw))
    return "\n".join(err.value.lines)


def _rendered(*models: dict[str, Any], platform: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    config = plan_stack(parse({"namespace": "llm-c", "platform": platform or _platform(), "models": list(models)})).config
    return render(config.chart_values(), release="llm", namespace="llm-c")


def test_cache_needs_the_platform_cache() -> None:
    assert "models[0].cache.enabled: needs platform.kserve.localModel.enabled" in _error({"models": [vllm_entry(cache={"enabled": True})]})


def test_unknown_node_group_is_refused_naming_the_known_ones() -> None:
    message = _error({"platform": _platform(), "models": [vllm_entry(cache={"enabled": True, "nodeGroup": "h100"})]})
    assert "models[0].cache.nodeGroup: no node group 'h100' in platform.kserve.localModel.nodeGroups (l4)" in message


def test_node_group_must_be_named_when_there_are_several() -> None:
    groups = {"l4": {"capacity": "1Ti", "nodeSelector": L4}, "l4b": {"capacity": "1Ti", "nodeSelector": {"pool": "b"}}}
    assert "models[0].cache.nodeGroup: required" in _error({"platform": _platform(groups), "models": [vllm_entry(cache={"enabled": True})]})


def test_source_the_cache_cannot_fetch_is_refused_by_scheme() -> None:
    message = _error({"platform": _platform(), "models": [vllm_entry(cache={"enabled": True}, source={"uri": "pvc://weights/qwen"})]})
    assert "cache.enabled" in message and "a pvc:// source is already a volume" in message


def test_llamacpp_model_cannot_be_cached() -> None:
    assert "cache: the node cache (KServe LocalModelCache) serves KServe InferenceServices" in _error(
        {"platform": _platform(), "models": [llamacpp_entry(cache={"enabled": True})]})


def test_model_that_runs_on_other_nodes_than_its_group_is_refused() -> None:
    groups = {"h100": {"capacity": "1Ti", "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}}}
    message = _error({"platform": _platform(groups), "models": [vllm_entry(cache={"enabled": True})]})
    assert "models[0].cache.nodeGroup: the group's nodes" in message and "NVIDIA-L4" in message


def test_models_that_do_not_fit_the_group_together_are_refused() -> None:
    """Two 7B BF16 checkpoints (~15 GiB each) in a 20 GiB group: the second one is named."""
    message = _error({"platform": _platform({"l4": {"capacity": "20Gi", "nodeSelector": L4}}),
                      "models": [vllm_entry(cache={"enabled": True}), vllm_entry(name="second", cache={"enabled": True})]})  # fmt: skip
    assert "models[1].cache.nodeGroup: second's weights (15.0 GiB) do not fit node group 'l4': capacity 20Gi, 15.0 GiB already taken" in message
    assert "models[0]" not in message


def test_planner_derives_model_size_and_drops_the_download_from_ephemeral_storage() -> None:
    config = plan_stack(parse({"platform": _platform(), "models": [vllm_entry(cache={"enabled": True}), vllm_entry(name="b")]})).config
    cached, plain = config.models
    assert cached.cache.model_size == "15Gi"
    assert cached.resources.ephemeral_storage == "10Gi" and plain.resources.ephemeral_storage == "26Gi"


def test_capacity_table_shows_start_up_with_and_without_the_cache() -> None:
    plan = plan_stack(parse({"platform": _platform(), "models": [vllm_entry(cache={"enabled": True}), vllm_entry(name="b")]}))
    cached, plain = plan.models
    assert cached.ready_seconds == cached.startup_budget_seconds
    assert plain.ready_seconds == plain.startup_budget_seconds + plain.download_seconds and plain.download_seconds > 0
    text = table(plan.models)
    assert "ready (no cache / cached)" in text and f"{plain.ready_seconds}s / {plain.startup_budget_seconds}s" in text
    assert f"/ {cached.startup_budget_seconds}s (cached)" in text


def test_chart_caches_the_exact_uri_the_inference_service_downloads() -> None:
    objects = _rendered(vllm_entry(cache={"enabled": True}))
    [cache] = objects_of(objects, "LocalModelCache")
    [isvc] = objects_of(objects, "InferenceService")
    assert cache["metadata"]["name"] == "llm-c-qwen-fp16" and "namespace" not in cache["metadata"]
    assert cache["spec"] == {"sourceModelUri": isvc["spec"]["predictor"]["model"]["storageUri"], "modelSize": "15Gi", "nodeGroups": ["l4"]}
    assert isvc["metadata"]["annotations"]["serving.kserve.io/nodegroup"] == "l4"
    # The group's nodes: its selector plus the label KServe's node agent needs.
    assert isvc["spec"]["predictor"]["nodeSelector"] == {**L4, "kserve/localmodel": "worker"}


def test_uncached_model_gets_no_cache_object() -> None:
    objects = _rendered(vllm_entry())
    assert objects_of(objects, "LocalModelCache") == []
    annotations = objects_of(objects, "InferenceService")[0]["metadata"]["annotations"]
    assert "serving.kserve.io/nodegroup" not in annotations
    # KServe matches caches by URI: an uncached model opts out explicitly (see test_local_model_engine).
    assert annotations["serving.kserve.io/disable-localmodel"] == "true"


def test_knative_deadline_drops_the_download_when_cached() -> None:
    knative = {"mode": "knative", "weightsDownloadSeconds": 3000}
    platform = {**_platform(), "knative": {"install": True}}
    cached = objects_of(_rendered(vllm_entry(cache={"enabled": True}, autoscaling=knative), platform=platform), "InferenceService")[0]
    plain = objects_of(_rendered(vllm_entry(autoscaling=knative), platform=platform), "InferenceService")[0]
    deadline = lambda o: int(o["metadata"]["annotations"]["serving.knative.dev/progress-deadline"].rstrip("s"))  # noqa: E731
    assert deadline(plain) > 3000 > deadline(cached) >= 600  # download + start-up vs start-up (Knative's 600 s floor)


def test_platform_installs_the_cache_charts_with_kserves_switch_on() -> None:
    settings = parse({"platform": _platform()}).platform
    releases = {r.pin_name: r for r in component_releases(settings, "kserve")}
    assert list(releases) == ["kserve-crd", "kserve-resources", "kserve-localmodel-crd", "kserve-localmodel-resources"]
    assert releases["kserve-resources"].values["kserve"]["localmodel"] == {"enabled": True, "jobNamespace": "kserve-localmodel-jobs"}
    agent = releases["kserve-localmodel-resources"].values["kserve"]["localmodelnode"]["controller"]
    terms = agent["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "kserve/localmodel", "operator": "In", "values": ["worker"]},
                                           {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-L4"]}]}]  # fmt: skip
    assert releases["kserve-localmodel-resources"].values["kserve"]["createSharedResources"] is False


def test_platform_creates_each_node_group_with_its_nodes_as_volume_affinity() -> None:
    mocks, _ = run_program({"namespace": "llm-unit", "deployModels": False, "platform": _platform()})
    [group] = mocks.of_type("kubernetes:serving.kserve.io/v1alpha1:LocalModelNodeGroup")
    spec = group.inputs["spec"]
    assert spec["storageLimit"] == "100Gi" and spec["persistentVolumeSpec"]["local"] == {"path": "/models"}
    assert spec["persistentVolumeSpec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "kserve/localmodel", "operator": "In", "values": ["worker"]},
        {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-L4"]}]
    assert [n.inputs["metadata"]["name"] for n in mocks.of_type("kubernetes:core/v1:Namespace")].count("kserve-localmodel-jobs") == 1


def test_cached_model_alerts_on_a_failed_download_with_its_runbook() -> None:
    from conftest import REPO_ROOT

    rules = [r for o in objects_of(_rendered(vllm_entry(cache={"enabled": True})), "PrometheusRule")
             for g in o["spec"]["groups"] for r in g["rules"] if r.get("alert") == "LLMModelCacheDownloadFailing"]  # fmt: skip
    [rule] = rules
    assert 'namespace="kserve-localmodel-jobs",job_name=~"llm-c-qwen-fp16-.*"' in rule["expr"]
    assert (REPO_ROOT / "runbooks" / rule["annotations"]["runbook_url"].rsplit("/runbooks/", 1)[1]).is_file()


def test_stack_outputs_say_which_models_are_cached() -> None:
    _, exports = run_program({"namespace": "llm-unit", "platform": _platform(),
                              "models": [vllm_entry(cache={"enabled": True}), vllm_entry(name="b")]})  # fmt: skip
    assert exports["models"]["qwen-fp16"]["cachedOn"] == "l4" and "cachedOn" not in exports["models"]["b"]


def test_plan_warns_that_downloads_cannot_run_on_tainted_group_nodes() -> None:
    """KServe's download Jobs tolerate no taint (tests/test_local_model_engine.py shows it)."""
    tainted = plan_stack(parse({"platform": _platform(), "models": [vllm_entry(cache={"enabled": True})]}))
    assert any("tolerate no taint" in w for w in tainted.models[0].plan.warnings)
    groups = {"l4": {"capacity": "100Gi", "nodeSelector": L4, "untainted": True}}
    clean = plan_stack(parse({"platform": _platform(groups), "models": [vllm_entry(cache={"enabled": True})]}))
    assert not any("tolerate no taint" in w for w in clean.models[0].plan.warnings)
