"""Unit tier with Pulumi mocks: stack config -> namespace, storage secret, chart inputs, exports."""

from __future__ import annotations

import json

import pulumi
import pytest
from conftest import PROJECT, RecordingMocks, llamacpp_entry, run_program, vllm_entry

def test_program_creates_namespace_from_config() -> None:
    mocks, exports = run_program({"namespace": "llm-unit", "models": [llamacpp_entry()]})
    namespace = mocks.named("kubernetes:core/v1:Namespace", "namespace")
    assert namespace.inputs["metadata"]["name"] == "llm-unit"
    assert exports["namespace"] == "llm-unit"


def test_program_passes_resolved_values_to_the_chart() -> None:
    mocks, _ = run_program({"namespace": "llm-unit", "models": [vllm_entry(), llamacpp_entry()]})
    chart = mocks.named("kubernetes:helm.sh/v4:Chart", "models-chart")
    assert chart.inputs["chart"].endswith("charts/llm-serving")
    assert chart.inputs["namespace"] == "llm-unit"
    assert chart.inputs["name"] == "llm"
    vllm, llama = chart.inputs["values"]["models"]
    # Defaults are resolved by the config model, not left to the chart.
    assert vllm["gpuMemoryUtilization"] == 0.9 and vllm["image"]["repository"] == "vllm/vllm-openai"
    # ephemeralStorage: the planner's (a downloaded 0.6 GiB Q4_K_M GGUF + 10% + 2 GiB scratch).
    assert llama["resources"] == {"cpu": "2500m", "memory": "2Gi", "ephemeralStorage": "3Gi"}
    assert "storageSecretName" not in chart.inputs["values"]


def test_program_exports_endpoint_per_model() -> None:
    _, exports = run_program(
        {"namespace": "llm-unit", "models": [vllm_entry(servedModelName="qwen"), llamacpp_entry()]}
    )
    assert exports["models"] == {
        "qwen-fp16": {
            "servedModelName": "qwen",
            "baseUrl": "http://qwen-fp16-predictor.llm-unit.svc.cluster.local/v1",
            "host": "qwen-fp16-predictor.llm-unit.svc.cluster.local",
            "runtime": "vllm",
        },
        "tiny": {
            "servedModelName": "tiny",
            "baseUrl": "http://tiny.llm-unit.svc.cluster.local/v1",
            "host": "tiny.llm-unit.svc.cluster.local",
            "runtime": "llamacpp",
        },
    }


def test_program_exports_interceptor_url_and_host_for_models_that_scale_to_zero() -> None:
    _, exports = run_program({
        "namespace": "llm-unit", "platform": {"keda": {"httpAddon": True, "namespace": "autoscaling"}},
        "models": [llamacpp_entry(autoscaling={"mode": "keda", "minReplicas": 0, "maxReplicas": 2})],
    })  # fmt: skip
    assert exports["models"]["tiny"]["baseUrl"] == "http://keda-add-ons-http-interceptor-proxy.autoscaling.svc.cluster.local:8080/v1"
    assert exports["models"]["tiny"]["host"] == "tiny.llm-unit.svc.cluster.local"


def test_program_exports_capacity_plan_per_model() -> None:
    _, exports = run_program({"namespace": "llm-unit", "models": [vllm_entry(), llamacpp_entry()]})
    assert set(exports["capacity"]) == {"qwen-fp16", "tiny"}
    assert exports["capacity"]["qwen-fp16"]["fits"] is True
    assert exports["capacity"]["qwen-fp16"]["kv_bytes_per_token"] == 2 * 28 * 4 * 128 * 2


def test_program_refuses_model_that_cannot_start() -> None:
    with pytest.raises(Exception, match=r"models\[0\] \(qwen-fp16\): cannot start on 1 x NVIDIA-L4"):
        run_program({"models": [vllm_entry(architecture="llama-3.1-8b", maxModelLen=131072)]})


