"""`promtool test rules` on the chart's rendered PrometheusRule: for every alert, one series set that
fires it and one that must not. Annotations are stripped for promtool (their text is checked by
test_observability.py); what is tested here is each expression, threshold and `for`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcp.toolchain import ToolchainError, bin_dir
from conftest import llamacpp_entry, objects_of, vllm_entry

NS = "llm-test"
PROBES = {"periodSeconds": 10, "startupFailureThreshold": 6}  # 60 s start-up budget
MODELS = [
    vllm_entry(name="vm", gpu={"count": 2, "product": "NVIDIA-L4"}, maxNumSeqs=8, probes=PROBES),
    vllm_entry(name="kn", autoscaling={"mode": "knative", "minReplicas": 0, "maxReplicas": 2}, probes=PROBES),
    llamacpp_entry(name="ll", probes=PROBES),
]


def sel(model: str) -> str:
    return f'namespace="{NS}",llm_serving_model="{model}"'


POD = f'namespace="{NS}",pod="vm-predictor-5d9c7-abcde"'
HIST = "0+0x40"
# alert -> (model, firing series, quiet series); values use promtool's expanding notation at 1m.
CASES: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
    "LLMModelLoadFailing": (
        "vm",
        {f"kube_pod_container_status_restarts_total{{{POD}}}": "0+1x40"},
        {f"kube_pod_container_status_restarts_total{{{POD}}}": "0x40"},
    ),
    # Budget 60 s, alert at 48 s after the server container started. Quiet case: the pod was created
    # 30 minutes ago (a long weight download), but its server started 20 s ago: not slow yet.
    "LLMColdStartSlow": (
        "vm",
        {f'kube_pod_container_state_started{{{POD},container="kserve-container"}}': "0x40",
         f'kube_pod_status_ready{{{POD},condition="false"}}': "1x40"},
        {f"kube_pod_created{{{POD}}}": "0x40", f'kube_pod_container_state_started{{{POD},container="kserve-container"}}': "1780x40",
         f'kube_pod_status_ready{{{POD},condition="false"}}': "1x40"},
    ),
    "LLMOutOfMemory": (
        "vm",
        {
            f'kube_pod_container_status_last_terminated_reason{{{POD},reason="OOMKilled"}}': "1x40",
            f"kube_pod_container_status_restarts_total{{{POD}}}": "0 0 1x38",
        },
        {
            f'kube_pod_container_status_last_terminated_reason{{{POD},reason="Error"}}': "1x40",
            f"kube_pod_container_status_restarts_total{{{POD}}}": "0 0 1x38",
        },
    ),
    "LLMKVCacheThrashing": (
        "vm",
        {f"vllm:kv_cache_usage_perc{{{sel('vm')}}}": "0.95x40", f"vllm:num_preemptions_total{{{sel('vm')}}}": "0+5x40"},
        {f"vllm:kv_cache_usage_perc{{{sel('vm')}}}": "0.5x40", f"vllm:num_preemptions_total{{{sel('vm')}}}": "0+5x40"},
    ),
    "LLMBatchSaturated": (
        "vm",
        {f"vllm:num_requests_waiting{{{sel('vm')}}}": "3x40", f"vllm:num_requests_running{{{sel('vm')}}}": "8x40"},
        {f"vllm:num_requests_waiting{{{sel('vm')}}}": "3x40", f"vllm:num_requests_running{{{sel('vm')}}}": "4x40"},
    ),
    "LLMTimeToFirstTokenHigh": (
        "vm",
        {
            f'vllm:time_to_first_token_seconds_bucket{{{sel("vm")},le="0.5"}}': HIST,
            f'vllm:time_to_first_token_seconds_bucket{{{sel("vm")},le="5"}}': "0+10x40",
            f'vllm:time_to_first_token_seconds_bucket{{{sel("vm")},le="+Inf"}}': "0+10x40",
        },
        {
            f'vllm:time_to_first_token_seconds_bucket{{{sel("vm")},le="0.5"}}': "0+10x40",
            f'vllm:time_to_first_token_seconds_bucket{{{sel("vm")},le="5"}}': "0+10x40",
            f'vllm:time_to_first_token_seconds_bucket{{{sel("vm")},le="+Inf"}}': "0+10x40",
        },
    ),
    "LLMTimePerOutputTokenHigh": (
        "vm",
        {
            f'vllm:request_time_per_output_token_seconds_bucket{{{sel("vm")},le="0.1"}}': HIST,
            f'vllm:request_time_per_output_token_seconds_bucket{{{sel("vm")},le="1"}}': "0+10x40",
            f'vllm:request_time_per_output_token_seconds_bucket{{{sel("vm")},le="+Inf"}}': "0+10x40",
        },
        {
            f'vllm:request_time_per_output_token_seconds_bucket{{{sel("vm")},le="0.1"}}': "0+10x40",
            f'vllm:request_time_per_output_token_seconds_bucket{{{sel("vm")},le="1"}}': "0+10x40",
            f'vllm:request_time_per_output_token_seconds_bucket{{{sel("vm")},le="+Inf"}}': "0+10x40",
        },
    ),
    "LLMGPUUnderutilised": (
        "vm",
        {
            f'DCGM_FI_DEV_GPU_UTIL{{exported_namespace="{NS}",exported_pod="vm-predictor-5d9c7-abcde",gpu="0"}}': "10x40",
            f"vllm:num_requests_waiting{{{sel('vm')}}}": "3x40",
        },
        {
            f'DCGM_FI_DEV_GPU_UTIL{{exported_namespace="{NS}",exported_pod="vm-predictor-5d9c7-abcde",gpu="0"}}': "90x40",
            f"vllm:num_requests_waiting{{{sel('vm')}}}": "3x40",
        },
    ),
    "LLMHighErrorRate": (
        "vm",
        # vLLM's instrumentator labels each route (handler); only inference routes count.
        {f'http_requests_total{{{sel("vm")},handler="/v1/completions",status="5xx"}}': "0+10x40",
         f'http_requests_total{{{sel("vm")},handler="/v1/completions",status="2xx"}}': "0+10x40"},
        {f'http_requests_total{{{sel("vm")},handler="/v1/completions",status="5xx"}}': "0+0x40",
         f'http_requests_total{{{sel("vm")},handler="/v1/completions",status="2xx"}}': "0+10x40",
         f'http_requests_total{{{sel("vm")},handler="/v1/models",status="5xx"}}': "0+10x40"},
    ),
    "LLMTensorParallelStalled": (
        "vm",
        {f"vllm:num_requests_running{{{sel('vm')}}}": "3x40", f"vllm:generation_tokens_total{{{sel('vm')}}}": "100x40"},
        {f"vllm:num_requests_running{{{sel('vm')}}}": "3x40", f"vllm:generation_tokens_total{{{sel('vm')}}}": "0+100x40"},
    ),
    "LLMScaleFromZeroStuck": (
        "kn",
        {
            f'kn_revision_request_queued{{k8s_namespace_name="{NS}",kn_revision_name="kn-predictor-00001"}}': "2x40",
            f'kube_deployment_status_replicas_available{{namespace="{NS}",deployment="kn-predictor-00001-deployment"}}': "0x40",
        },
        {
            f'kn_revision_request_queued{{k8s_namespace_name="{NS}",kn_revision_name="kn-predictor-00001"}}': "2x40",
            f'kube_deployment_status_replicas_available{{namespace="{NS}",deployment="kn-predictor-00001-deployment"}}': "1x40",
        },
    ),
    "LLMLlamaCppRequestsDeferred": (
        "ll",
        {f"llamacpp:requests_deferred{{{sel('ll')}}}": "2x40"},
        {f"llamacpp:requests_deferred{{{sel('ll')}}}": "0x40"},
    ),
}


@pytest.fixture(scope="module")
def rules_file(render_models_module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    [rule] = objects_of(render_models_module(*MODELS), "PrometheusRule")
    groups = rule["spec"]["groups"]
    for group in groups:
        for r in group["rules"]:
            r.pop("annotations", None)
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    return path


@pytest.fixture(scope="module")
def promtool() -> str:
    """promtool of the Prometheus release kube-prometheus-stack runs (3.x), built by the toolchain:
    PromQL changed in 3.0, so Debian's 2.x promtool would test a different language."""
    try:
        return str(bin_dir("prometheus") / "promtool")
    except ToolchainError as err:
        pytest.fail(str(err))


