"""Every name the platform config sets reaches every object that uses it (issue 25 item 8): a
monitoring stack in another namespace or release, Knative or KEDA moved elsewhere, must never leave
a ScaledObject querying a Prometheus that is not there or a NetworkPolicy locking a component out."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import llamacpp_entry, objects_of, vllm_entry

from infra.chart import render
from infra.planner import plan_stack
from infra.config.platform import Monitoring
from infra.stack import parse

MODELS = [
    vllm_entry(name="qwen-keda", maxNumSeqs=64, autoscaling={"mode": "keda", "maxReplicas": 3, "kvCacheUsageThreshold": 0.8, "tpotP95Seconds": 0.1}),
    vllm_entry(name="qwen-kn", autoscaling={"mode": "knative", "minReplicas": 0, "maxReplicas": 2}),
    llamacpp_entry(name="tiny-wake", autoscaling={"mode": "keda", "minReplicas": 0, "maxReplicas": 2}),
]
RENAMED = {
    "monitoring": {"namespace": "observability", "releaseName": "prom"},
    "knative": {"install": True, "servingNamespace": "kn-serving"},
    "keda": {"namespace": "autoscaling", "httpAddon": True},
}


def render_with(platform: dict[str, Any]) -> list[dict[str, Any]]:
    config = plan_stack(parse({"namespace": "llm-test", "models": MODELS, "platform": platform})).config
    return render(config.chart_values(), release=config.release_name, namespace=config.namespace)


@pytest.fixture(scope="module")
def renamed() -> list[dict[str, Any]]:
    return render_with(RENAMED)


def test_prometheus_url_follows_kube_prometheus_stack_naming() -> None:
    # kube-prometheus-stack templates/_helpers.tpl "kube-prometheus-stack.fullname" (trunc 26).
    assert Monitoring().prometheus_url == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    assert Monitoring(namespace="obs", release_name="prom").prometheus_url == "http://prom-kube-prometheus-stack-prometheus.obs.svc:9090"
    assert Monitoring(release_name="kube-prometheus-stack-prod").prometheus_url.startswith("http://kube-prometheus-stack-prod-prometheus.")


def test_every_keda_trigger_queries_the_platform_prometheus(renamed: list[dict[str, Any]]) -> None:
    triggers = [t for so in objects_of(renamed, "ScaledObject") for t in so["spec"]["triggers"] if t["type"] == "prometheus"]
    assert len(triggers) >= 4
    assert {t["metadata"]["serverAddress"] for t in triggers} == {"http://prom-kube-prometheus-stack-prometheus.observability.svc:9090"}


def test_a_model_prometheus_url_still_wins() -> None:
    entry = vllm_entry(name="own", autoscaling={"mode": "keda", "maxReplicas": 2, "prometheusUrl": "http://thanos.obs.svc:9090"})
    objects = render(plan_stack(parse({"models": [entry]})).config.chart_values(), release="llm", namespace="llm-serving")
    [so] = objects_of(objects, "ScaledObject")
    assert {t["metadata"]["serverAddress"] for t in so["spec"]["triggers"]} == {"http://thanos.obs.svc:9090"}


def test_external_push_trigger_and_base_url_name_the_keda_namespace(renamed: list[dict[str, Any]]) -> None:
    pushes = [t for so in objects_of(renamed, "ScaledObject") for t in so["spec"]["triggers"] if t["type"] == "external-push"]
    assert pushes and {t["metadata"]["scalerAddress"] for t in pushes} == {"keda-add-ons-http-external-scaler.autoscaling:9090"}


def test_network_policy_admits_the_renamed_platform_namespaces(renamed: list[dict[str, Any]]) -> None:
    [policy] = [p for p in objects_of(renamed, "NetworkPolicy") if p["metadata"]["name"] == "llm-models"]
    [selector] = [f for f in policy["spec"]["ingress"][0]["from"] if "namespaceSelector" in f]
    allowed = set(selector["namespaceSelector"]["matchExpressions"][0]["values"])
    assert {"observability", "kn-serving", "autoscaling"} <= allowed
    assert not {"monitoring", "knative-serving", "keda"} & allowed


def test_monitoring_objects_carry_the_release_label(renamed: list[dict[str, Any]]) -> None:
    for kind in ("PodMonitor", "PrometheusRule"):
        [obj] = objects_of(renamed, kind)
        assert obj["metadata"]["labels"]["release"] == "prom", kind


def test_an_explicit_allow_list_keeps_its_entries_and_gains_what_the_models_need() -> None:
    raw = {"models": MODELS, "platform": RENAMED, "networkPolicy": {"allowFromNamespaces": ["ingress"]}}
    config = plan_stack(parse(raw)).config
    assert config.chart_values().network_policy.allow_from_namespaces == ["ingress", "observability", "kn-serving", "autoscaling"]