def test_program_turns_secret_token_into_storage_secret() -> None:
    mocks, _ = run_program(
        {"namespace": "llm-unit", "models": [vllm_entry()], "hfToken": "hf_unit"}, secret_keys=("hfToken",)
    )
    [secret] = mocks.of_type("kubernetes:core/v1:Secret")
    assert secret.inputs["metadata"]["name"] == "model-storage"
    chart = mocks.named("kubernetes:helm.sh/v4:Chart", "models-chart")
    assert chart.inputs["values"]["storageSecretName"] == "model-storage"


def test_program_rejects_bad_config_before_any_resource() -> None:
    with pytest.raises(Exception, match=r"models\[0\]\.maxModelLen: must be > 0, got -5"):
        run_program({"models": [vllm_entry(maxModelLen=-5)]})


def test_program_registers_no_resource_on_bad_config() -> None:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="unit", preview=False)
    pulumi.runtime.set_all_config({f"{PROJECT}:models": json.dumps([vllm_entry(maxModelLen=0)])}, [])
    from infra.program import main

    with pytest.raises(pulumi.RunError):
        main()
    assert mocks.resources == []


def test_preview_logs_the_capacity_table_and_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    infos: list[str] = []
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "info", lambda msg, *a, **k: infos.append(msg))
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warnings.append(msg))
    run_program({"models": [vllm_entry(maxNumSeqs=512, maxModelLen=16384)]})
    [table] = [m for m in infos if m.startswith("capacity plan")]
    assert "qwen-fp16" in table and "KV tokens" in table
    assert any(w.startswith("qwen-fp16: maxNumSeqs=512 but the KV cache holds") for w in warnings)


def test_program_exports_lora_adapter_names() -> None:
    lora = {"adapters": [{"name": "sql", "source": "hf://acme/sql-lora"}, {"name": "chat", "source": "/mnt/models/chat"}]}
    _, exports = run_program({"namespace": "llm-unit", "models": [vllm_entry(lora=lora)]})
    assert exports["models"]["qwen-fp16"]["adapters"] == ["sql", "chat"]


def test_program_exports_gateway_url_for_routed_models() -> None:
    gateway = {"enabled": True, "baseUrl": "https://llm.example.internal", "hostname": "llm.example.internal"}
    _, exports = run_program({"namespace": "llm-unit", "platform": {"inferenceGateway": gateway},
                              "models": [vllm_entry(replicas=2), llamacpp_entry()]})  # fmt: skip
    assert exports["models"]["qwen-fp16"]["gatewayBaseUrl"] == "https://llm.example.internal/qwen-fp16/v1"
    assert exports["models"]["qwen-fp16"]["gatewayHost"] == "llm.example.internal"
    assert "gatewayBaseUrl" not in exports["models"]["tiny"]  # one replica: reached through its Service


def test_program_reads_the_gateway_before_routing_to_it() -> None:
    """A missing Gateway fails preview naming it: the program reads it (Resource.get) and the
    chart waits for that read."""
    mocks, _ = run_program({"namespace": "llm-unit", "platform": {"inferenceGateway": {"enabled": True, "namespace": "edge", "name": "gw"}},
                            "models": [vllm_entry(replicas=2)]})  # fmt: skip
    [read] = mocks.of_type("kubernetes:gateway.networking.k8s.io/v1:Gateway")
    assert read.resource_id == "edge/gw"


def test_program_installs_the_inference_crds_from_the_configured_manifests() -> None:
    manifests = ["https://mirror.internal/gateway-api/standard-install.yaml", "https://mirror.internal/gie/manifests.yaml"]
    mocks, exports = run_program({"namespace": "llm-unit", "deployModels": False,
                                  "platform": {"inferenceGateway": {"enabled": True, "crdManifests": manifests}}})  # fmt: skip
    # The ConfigFiles do not depend on each other, so the mock runtime may register them in any
    # order: compare by resource name (one per manifest, numbered in the configured order).
    files = {r.name: r.inputs["file"] for r in mocks.of_type("kubernetes:yaml/v2:ConfigFile")}
    assert files == {f"inference-crds-{i}": m for i, m in enumerate(manifests)} and "inference_crds" in exports["platform"]
