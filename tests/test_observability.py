"""Alerts link to complete runbooks; every metric name used in rules, dashboard and diagnose is one
the runtime really exposes; scraping and tracing objects are wired to the model pods."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from conftest import REPO_ROOT, llamacpp_entry, objects_of, vllm_entry
from test_alert_rules import MODELS

from infra.chart import CHART_DIR
from smoke.metrics import exposed_names

RUNBOOKS = REPO_ROOT / "runbooks"
SECTIONS = ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation", "## Escalation")


def _alerts(objects) -> list[dict]:
    [rule] = objects_of(objects, "PrometheusRule")
    return [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]


def _used_names(prefix: str, render_models) -> set[str]:
    """Metric names with `prefix` in the rendered rules and ScaledObjects, the dashboard, diagnose."""
    objects = render_models(
        *MODELS,
        llamacpp_entry(name="lk", autoscaling={"mode": "keda", "maxReplicas": 2}),
        vllm_entry(name="vk", autoscaling={"mode": "keda", "maxReplicas": 2, "kvCacheUsageThreshold": 0.8, "tpotP95Seconds": 0.1}),
        vllm_entry(name="sk", runtime="sglang", gpu={"count": 2, "product": "NVIDIA-L4"}, maxNumSeqs=16,
                   autoscaling={"mode": "keda", "maxReplicas": 2, "kvCacheUsageThreshold": 0.8, "tpotP95Seconds": 0.1}),
    )
    texts = [json.dumps(objects_of(objects, kind)) for kind in ("PrometheusRule", "ScaledObject")]
    texts.append((CHART_DIR / "dashboards" / "llm-serving.json").read_text())
    texts.append((REPO_ROOT / "infra" / "diagnose.py").read_text())
    return set(re.findall(rf"\b{prefix}:[a-z_]+", "\n".join(texts)))


def test_every_alert_has_severity_summary_description_and_runbook(render_models) -> None:
    for alert in _alerts(render_models(*MODELS)):
        assert alert["labels"]["severity"] in ("warning", "critical"), alert["alert"]
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], alert["alert"]
        runbook = annotations["runbook_url"].rsplit("/runbooks/", 1)[1]
        assert (RUNBOOKS / runbook).is_file(), f"{alert['alert']}: {runbook} missing"


def test_runbook_base_url_is_configurable(render_models_module) -> None:
    from infra.chart import render
    from infra.planner import plan_stack
    from infra.stack import parse

    config = plan_stack(parse({"models": [llamacpp_entry()], "observability": {"runbookBaseUrl": "https://wiki.example/rb"}})).config
    alerts = _alerts(render(config.chart_values(), release="llm", namespace="ns"))
    assert all(a["annotations"]["runbook_url"].startswith("https://wiki.example/rb/") for a in alerts)


@pytest.mark.parametrize("runbook", sorted(p.name for p in RUNBOOKS.glob("*.md") if p.name != "README.md"))
def test_runbook_has_every_section_and_placeholders(runbook: str) -> None:
    text = (RUNBOOKS / runbook).read_text()
    positions = [text.find(s) for s in SECTIONS]
    assert -1 not in positions and positions == sorted(positions), f"{runbook}: sections {SECTIONS} in order"
    assert "$NAMESPACE" in text and "```sh" in text, f"{runbook}: exact commands with $NAMESPACE-style placeholders"


def test_runbook_index_lists_every_runbook() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    for path in RUNBOOKS.glob("*.md"):
        if path.name != "README.md":
            assert f"({path.name})" in index


@pytest.mark.vllm_parser
def test_vllm_metric_names_used_exist_in_pinned_release(render_models, vllm_metric_families: set[str]) -> None:
    used = {re.sub(r"_(bucket|sum|count|total)$", "", n) for n in _used_names("vllm", render_models)}
    assert used and not (used - vllm_metric_families), f"not defined by the pinned vLLM: {sorted(used - vllm_metric_families)}"


def test_sglang_metric_names_used_are_the_checked_key_series(render_models) -> None:
    """Every sglang: name in rules, triggers and the dashboard is one of SGLANG_KEY_SERIES, which
    tests/test_sglang_runtime.py checks against the pinned SGLang's source."""
    from smoke.metrics import SGLANG_KEY_SERIES

    used = _used_names("sglang", render_models)
    known = set(SGLANG_KEY_SERIES) | set(SGLANG_KEY_SERIES.values())
    assert used and not (used - known), f"not among the checked SGLang series: {sorted(used - known)}"


