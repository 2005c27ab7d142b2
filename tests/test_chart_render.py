"""Chart tier on the real Helm v4 engine: every committed stack and the values matrix render,
lint strict-clean, and every object validates (core kinds strictly, custom resources against the
CRDs the platform charts install)."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest
from k8s_schema import is_custom_resource, validate_object

from infra.chart import CHART_DIR
from infra.config import StackConfig, chart_values_dict
from infra.versions import KUBERNETES_VERSION


def test_chart_renders_objects_for_every_model(config: StackConfig, rendered: list[dict[str, Any]]) -> None:
    per_model = {m.name: 0 for m in config.models}
    for obj in rendered:
        labels = obj["metadata"].get("labels", {})
        model = labels.get("llm-serving/model") or labels.get("llm-serving/tested-model")
        if model:
            per_model[model] += 1
    # vLLM: ServingRuntime + InferenceService + test pod; llama.cpp: Deployment + Service + test pod;
    # plus a PodDisruptionBudget when it can run several replicas, a ScaledObject with keda, and an
    # HTTPScaledObject when keda scales it to zero (the HTTP add-on wakes it), an InferencePool and
    # HTTPRoute when routed (its picker's objects carry llm-serving/picker-for instead).
    def expected(m) -> int:
        most = m.replicas if m.autoscaling.mode == "none" else m.autoscaling.max_replicas
        keda = m.autoscaling.mode == "keda"
        routed = 2 * m.routed(config.platform.inference_gateway.enabled)
        cached = getattr(m, "cache", None) is not None and m.cache.enabled  # its LocalModelCache
        return 3 + (most > 1) + keda + (keda and m.autoscaling.min_replicas == 0) + routed + cached

    assert per_model == {m.name: expected(m) for m in config.models}


def test_chart_lints_strict_without_findings(config: StackConfig) -> None:
    report = helm.lint(
        CHART_DIR,
        chart_values_dict(config.chart_values()),
        strict=True,
        namespace=config.namespace,
        kube_version=f"v{KUBERNETES_VERSION}",
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


def test_every_rendered_object_validates(rendered: list[dict[str, Any]]) -> None:
    for obj in rendered:
        validate_object(obj)


def test_custom_resources_are_checked_against_crds(rendered: list[dict[str, Any]], config: StackConfig) -> None:
    kinds = {o["kind"] for o in rendered if is_custom_resource(o)}
    expected = {"ServingRuntime", "InferenceService"} if any(m.runtime != "llamacpp" for m in config.models) else set()
    if any(m.autoscaling.mode == "keda" for m in config.models):
        expected.add("ScaledObject")
    if any(m.autoscaling.mode == "keda" and m.autoscaling.min_replicas == 0 for m in config.models):
        expected.add("HTTPScaledObject")
    if config.models and config.observability.metrics:
        expected |= {"PodMonitor", "PrometheusRule"}
    if any(m.routed(config.platform.inference_gateway.enabled) for m in config.models):
        expected |= {"InferencePool", "HTTPRoute"}
    if any(getattr(m, "cache", None) and m.cache.enabled for m in config.models):
        expected.add("LocalModelCache")
    assert kinds == expected


def test_crd_validation_rejects_unknown_field(render_models) -> None:
    from conftest import vllm_entry

    isvc = next(o for o in render_models(vllm_entry()) if o["kind"] == "InferenceService")
    isvc["spec"]["predictor"]["model"]["maxModelLen"] = 4096
    with pytest.raises(Exception, match="maxModelLen"):
        validate_object(isvc)


def test_core_validation_rejects_unknown_field(render_models) -> None:
    from conftest import llamacpp_entry

    deployment = next(o for o in render_models(llamacpp_entry()) if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["gpus"] = 1
    with pytest.raises(Exception, match="gpus"):
        validate_object(deployment)
