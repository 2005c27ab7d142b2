"""Defects an audit of the pinned upstream sources found (issue 25), each pinned by a test that
failed on the chart before its fix. Upstream facts are cited where they are used."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CONFIGS, llamacpp_entry, objects_of, vllm_entry

from infra.chart import render
from infra.config import StackConfig
from infra.planner import plan_stack
from infra.planner.catalog import GPUS
from infra.planner.sglang import sglang_reserve_mib
from infra.stack import parse

RENDERED = [(case, config, render(config.chart_values(), release=config.release_name, namespace=config.namespace))
            for case, config in CONFIGS]  # fmt: skip
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def server_containers(objects: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(model name, runtime, serving container) of every model server the chart renders."""
    found = []
    for o in objects:
        labels = o["metadata"].get("labels", {})
        if o["kind"] == "ServingRuntime":
            found.append((labels["llm-serving/model"], labels["llm-serving/runtime"], o["spec"]["containers"][0]))
        elif o["kind"] == "Deployment" and labels.get("app.kubernetes.io/component") == "model-server":
            found.append((labels["llm-serving/model"], "llamacpp", o["spec"]["template"]["spec"]["containers"][0]))
    return found


def planned(*entries: dict[str, Any], **stack: Any) -> StackConfig:
    return plan_stack(parse({"namespace": "llm-test", "models": list(entries), **stack})).config


def render_config(config: StackConfig) -> list[dict[str, Any]]:
    return render(config.chart_values(), release=config.release_name, namespace=config.namespace)


# An AWQ 7B: BF16 weights (14 GiB) do not fit SGLang's static share on an L4.
SGLANG = dict(runtime="sglang", name="qwen-sglang", source={"uri": "hf://Qwen/Qwen2.5-7B-Instruct-AWQ"}, quantization="awq")


# 1. SGLang's /health runs a 1-token generation and sleeps 1 s before its first check
#    (sglang/srt/entrypoints/http_server.py health_generate); Kubernetes' 1 s default timeout
#    fails every probe, so the pod never becomes Ready.
@pytest.mark.parametrize("case,config,objects", RENDERED, ids=[c for c, _, _ in RENDERED])
def test_every_server_probe_waits_longer_than_its_runtime_health_check(case: str, config: StackConfig, objects: list) -> None:
    for model, runtime, container in server_containers(objects):
        timeouts = {p: container[p].get("timeoutSeconds", 1) for p in PROBES if p in container}
        assert timeouts, f"{case}/{model}: no probes"
        floor = 2 if runtime != "sglang" else 20  # SGLANG_HEALTH_CHECK_TIMEOUT's default (srt/environ.py)
        assert all(t >= floor for t in timeouts.values()), f"{case}/{model} ({runtime}) probe timeouts {timeouts}"
        if runtime == "sglang":
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert int(env["SGLANG_HEALTH_CHECK_TIMEOUT"]) < min(timeouts.values()), env


def test_a_probes_block_without_timeout_keeps_the_runtime_timeout() -> None:
    config = planned(vllm_entry(**SGLANG, probes={"periodSeconds": 5}), vllm_entry(probes={"periodSeconds": 5}))
    assert [m.probes.timeout_seconds for m in config.models] == [25, 5]


# 2. vLLM downloads hf:// LoRA adapters (vllm/lora/utils.py get_adapter_absolute_path ->
#    snapshot_download) and draft configs itself; KServe gives the storage Secret to its
#    storage-initializer only (storage_initializer_injector.go).
@pytest.mark.parametrize("entry", [vllm_entry(), vllm_entry(**SGLANG), llamacpp_entry()], ids=["vllm", "sglang", "llamacpp"])
def test_every_server_container_gets_the_download_token(entry: dict[str, Any]) -> None:
    objects = render_config(planned(entry, hfToken="[secret]"))
    [(_, _, container)] = server_containers(objects)
    [token] = [e for e in container["env"] if e["name"] == "HF_TOKEN"]
    assert token["valueFrom"]["secretKeyRef"] == {"name": "model-storage", "key": "HF_TOKEN", "optional": True}


def test_no_token_env_without_a_token() -> None:
    [(_, _, container)] = server_containers(render_config(planned(vllm_entry())))
    assert "HF_TOKEN" not in {e["name"] for e in container["env"]}


# 3. SGLang's AWQMarlinConfig.override_quantization_method (srt/layers/quantization/awq/awq.py)
#    upgrades an AWQ checkpoint to Marlin only when the user's quantization is None/marlin/
#    awq_marlin: an explicit --quantization=awq pins the slow kernel. vLLM 0.32 maps awq to
#    AutoAWQConfig either way; the flag is omitted for both so they load the checkpoint alike.
@pytest.mark.parametrize("runtime", ["vllm", "sglang"])
def test_awq_checkpoints_run_without_a_quantization_flag(runtime: str) -> None:
    entry = vllm_entry(name="qwen-awq", runtime=runtime, source={"uri": "hf://Qwen/Qwen2.5-7B-Instruct-AWQ"}, quantization="awq")
    [(_, _, container)] = server_containers(render_config(planned(entry)))
    assert not [a for a in container["args"] if a.startswith("--quantization")], container["args"]


