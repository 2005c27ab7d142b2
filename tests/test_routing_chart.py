"""Chart tier for prefix-aware routing (templates/inferencepool.yaml, endpoint-picker.yaml): per
routed model an InferencePool selecting exactly its server pods, an endpoint picker configured for
its runtime's series, an HTTPRoute from the platform's Gateway, and alerts with runbooks."""

from __future__ import annotations

import pytest
import yaml
from conftest import CONFIGS, REPO_ROOT, llamacpp_entry, matrix_config, objects_of, vllm_entry

from infra.chart import render
from infra.planner import plan_stack
from infra.stack import parse


@pytest.fixture(scope="module")
def routed() -> list[dict]:
    config = plan_stack(matrix_config("routed")).config
    return render(config.chart_values(), release="llm", namespace="llm-test")


def _named(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def _server_pod_labels(objects: list[dict]) -> dict[str, dict[str, str]]:
    """Per model: the labels its server pods get (Deployment template; InferenceService predictor)."""
    out = {o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"] for o in objects_of(objects, "Deployment")}
    out.update({o["metadata"]["name"]: o["spec"]["predictor"]["labels"] for o in objects_of(objects, "InferenceService")})
    return out


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _picker_config(objects: list[dict], model: str) -> dict:
    return yaml.safe_load(_named(objects, "ConfigMap", f"{model}-epp")["data"]["config.yaml"])


def test_each_routed_model_gets_a_pool_selecting_exactly_its_server_pods(routed: list[dict]) -> None:
    pods = _server_pod_labels(routed)
    pools = objects_of(routed, "InferencePool")
    assert sorted(p["metadata"]["name"] for p in pools) == ["qwen-fp16", "qwen-sglang", "tiny"]
    for pool in pools:
        selector = pool["spec"]["selector"]["matchLabels"]
        matched = sorted(name for name, labels in pods.items() if _matches(selector, labels))
        assert matched == [pool["metadata"]["name"]], f"{pool['metadata']['name']} selects {matched}"
        assert pool["spec"]["targetPorts"] == [{"number": 8080}]
        assert pool["spec"]["endpointPickerRef"] == {"kind": "Service", "name": f"{pool['metadata']['name']}-epp",
                                                     "port": {"number": 9002}, "failureMode": "FailClose"}  # fmt: skip


def test_pool_never_selects_its_endpoint_picker(routed: list[dict]) -> None:
    for pool in objects_of(routed, "InferencePool"):
        picker = _named(routed, "Deployment", f"{pool['metadata']['name']}-epp")
        assert not _matches(pool["spec"]["selector"]["matchLabels"], picker["spec"]["template"]["metadata"]["labels"])


def test_single_replica_model_is_reached_through_its_service_only(routed: list[dict]) -> None:
    names = {o["metadata"]["name"] for o in routed}
    assert "single-epp" not in names and not any(o["kind"] == "InferencePool" and o["metadata"]["name"] == "single" for o in routed)


def test_chart_and_config_agree_on_which_models_are_routed() -> None:
    for case, config in CONFIGS:
        objects = render(config.chart_values(), release=config.release_name, namespace=config.namespace)
        gateway = config.platform.inference_gateway.enabled
        assert {p["metadata"]["name"] for p in objects_of(objects, "InferencePool")} == {
            m.name for m in config.models if m.routed(gateway)
        }, case


def test_llamacpp_picker_reads_its_queue_series_and_no_kv_usage(routed: list[dict]) -> None:
    config = _picker_config(routed, "tiny")
    extractor = next(p for p in config["plugins"] if p["type"] == "core-metrics-extractor")["parameters"]
    assert extractor["defaultEngine"] == "llamacpp"
    assert extractor["engineConfigs"] == [{"name": "llamacpp", "queuedRequestsSpec": "llamacpp:requests_deferred",
                                           "runningRequestsSpec": "llamacpp:requests_processing", "kvUsageSpec": "",
                                           "loraSpec": "", "cacheInfoSpec": ""}]  # fmt: skip
    assert "kv-cache-utilization-scorer" not in {p["type"] for p in config["plugins"]}


@pytest.mark.parametrize(("model", "engine"), [("qwen-fp16", "vllm"), ("qwen-sglang", "sglang")])
def test_gpu_runtime_picker_uses_the_built_in_engine_series(routed: list[dict], model: str, engine: str) -> None:
    config = _picker_config(routed, model)
    extractor = next(p for p in config["plugins"] if p["type"] == "core-metrics-extractor")["parameters"]
    assert extractor == {"defaultEngine": engine}
    weights = {p["pluginRef"]: p.get("weight") for p in config["schedulingProfiles"][0]["plugins"]}
    assert weights == {"prefix-cache-scorer": 3, "queue-scorer": 2, "kv-cache-utilization-scorer": 2, "max-score-picker": None}


def test_scorer_weights_follow_the_config_and_zero_drops_a_scorer() -> None:
    raw = {"namespace": "ns", "platform": {"inferenceGateway": {"enabled": True}},
           "models": [vllm_entry(replicas=2, routing={"scorers": {"prefixCache": 5, "queue": 1, "kvCacheUtilization": 0},
                                                      "prefixBlockSizeTokens": 32})]}  # fmt: skip
    config = plan_stack(parse(raw)).config
    picker = _picker_config(render(config.chart_values(), release="llm", namespace="ns"), "qwen-fp16")
    weights = {p["pluginRef"]: p.get("weight") for p in picker["schedulingProfiles"][0]["plugins"]}
    assert weights == {"prefix-cache-scorer": 5, "queue-scorer": 1, "max-score-picker": None}
    prefix = next(p for p in picker["plugins"] if p["type"] == "prefix-cache-scorer")
    assert prefix["parameters"] == {"blockSizeTokens": 32, "autoTune": True}


def test_route_attaches_to_the_gateway_and_strips_the_model_prefix(routed: list[dict]) -> None:
    route = _named(routed, "HTTPRoute", "tiny")["spec"]
    assert route["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "inference-gateway",
                                    "namespace": "gateway-system"}]  # fmt: skip
    assert route["hostnames"] == ["llm.example.internal"]
    (rule,) = route["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/tiny"}}]
    assert rule["filters"][0]["urlRewrite"]["path"] == {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}
    assert rule["backendRefs"] == [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "tiny"}]


