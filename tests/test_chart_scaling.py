"""Autoscaling modes and rollout safety as the chart renders them (real Helm engine)."""

from __future__ import annotations

from typing import Any

from conftest import llamacpp_entry, objects_of, vllm_entry


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [obj] = objects_of(objects, kind)
    return obj


def _triggers(scaled: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in scaled["spec"]["triggers"]}


KEDA = {"mode": "keda", "minReplicas": 1, "maxReplicas": 4}


def test_keda_scales_vllm_predictor_on_queue_depth(render_models) -> None:
    objects = render_models(vllm_entry(autoscaling=KEDA))
    scaled = _one(objects, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "qwen-fp16-predictor"}
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (1, 4)
    queue = _triggers(scaled)["queue-depth"]
    assert queue["metricType"] == "AverageValue"
    assert queue["metadata"]["query"] == 'sum(vllm:num_requests_waiting{namespace="llm-test",llm_serving_model="qwen-fp16"})'
    assert queue["metadata"]["threshold"] == "4"
    assert scaled["spec"]["fallback"] == {"failureThreshold": 3, "replicas": 1, "behavior": "currentReplicasIfHigher"}


def test_keda_never_scales_on_cpu_or_gpu_utilisation(render_models) -> None:
    scaled = _one(render_models(vllm_entry(autoscaling={**KEDA, "kvCacheUsageThreshold": 0.8, "tpotP95Seconds": 0.1})), "ScaledObject")
    assert {t["type"] for t in scaled["spec"]["triggers"]} == {"prometheus"}
    queries = " ".join(t["metadata"]["query"] for t in scaled["spec"]["triggers"])
    assert "cpu" not in queries and "DCGM" not in queries


def test_keda_optional_kv_and_tpot_triggers(render_models) -> None:
    scaled = _one(render_models(vllm_entry(autoscaling={**KEDA, "kvCacheUsageThreshold": 0.8, "tpotP95Seconds": 0.1})), "ScaledObject")
    triggers = _triggers(scaled)
    assert triggers["kv-cache-usage"]["metadata"]["query"].startswith("sum(vllm:kv_cache_usage_perc{")
    assert triggers["tpot-p95"]["metricType"] == "Value"
    assert "vllm:request_time_per_output_token_seconds_bucket" in triggers["tpot-p95"]["metadata"]["query"]


def test_keda_fallback_kept_with_a_value_trigger(render_models) -> None:
    """KEDA v2.20.2 CheckFallbackValid needs one trigger that is not cpu/memory, whatever the
    metricType; pkg/fallback handles Value triggers by ready replicas."""
    scaled = _one(render_models(vllm_entry(autoscaling={**KEDA, "tpotP95Seconds": 0.1})), "ScaledObject")
    assert _triggers(scaled)["tpot-p95"]["metricType"] == "Value"
    assert scaled["spec"]["fallback"] == {"failureThreshold": 3, "replicas": 1, "behavior": "currentReplicasIfHigher"}