def test_fp8_from_a_16_bit_checkpoint_still_passes_its_quantization() -> None:
    entry = vllm_entry(name="llama-fp8", quantization="fp8", quantizedCheckpoint=False)
    [(_, _, container)] = server_containers(render_config(planned(entry)))
    assert "--quantization=fp8" in container["args"]


# 4. --mem-fraction-static is weights + KV pool only (sglang/srt/arg_groups/memory_hook.py
#    handle_gpu_memory_settings); activations and CUDA graphs need room outside it.
def test_sglang_reserve_matches_sglang_own_formula_on_an_l4() -> None:
    # 512 + max(4096, 2048) * 1.5 + 1/8 * 1024 + 48 * 2 + 50 * 8 (L4 tier: chunk 4096, decode bs 48)
    assert sglang_reserve_mib(23034, 1, None) == 512 + 6144 + 128 + 96 + 400
    assert sglang_reserve_mib(81559, 1, None) == 512 + 8192 * 1.5 + 128 + 256 * 2 + 400  # H100 tier: 8192 / 256
    assert sglang_reserve_mib(81559, 1, 2048) == 10 * 1024  # above 60 GiB SGLang keeps at least 10 GiB


def test_sglang_static_share_leaves_its_reserve_inside_gpu_memory_utilization() -> None:
    entry = vllm_entry(**SGLANG, maxNumBatchedTokens=2048)
    [model] = planned(entry).models
    l4 = GPUS["NVIDIA-L4"].memory_mib
    assert model.mem_fraction_static == round(0.9 - sglang_reserve_mib(l4, 1, 2048) / l4, 3)
    assert model.mem_fraction_static < model.gpu_memory_utilization
    [(_, _, container)] = server_containers(render_config(planned(entry)))
    assert f"--mem-fraction-static={model.mem_fraction_static}" in container["args"]


def test_sglang_model_whose_weights_exceed_its_static_share_is_refused() -> None:
    from infra.stack import ConfigError

    with pytest.raises(ConfigError, match=r"models\[0\]"):
        planned(vllm_entry(**{**SGLANG, "source": {"uri": "hf://Qwen/Qwen2.5-7B-Instruct"}, "quantization": "none"}))  # 14 GiB BF16


# 5. sglang:generation_tokens_total grows when a request finishes (metrics_collector.py
#    observe_one_finished_request); sglang:realtime_tokens_total{mode="decode"} every decode step.
def test_tensor_parallel_stall_alert_reads_a_per_step_token_counter() -> None:
    entry = vllm_entry(**SGLANG, gpu={"count": 2, "product": "NVIDIA-L4"})
    [rule] = objects_of(render_config(planned(entry)), "PrometheusRule")
    [stall] = [r for g in rule["spec"]["groups"] for r in g["rules"] if r.get("alert") == "LLMTensorParallelStalled"]
    assert 'sglang:realtime_tokens_total{namespace="llm-test",llm_serving_model="qwen-sglang",mode="decode"}' in stall["expr"]
    assert "generation_tokens_total" not in stall["expr"]


# 7. Knative Serving 1.23's activator exports OpenTelemetry kn.revision.request.* (pkg/activator/
#    handler/metrics.go), no OpenCensus activator_request_count.
def test_scale_from_zero_alert_reads_what_knative_1_23_exports() -> None:
    entry = vllm_entry(name="qwen-kn", autoscaling={"mode": "knative", "minReplicas": 0, "maxReplicas": 2})
    [rule] = objects_of(render_config(planned(entry, platform={"knative": {"install": True}})), "PrometheusRule")
    [stuck] = [r for g in rule["spec"]["groups"] for r in g["rules"] if r.get("alert") == "LLMScaleFromZeroStuck"]
    assert 'kn_revision_request_queued{k8s_namespace_name="llm-test",kn_revision_name=~"qwen-kn-predictor-.*"}' in stuck["expr"]
    assert "activator_request_count" not in stuck["expr"]


# 9. SGLang's middleware counts every route (srt/observability/http_request_metrics.py), vLLM's
#    instrumentator skips /health and /metrics: both ratios over the inference routes only.
@pytest.mark.parametrize("runtime,label", [("vllm", "handler"), ("sglang", "endpoint")])
def test_error_ratio_counts_inference_routes_only(runtime: str, label: str) -> None:
    [rule] = objects_of(render_config(planned(vllm_entry(**{**SGLANG, "runtime": runtime}))), "PrometheusRule")
    [alert] = [r for g in rule["spec"]["groups"] for r in g["rules"] if r.get("alert") == "LLMHighErrorRate"]
    numerator, denominator = alert["expr"].split(" / ")
    for side in (numerator, denominator):
        assert f'{label}=~"/v1/chat/completions|/v1/completions|' in side, side
