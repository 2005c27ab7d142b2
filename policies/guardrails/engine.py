"""Engine flags of vLLM and SGLang containers: an explicit context length (--max-model-len /
--context-length), a GPU memory share with headroom (--gpu-memory-utilization /
--mem-fraction-static), /dev/shm for tensor parallelism."""

from __future__ import annotations

from collections.abc import Iterator

from policies.guardrails.objects import EngineArgs, Obj, as_dict, as_list, engine_args


ENGINE_NAMES = {"vllm": "vLLM", "sglang": "SGLang"}


def _engine_containers(obj: Obj) -> Iterator[tuple[dict, EngineArgs]]:
    if obj.kind != "ServingRuntime":
        return
    for container in obj.containers():
        found = engine_args(container)
        if found is not None:
            yield container, found


def max_model_len_set(obj: Obj, settings: dict) -> Iterator[str]:
    for container, e in _engine_containers(obj):
        if "--max-model-len" not in e.args:
            yield (f"container {container.get('name', '?')} runs {ENGINE_NAMES[e.engine]} without {e.flag('--max-model-len')} "
                   "(defaults to the model's full context)")  # fmt: skip


def gpu_memory_utilization_cap(obj: Obj, settings: dict) -> Iterator[str]:
    cap = float(settings.get("maxGpuMemoryUtilization", 0.95))
    for container, e in _engine_containers(obj):
        try:
            value = float(e.args.get("--gpu-memory-utilization", "0.9"))
        except ValueError:
            continue  # unknown during preview
        if value > cap:
            yield f"container {container.get('name', '?')} sets {e.flag('--gpu-memory-utilization')}={value} above {cap}"


def shm_for_tensor_parallel(obj: Obj, settings: dict) -> Iterator[str]:
    volumes = {v.get("name"): v for v in as_list(obj.spec.get("volumes")) if isinstance(v, dict)}
    for container, e in _engine_containers(obj):
        args = e.args
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
