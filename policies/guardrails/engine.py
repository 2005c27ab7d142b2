"""vLLM engine flags: an explicit --max-model-len, a GPU memory share with headroom, /dev/shm for
tensor parallelism."""

from __future__ import annotations

from collections.abc import Iterator

from policies.guardrails.objects import Obj, as_dict, as_list, vllm_args


def _vllm_containers(obj: Obj) -> Iterator[tuple[dict, dict[str, str]]]:
    if obj.kind != "ServingRuntime":
        return
    for container in obj.containers():
        args = vllm_args(container)
        if args is not None:
            yield container, args


def max_model_len_set(obj: Obj, settings: dict) -> Iterator[str]:
    for container, args in _vllm_containers(obj):
        if "--max-model-len" not in args:
            yield f"container {container.get('name', '?')} runs vLLM without --max-model-len (defaults to the model's full context)"


def gpu_memory_utilization_cap(obj: Obj, settings: dict) -> Iterator[str]:
    cap = float(settings.get("maxGpuMemoryUtilization", 0.95))
    for container, args in _vllm_containers(obj):
        try:
            value = float(args.get("--gpu-memory-utilization", "0.9"))
        except ValueError:
            continue  # unknown during preview
        if value > cap:
            yield f"container {container.get('name', '?')} sets --gpu-memory-utilization={value} above {cap}"


def shm_for_tensor_parallel(obj: Obj, settings: dict) -> Iterator[str]:
    volumes = {v.get("name"): v for v in as_list(obj.spec.get("volumes")) if isinstance(v, dict)}
    for container, args in _vllm_containers(obj):
        try:
            tp = int(args.get("--tensor-parallel-size", "1"))
        except ValueError:
            continue
        if tp <= 1:
            continue
        mounts = [m for m in as_list(container.get("volumeMounts")) if isinstance(m, dict) and m.get("mountPath") == "/dev/shm"]
        memory = [m for m in mounts if as_dict(volumes.get(m.get("name"), {}).get("emptyDir")).get("medium") == "Memory"]
        if not memory:
            yield f"container {container.get('name', '?')} runs tensor parallel {tp} without a memory-backed /dev/shm volume"
