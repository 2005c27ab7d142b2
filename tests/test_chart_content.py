"""What the chart renders for each runtime: server args, GPU limits, shm, labels, probes."""

from __future__ import annotations

from typing import Any

from conftest import llamacpp_entry, objects_of, vllm_entry

from infra.config import StackConfig
from infra.endpoints import base_url, host
from infra.versions import LLAMACPP_IMAGE_TAG, VLLM_IMAGE_TAG


def _runtime(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return objects_of(objects, "ServingRuntime")[0]


def _isvc(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return objects_of(objects, "InferenceService")[0]


def _vllm_args(objects: list[dict[str, Any]]) -> list[str]:
    return _runtime(objects)["spec"]["containers"][0]["args"]


def test_vllm_args_carry_typed_fields(render_models) -> None:
    args = _vllm_args(render_models(vllm_entry(servedModelName="qwen", maxNumSeqs=32, maxNumBatchedTokens=2048)))
    assert args[0] == "/mnt/models"
    for flag in (
        "--served-model-name=qwen",
        "--max-model-len=4096",
        "--max-num-seqs=32",
        "--max-num-batched-tokens=2048",
        "--gpu-memory-utilization=0.9",
        "--tensor-parallel-size=1",
        "--port=8080",
        "--enable-prefix-caching",
        "--enable-chunked-prefill",
    ):
        assert flag in args
    assert not any(a.startswith("--quantization") for a in args)


def test_vllm_served_name_defaults_to_model_name(render_models) -> None:
    assert "--served-model-name=qwen-fp16" in _vllm_args(render_models(vllm_entry()))


def test_vllm_awq_reads_its_method_from_the_checkpoint(render_models) -> None:
    objects = render_models(vllm_entry(quantization="awq", source={"uri": "hf://Qwen/Qwen2.5-7B-Instruct-AWQ"}))
    assert not [a for a in _vllm_args(objects) if a.startswith("--quantization")]
    assert _isvc(objects)["spec"]["predictor"]["model"]["storageUri"] == "hf://Qwen/Qwen2.5-7B-Instruct-AWQ"


def test_vllm_storage_uri_carries_hf_revision(render_models) -> None:
    model = _isvc(render_models(vllm_entry()))["spec"]["predictor"]["model"]
    assert model["storageUri"] == "hf://Qwen/Qwen2.5-7B-Instruct:a09a354"
    assert model["runtime"] == "qwen-fp16-vllm" and model["modelFormat"] == {"name": "vllm"}


def test_vllm_disabled_features_use_negative_flags(render_models) -> None:
    args = _vllm_args(render_models(vllm_entry(enablePrefixCaching=False, enableChunkedPrefill=False)))
    assert "--no-enable-prefix-caching" in args and "--no-enable-chunked-prefill" in args


def test_vllm_extra_args_are_appended_last(render_models) -> None:
    args = _vllm_args(render_models(vllm_entry(extraArgs=["--enable-log-requests"])))
    assert args[-1] == "--enable-log-requests"


def test_vllm_requests_and_limits_gpus(render_models) -> None:
    resources = _isvc(render_models(vllm_entry(gpu={"count": 2, "product": "NVIDIA-L4"})))["spec"]["predictor"]["model"]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == "2"
    assert resources["requests"]["nvidia.com/gpu"] == "2"


def test_vllm_tensor_parallel_gets_shm_volume(render_models) -> None:
    objects = render_models(vllm_entry(gpu={"count": 2, "product": "NVIDIA-L4"}))
    runtime = _runtime(objects)
    assert "--tensor-parallel-size=2" in _vllm_args(objects)
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "4Gi"}} in runtime["spec"]["volumes"]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in runtime["spec"]["containers"][0]["volumeMounts"]