def test_keda_scales_up_one_pod_at_a_time_and_down_slowly(render_models) -> None:
    behavior = _one(render_models(vllm_entry(autoscaling=KEDA)), "ScaledObject")["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 600


def test_keda_step_periods_come_from_config(render_models) -> None:
    steps = {**KEDA, "scaleUpStepSeconds": 30, "scaleDownStepSeconds": 120}
    behavior = _one(render_models(vllm_entry(autoscaling=steps)), "ScaledObject")["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 30}]
    assert behavior["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 120}]


def test_keda_mode_hands_scaling_to_keda(render_models) -> None:
    isvc = _one(render_models(vllm_entry(autoscaling=KEDA)), "InferenceService")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "external"
    assert (isvc["spec"]["predictor"]["minReplicas"], isvc["spec"]["predictor"]["maxReplicas"]) == (1, 4)


def test_keda_scales_llamacpp_on_deferred_requests(render_models) -> None:
    scaled = _one(render_models(llamacpp_entry(autoscaling=KEDA)), "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "tiny"
    assert _triggers(scaled)["queue-depth"]["metadata"]["query"].startswith("sum(llamacpp:requests_deferred{")


KNATIVE = {"mode": "knative", "minReplicas": 0, "maxReplicas": 3}


def test_knative_mode_scales_to_zero_behind_the_activator(render_models) -> None:
    objects = render_models(vllm_entry(autoscaling=KNATIVE, maxNumSeqs=16, rollout={"canaryTrafficPercent": 10}))
    isvc = _one(objects, "InferenceService")
    annotations, predictor = isvc["metadata"]["annotations"], isvc["spec"]["predictor"]
    assert annotations["serving.kserve.io/deploymentMode"] == "Knative"
    assert annotations["autoscaling.knative.dev/metric"] == "concurrency"
    assert predictor["minReplicas"] == 0 and predictor["maxReplicas"] == 3
    assert predictor["scaleMetric"] == "concurrency" and predictor["scaleTarget"] == 8  # maxNumSeqs / 2
    assert predictor["containerConcurrency"] == 16
    assert predictor["canaryTrafficPercent"] == 10
    assert not objects_of(objects, "ScaledObject")


def test_knative_progress_deadline_covers_download_and_startup(render_models) -> None:
    scaling = {**KNATIVE, "weightsDownloadSeconds": 900}
    objects = render_models(vllm_entry(autoscaling=scaling, probes={"periodSeconds": 10, "startupFailureThreshold": 60}))
    isvc, runtime = _one(objects, "InferenceService"), _one(objects, "ServingRuntime")
    assert isvc["metadata"]["annotations"]["serving.knative.dev/progress-deadline"] == "1500s"  # 900 + 10 x 60
    assert "startupProbe" not in runtime["spec"]["containers"][0]


def test_knative_progress_deadline_never_shortens_knatives_default(render_models) -> None:
    scaling = {**KNATIVE, "weightsDownloadSeconds": 0}
    isvc = _one(render_models(vllm_entry(autoscaling=scaling, probes={"periodSeconds": 5, "startupFailureThreshold": 10})), "InferenceService")
    assert isvc["metadata"]["annotations"]["serving.knative.dev/progress-deadline"] == "600s"


def test_knative_pod_spec_leaves_out_what_knative_refuses(render_models) -> None:
    """knative.dev/serving v0.50.0 validateContainerPorts (port name "", h2c or http1) and
    PodSpecMask/ContainerMask (no lifecycle, no terminationGracePeriodSeconds)."""
    objects = render_models(vllm_entry(autoscaling=KNATIVE))
    container = _one(objects, "ServingRuntime")["spec"]["containers"][0]
    predictor = _one(objects, "InferenceService")["spec"]["predictor"]
    assert [p["name"] for p in container["ports"]] == ["http1"] and "lifecycle" not in container
    assert "terminationGracePeriodSeconds" not in predictor and predictor["timeout"] == 600
    assert "--shutdown-timeout=595" in container["args"]


def test_knative_models_open_the_queue_proxy_ports_and_scrape_user_port(render_models) -> None:
    objects = render_models(vllm_entry(autoscaling=KNATIVE))
    ports = {p["port"] for p in _one(objects, "NetworkPolicy")["spec"]["ingress"][0]["ports"]}
    assert ports == {8080, 8012, 8013, 8022, 9090, 9091}
    assert [e["port"] for e in _one(objects, "PodMonitor")["spec"]["podMetricsEndpoints"]] == ["http", "user-port"]


def test_rolling_update_surges_one_and_keeps_all(render_models) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert _one(render_models(vllm_entry()), "InferenceService")["spec"]["predictor"]["deploymentStrategy"] == strategy
    assert _one(render_models(llamacpp_entry()), "Deployment")["spec"]["strategy"] == strategy


def test_recreate_when_no_gpu_room_for_a_surge_pod(render_models) -> None:
    isvc = _one(render_models(vllm_entry(rollout={"spareCapacityForSurge": False})), "InferenceService")
    assert isvc["spec"]["predictor"]["deploymentStrategy"] == {"type": "Recreate"}


def test_vllm_drains_within_the_grace_period(render_models) -> None:
    objects = render_models(vllm_entry(terminationGracePeriodSeconds=300))
    container = _one(objects, "ServingRuntime")["spec"]["containers"][0]
    assert "--shutdown-timeout=280" in container["args"]  # 300 - 15 preStop - 5 exit
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "15"]
    assert _one(objects, "InferenceService")["spec"]["predictor"]["terminationGracePeriodSeconds"] == 300


def test_llamacpp_pre_stop_waits_for_in_flight_requests(render_models) -> None:
    container = _one(render_models(llamacpp_entry()), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    script = container["lifecycle"]["preStop"]["exec"]["command"][2]
    assert script.startswith("sleep 15;") and "llamacpp:requests_processing [1-9]" in script


def test_pod_disruption_budget_only_with_several_replicas(render_models) -> None:
    assert not objects_of(render_models(vllm_entry()), "PodDisruptionBudget")
    pdb = _one(render_models(vllm_entry(replicas=2)), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"]["llm-serving/model"] == "qwen-fp16"
    assert objects_of(render_models(llamacpp_entry(autoscaling=KEDA)), "PodDisruptionBudget")


def test_tensor_parallel_sets_nccl_timeout(render_models) -> None:
    container = _one(render_models(vllm_entry(gpu={"count": 2, "product": "NVIDIA-L4"})), "ServingRuntime")["spec"]["containers"][0]
    assert "--distributed-timeout-seconds=600" in container["args"]
    assert {"name": "TORCH_NCCL_ASYNC_ERROR_HANDLING", "value": "1"} in container["env"]
    single = _one(render_models(vllm_entry()), "ServingRuntime")["spec"]["containers"][0]
    assert not any(a.startswith("--distributed-timeout-seconds") for a in single["args"])


def test_mode_none_tells_kserve_to_create_no_autoscaler(render_models) -> None:
    """KServe defaults autoscalerClass to hpa and would create a CPU HPA <name>-predictor."""
    isvc = _one(render_models(vllm_entry(autoscaling={"mode": "none"})), "InferenceService")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "none"


def test_ingress_controller_namespace_may_reach_models_when_kserve_creates_ingresses() -> None:
    from infra.stack import parse

    with_ingress = parse({"models": [vllm_entry()], "platform": {"kserve": {"ingressClassName": "nginx", "ingressNamespace": "edge"}}})
    assert "edge" in with_ingress.chart_values().network_policy.allow_from_namespaces
    without = parse({"models": [vllm_entry()]})
    assert "ingress-nginx" not in without.chart_values().network_policy.allow_from_namespaces
