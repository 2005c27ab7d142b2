"""GPU requests: vLLM predictors request and limit GPUs; llama.cpp pods request none."""

from __future__ import annotations

from collections.abc import Iterator

from policies.guardrails.objects import Obj, as_dict, dig

GPU = "nvidia.com/gpu"


def _gpus(container: dict, kind: str) -> str | None:
    return as_dict(dig(container, "resources", kind)).get(GPU)


def vllm_gpu_requested(obj: Obj, settings: dict) -> Iterator[str]:
    if obj.kind != "InferenceService":
        return
    model = as_dict(dig(obj.spec, "predictor", "model"))
    for kind in ("requests", "limits"):
        value = _gpus(model, kind)
        if value is None or str(value) in ("0", ""):
            yield f"predictor model has no {GPU} in resources.{kind}"


def llamacpp_no_gpu(obj: Obj, settings: dict) -> Iterator[str]:
    if obj.runtime != "llamacpp":
        return
    for container in obj.containers(init=True):
        for kind in ("requests", "limits"):
            if _gpus(container, kind) not in (None, "0", 0):
                yield f"container {container.get('name', '?')} asks for {GPU} in resources.{kind}; llama.cpp serves on CPU"