def test_llamacpp_metric_names_used_exist_on_real_server(render_models, llama_servers) -> None:
    server = llama_servers["tiny-f16"]
    exposed = exposed_names(httpx.get(server.base_url.removesuffix("/v1") + "/metrics", timeout=10).text)
    used = _used_names("llamacpp", render_models)
    assert used and not (used - exposed), f"not exposed by llama-server: {sorted(used - exposed)}"


def test_pod_monitor_selects_model_pods_and_labels_series(render_models) -> None:
    objects = render_models(vllm_entry(), llamacpp_entry())
    [monitor] = objects_of(objects, "PodMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    isvc_labels = objects_of(objects, "InferenceService")[0]["spec"]["predictor"]["labels"]
    deploy_labels = objects_of(objects, "Deployment")[0]["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= isvc_labels.items() and selector.items() <= deploy_labels.items()
    assert monitor["spec"]["podTargetLabels"] == ["llm-serving/model", "llm-serving/runtime"]
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "http"


def test_dashboard_configmap_is_labelled_for_grafana(render_models) -> None:
    [dashboard] = [c for c in objects_of(render_models(vllm_entry()), "ConfigMap") if c["metadata"]["name"].endswith("dashboard")]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    panels = {p["title"] for p in json.loads(dashboard["data"]["llm-serving.json"])["panels"]}
    for title in ("Time to first token", "Time per output token", "Generated tokens/s", "KV-cache usage", "Preemptions/s", "GPU utilisation / memory"):
        assert title in panels


def test_tracing_deploys_collector_and_points_vllm_at_it() -> None:
    from infra.chart import render
    from infra.planner import plan_stack
    from infra.stack import parse

    raw = {"namespace": "ns", "models": [vllm_entry()], "observability": {"tracing": {"enabled": True, "exporterEndpoint": "tempo:4317"}}}
    objects = render(plan_stack(parse(raw)).config.chart_values(), release="llm", namespace="ns")
    args = objects_of(objects, "ServingRuntime")[0]["spec"]["containers"][0]["args"]
    assert "--otlp-traces-endpoint=http://llm-otel-collector.ns.svc.cluster.local:4317" in args
    [collector] = [d for d in objects_of(objects, "Deployment") if d["metadata"]["name"] == "llm-otel-collector"]
    config = next(c for c in objects_of(objects, "ConfigMap") if c["metadata"]["name"] == "llm-otel-collector")
    assert "endpoint: tempo:4317" in config["data"]["config.yaml"]
    assert collector["spec"]["template"]["spec"]["containers"][0]["image"].startswith("otel/opentelemetry-collector-contrib:")


def _llamacpp_pod_regex(render_models) -> str:
    [rule] = objects_of(render_models(llamacpp_entry(name="tiny")), "PrometheusRule")
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"] if r.get("alert") == "LLMModelLoadFailing"]
    return re.search(r'pod=~"([^"]+)"', exprs[0]).group(1)


def test_llamacpp_alert_pods_exclude_the_helm_test_pod(render_models) -> None:
    """PromQL regexes are fully anchored (RE2), like re.fullmatch."""
    regex = _llamacpp_pod_regex(render_models)
    assert re.fullmatch(regex, "tiny-7c9f8b6d4-x2x7k")  # <deployment>-<pod-template-hash>-<suffix>
    assert not re.fullmatch(regex, "tiny-test-models")


def test_dashboard_namespace_variable_works_for_a_llamacpp_only_namespace(render_models) -> None:
    [dashboard] = [c for c in objects_of(render_models(llamacpp_entry()), "ConfigMap") if c["metadata"]["name"].endswith("dashboard")]
    board = json.loads(dashboard["data"]["llm-serving.json"])
    [namespace] = [v for v in board["templating"]["list"] if v["name"] == "namespace"]
    # Any series carrying the PodMonitor's model label, not one runtime's metric.
    assert namespace["query"] == 'label_values({llm_serving_model!=""}, namespace)'
    exprs = " ".join(t["expr"] for p in board["panels"] for t in p.get("targets", []))
    assert "llamacpp:requests_deferred" in exprs and "llamacpp:tokens_predicted_total" in exprs