def test_picker_role_only_reads(routed: list[dict]) -> None:
    role = _named(routed, "Role", "tiny-epp")
    assert {verb for rule in role["rules"] for verb in rule["verbs"]} == {"get", "list", "watch"}
    assert {r for rule in role["rules"] for r in rule["resources"]} == {"inferencepools", "pods", "inferenceobjectives", "inferencemodelrewrites"}


def test_picker_runs_the_pinned_image_and_watches_its_own_pool(routed: list[dict]) -> None:
    from infra.versions import EPP_IMAGE

    container = _named(routed, "Deployment", "tiny-epp")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == EPP_IMAGE and not EPP_IMAGE.endswith(":latest")
    assert "--pool-name=tiny" in container["args"] and "--pool-namespace=llm-test" in container["args"]
    assert container["readinessProbe"]["grpc"]["port"] == 9003


def test_picker_alerts_link_existing_runbooks(routed: list[dict]) -> None:
    rules = [r for o in objects_of(routed, "PrometheusRule") for g in o["spec"]["groups"] for r in g["rules"] if "alert" in r]
    picker_alerts = [r for r in rules if r["alert"] in ("LLMEndpointPickerDown", "LLMInferencePoolNoEndpoints")]
    assert len(picker_alerts) == 6  # two per routed model
    for alert in picker_alerts:
        runbook = alert["annotations"]["runbook_url"].rsplit("/runbooks/", 1)[1]
        assert (REPO_ROOT / "runbooks" / runbook).is_file()


def test_picker_metrics_are_scraped(routed: list[dict]) -> None:
    monitor = _named(routed, "PodMonitor", "llm-endpoint-pickers")["spec"]
    pickers = objects_of(routed, "Deployment")
    selected = [d["metadata"]["name"] for d in pickers if _matches(monitor["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])]
    assert sorted(selected) == ["qwen-fp16-epp", "qwen-sglang-epp", "tiny-epp"]


def test_llamacpp_default_weights_leave_out_the_kv_scorer() -> None:
    raw = {"namespace": "ns", "platform": {"inferenceGateway": {"enabled": True}}, "models": [llamacpp_entry(replicas=3)]}
    config = plan_stack(parse(raw)).config
    picker = _picker_config(render(config.chart_values(), release="llm", namespace="ns"), "tiny")
    assert {p["pluginRef"] for p in picker["schedulingProfiles"][0]["plugins"]} == {"prefix-cache-scorer", "queue-scorer", "max-score-picker"}