def test_vllm_single_gpu_has_no_shm_volume(render_models) -> None:
    runtime = _runtime(render_models(vllm_entry()))
    assert runtime["spec"]["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "16Gi"}}]  # the writable /tmp only
    assert runtime["spec"]["containers"][0]["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


def test_vllm_pins_gpu_product_and_tolerates_gpu_taint(render_models) -> None:
    predictor = _isvc(render_models(vllm_entry()))["spec"]["predictor"]
    assert predictor["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in predictor["tolerations"]


def test_vllm_uses_pinned_image_and_standard_mode(render_models) -> None:
    objects = render_models(vllm_entry())
    assert _runtime(objects)["spec"]["containers"][0]["image"] == f"vllm/vllm-openai:{VLLM_IMAGE_TAG}"
    assert _isvc(objects)["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"


def test_vllm_image_digest_wins(render_models) -> None:
    digest = "sha256:" + "b" * 64
    image = _runtime(render_models(vllm_entry(image={"repository": "mirror/vllm", "digest": digest})))
    assert image["spec"]["containers"][0]["image"] == f"mirror/vllm@{digest}"


def test_vllm_probes_and_grace_period(render_models) -> None:
    objects = render_models(vllm_entry(probes={"periodSeconds": 15, "startupFailureThreshold": 120}))
    container = _runtime(objects)["spec"]["containers"][0]
    assert container["startupProbe"] == {
        "httpGet": {"path": "/health", "port": 8080},
        "periodSeconds": 15,
        "timeoutSeconds": 5,
        "failureThreshold": 120,
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert _isvc(objects)["spec"]["predictor"]["terminationGracePeriodSeconds"] == 120


def _llama_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return objects_of(objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_llamacpp_args_derive_context_slots_and_threads(render_models) -> None:
    container = _llama_container(render_models(llamacpp_entry(maxModelLen=2048, maxNumSeqs=3)))
    args = container["args"]
    assert _flag(args, "--ctx-size") == str(2048 * 3)  # llama-server splits ctx-size over slots
    assert _flag(args, "--parallel") == "3"
    assert _flag(args, "--threads") == "2"  # 2500m CPU limit -> 2 whole CPUs
    assert _flag(args, "--host") == "0.0.0.0" and _flag(args, "--alias") == "tiny"
    assert "--metrics" in args
    assert container["image"] == f"ghcr.io/ggml-org/llama.cpp:{LLAMACPP_IMAGE_TAG}"


def test_llamacpp_threads_never_below_one(render_models) -> None:
    args = _llama_container(render_models(llamacpp_entry(resources={"cpu": "500m", "memory": "1Gi"})))["args"]
    assert _flag(args, "--threads") == "1"


def test_llamacpp_requests_no_gpu(render_models) -> None:
    for obj in render_models(llamacpp_entry()):
        assert "nvidia.com/gpu" not in str(obj)


def test_llamacpp_hf_source_downloads_one_file(render_models) -> None:
    container = _llama_container(render_models(llamacpp_entry()))
    assert _flag(container["args"], "--hf-repo") == "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"
    assert _flag(container["args"], "--hf-file") == "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"
    assert {"name": "LLAMA_CACHE", "value": "/mnt/models"} in container["env"]


def test_llamacpp_pvc_source_is_mounted_read_only(render_models) -> None:
    objects = render_models(llamacpp_entry(source={"uri": "pvc://gguf-models/tinyllama"}, architecture="tinyllama-1.1b"))
    pod = objects_of(objects, "Deployment")[0]["spec"]["template"]["spec"]
    assert pod["volumes"] == [
        {"name": "tmp", "emptyDir": {"sizeLimit": "16Gi"}},
        {"name": "models", "persistentVolumeClaim": {"claimName": "gguf-models", "readOnly": True}},
    ]
    mount = pod["containers"][0]["volumeMounts"][1]
    assert mount == {"name": "models", "mountPath": "/mnt/models", "readOnly": True, "subPath": "tinyllama"}
    assert _flag(pod["containers"][0]["args"], "--model") == "/mnt/models/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"


def test_llamacpp_s3_source_uses_storage_initializer(render_models) -> None:
    pod = objects_of(render_models(llamacpp_entry(source={"uri": "s3://bucket/gguf"}, architecture="tinyllama-1.1b")), "Deployment")[0]
    init = pod["spec"]["template"]["spec"]["initContainers"][0]
    assert init["name"] == "storage-initializer"
    assert init["args"] == ["s3://bucket/gguf", "/mnt/models"]
    assert init["image"].startswith("kserve/storage-initializer:v")


def test_llamacpp_probes_wait_for_model_load(render_models) -> None:
    container = _llama_container(render_models(llamacpp_entry()))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": 8080}


def test_selectors_use_only_name_instance_and_model(rendered: list[dict[str, Any]]) -> None:
    for deployment in objects_of(rendered, "Deployment"):
        if "llm-serving/model" not in deployment["metadata"]["labels"]:
            continue  # the tracing collector is not a model server
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/instance", "llm-serving/model"}
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
    for service in objects_of(rendered, "Service"):
        if "llm-serving/model" not in service["metadata"]["labels"]:
            continue
        assert set(service["spec"]["selector"]) == {
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "llm-serving/model",
        }


def test_services_never_select_test_pods(rendered: list[dict[str, Any]]) -> None:
    pods = [o for o in objects_of(rendered, "Pod")]
    for service in objects_of(rendered, "Service"):
        for pod in pods:
            assert not service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()


def test_every_object_has_standard_labels(rendered: list[dict[str, Any]]) -> None:
    for obj in rendered:
        labels = obj["metadata"]["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by"):
            assert key in labels, (obj["kind"], obj["metadata"]["name"], key)


def test_helm_test_pod_calls_the_exported_base_url(config: StackConfig, rendered: list[dict[str, Any]]) -> None:
    pods = {p["metadata"]["labels"]["llm-serving/tested-model"]: p for p in objects_of(rendered, "Pod")}
    for model in config.models:
        command = pods[model.name]["spec"]["containers"][0]["args"][0]
        assert f"{base_url(model, config.namespace, config.platform.keda.namespace)}/models" in command
        assert f'"id":"{model.served_name}"' in command
        # Through the HTTP add-on's interceptor the Host header picks the model.
        assert (f'-H "Host: {host(model, config.namespace)}"' in command) == model.autoscaling.wakes_through_http_addon