def _test_case(alert: str, model: str, series: dict[str, str], fires: bool) -> dict[str, Any]:
    expected = [{"exp_labels": {"severity": _severity(alert), "llm_serving_model": model}}] if fires else []
    return {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "alert_rule_test": [{"eval_time": "30m", "alertname": alert, "exp_alerts": expected}],
    }


def _severity(alert: str) -> str:
    critical = {"LLMModelLoadFailing", "LLMOutOfMemory", "LLMHighErrorRate", "LLMTensorParallelStalled", "LLMScaleFromZeroStuck"}
    return "critical" if alert in critical else "warning"


def test_every_alert_has_a_promtool_case(rules_file: Path) -> None:
    alerts = {r["alert"] for g in yaml.safe_load(rules_file.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert alerts == set(CASES)


def test_rules_pass_promtool_check(promtool: str, rules_file: Path) -> None:
    result = subprocess.run([promtool, "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("alert", sorted(CASES))
def test_alert_fires_and_stays_quiet(promtool: str, rules_file: Path, tmp_path: Path, alert: str) -> None:
    model, firing, quiet = CASES[alert]
    tests = {
        "rule_files": [str(rules_file)],
        "evaluation_interval": "1m",
        "tests": [_test_case(alert, model, firing, True), _test_case(alert, model, quiet, False)],
    }
    path = tmp_path / f"{alert}.test.yaml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
