"""Capacity planner: size every model of a stack and refuse configs that cannot start.

plan_stack(config) returns the per-model plans and the config with derived values filled in
(vLLM --max-num-seqs when unset, startup probe budgets when unset); models that cannot start
raise ConfigError naming the model and the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config.models import gguf_type_in
from infra.config import LlamaCppModel, PlannerSettings, Probes, StackConfig, VllmModel
from infra.architecture import Architecture, from_hf_config
from infra.planner.catalog import GIB, GPUS, closest_gpus, MIB, MODELS, REPOSITORIES, repository_of
from infra.planner.llamacpp import LlamaCppPlan, plan_llamacpp
from infra.planner.sglang import mem_fraction_static
from infra.config.sglang import SglangModel
from infra.planner.features import lora_bytes_per_gpu, proposer
from infra.planner.vllm import VllmInputs, VllmPlan, kv_bytes_per_token_per_layer, plan_vllm, weights_bytes_per_gpu, what_would_fit
from infra.quantity import parse_quantity
from infra.stack import REPO_ROOT, ConfigError

Model = VllmModel | LlamaCppModel


@dataclass(frozen=True)
class ModelPlan:
    name: str
    runtime: str
    gpu: str
    plan: VllmPlan | LlamaCppPlan
    startup_budget_seconds: int
    startup_failure_threshold: int
    download_seconds: int = 0
    """Weight download before the server starts (hf://, s3:// at planner.downloadThroughputMibS)."""
    cached: bool = False
    """The weights are on the node (cache.enabled): a new replica skips the download."""

    @property
    def ready_seconds(self) -> int:
        """Estimated time from a new replica's scheduling to ready: download (unless cached) + start-up."""
        return self.startup_budget_seconds + (0 if self.cached else self.download_seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "runtime": self.runtime,
            "gpu": self.gpu,
            "startup_budget_seconds": self.startup_budget_seconds,
            "startup_failure_threshold": self.startup_failure_threshold,
            "download_seconds": self.download_seconds,
            "cached": self.cached,
            "ready_seconds": self.ready_seconds,
            **self.plan.as_dict(),
        }


@dataclass(frozen=True)
class StackPlan:
    models: list[ModelPlan]
    config: StackConfig
    """The input config with derived values applied: what the chart receives."""


def architecture_of(model: Model, where: str) -> Architecture:
    if isinstance(model.architecture, Architecture):
        return model.architecture
    if isinstance(model.architecture, str):
        if model.architecture not in MODELS:
            raise ConfigError([f"{where}.architecture: unknown catalog model (known: {', '.join(MODELS)}), got {model.architecture!r}"])
        return MODELS[model.architecture]
    if model.hf_config:
        path = Path(model.hf_config)
        path = path if path.is_absolute() else REPO_ROOT / path
        try:
            return from_hf_config(path)
        except (OSError, KeyError, ValueError) as err:
            raise ConfigError([f"{where}.hfConfig: cannot read architecture from {path}: {err}"]) from None
    repo = repository_of(model.source.uri)
    if repo in REPOSITORIES:
        return MODELS[REPOSITORIES[repo]]
    raise ConfigError(
        [
            f"{where}.source.uri: no architecture known for {model.source.uri!r}; set architecture "
            f"(a catalog key: {', '.join(MODELS)}; or the dimensions) or hfConfig"
        ]
    )


def gpu_memory_gib(model: VllmModel, where: str) -> tuple[str, float]:
    if model.gpu.memory_gib is not None:
        return model.gpu.product or "custom", model.gpu.memory_gib
    if model.gpu.product in GPUS:
        return model.gpu.product, GPUS[model.gpu.product].memory_gib
    if model.gpu.product is not None:
        raise ConfigError([f"{where}.gpu.product: unknown gpu.product {model.gpu.product!r} ({closest_gpus(model.gpu.product)}); for another "
                           "GPU set gpu.memoryGib to the memory CUDA reports (nvidia-smi memory.total)"])  # fmt: skip
    got = f"got {model.gpu.product!r}" if model.gpu.product else "got neither"
    raise ConfigError([f"{where}.gpu: set product (one of {', '.join(GPUS)}) or memoryGib to plan the KV cache, {got}"])


def startup_threshold(weight_bytes: float, warmup: int, probes: Probes, settings: PlannerSettings) -> tuple[int, int]:
    """Seconds to read the weights at the assumed throughput plus warm-up, with 50% margin;
    expressed as a startupProbe failureThreshold at the model's probe period."""
    seconds = math.ceil((weight_bytes / (settings.storage_throughput_mib_s * MIB) + warmup) * 1.5)
    return seconds, max(6, math.ceil(seconds / probes.period_seconds))


def check_context(model: VllmModel, arch: Architecture, where: str) -> None:
    """vLLM refuses to start when --max-model-len exceeds the model's context; say so before."""
    if model.max_model_len > arch.context_length:
        scaled = f" x RoPE scaling {arch.rope_scaling_factor:g}" if arch.rope_scaling_factor != 1 else ""
        raise ConfigError([
            f"{where}.maxModelLen: {model.max_model_len} tokens exceeds the model's context of {arch.context_length} tokens "
            f"(max_position_embeddings {arch.max_position_embeddings}{scaled}); vLLM refuses to start with it. Lower "
            "maxModelLen, or, if the model supports RoPE scaling, extend it deliberately: give an architecture "
            "(ropeScalingFactor) or an hfConfig whose rope_scaling factor (linear) or max_position_embeddings (YaRN, "
            "which vLLM does not multiply) is the length you validated, got "
            f"{model.max_model_len}"
        ])  # fmt: skip


# The stack's `quantization` a checkpoint format can run with. vLLM refuses a --quantization that
# differs from the method in the checkpoint's config.json (vllm/config/model.py
# _verify_quantization: "Quantization method specified in the model config (...) does not match
# the quantization method specified in the `quantization` argument (...)"), and AWQ needs an AWQ
# checkpoint. fp8 runs on an FP8 checkpoint or quantizes a 16-bit one at load time.
COMPATIBLE_QUANTIZATION = {
    "none": {"none", "awq", "fp8", "compressed-tensors", "gptq", "mxfp4"},
    "awq": {"awq"},
    "fp8": {"none", "fp8", "compressed-tensors"},
}


def check_quantization(model: VllmModel, arch: Architecture, where: str) -> None:
    checkpoint = arch.checkpoint_quantization
    allowed = COMPATIBLE_QUANTIZATION[model.quantization]
    if model.quantization == "fp8" and model.quantized_checkpoint is not None:
        # true: no --quantization, the checkpoint must hold FP8; false: --quantization=fp8, which
        # a compressed-tensors checkpoint refuses and a 16-bit or fp8 one takes.
        allowed = {"fp8", "compressed-tensors"} if model.quantized_checkpoint else {"none", "fp8"}
    if checkpoint is not None and checkpoint not in allowed:
        stored = "16-bit weights" if checkpoint == "none" else f"quantization_config.quant_method {checkpoint!r}"
        use = "none (vLLM reads the method from the checkpoint)" if checkpoint != "none" else "none or fp8"
        raise ConfigError([
            f"{where}.quantization: {model.quantization} contradicts the checkpoint, whose config.json declares "
            f"{stored}; vLLM would refuse to start. Use quantization {use}, or point source.uri at a "
            f"checkpoint stored as {model.quantization}, got {model.quantization!r}"
        ])  # fmt: skip


def feature_memory(model: VllmModel, arch: Architecture, where: str) -> tuple[float, int]:
    """(bytes per GPU of LoRA slots and a speculative proposer, a draft model's KV bytes per token)."""
    tp, total, kv = model.gpu.count, 0.0, 0
    if model.lora:
        total += lora_bytes_per_gpu(arch, model.lora, tp)
    spec = model.speculative
    if spec:
        draft = None
        if spec.method == "draft_model":
            repo = repository_of(spec.model or "")
            if repo not in REPOSITORIES:
                raise ConfigError([f"{where}.speculative.model: the planner cannot size draft model {spec.model!r} (not in the "
                                   f"catalog: {', '.join(sorted(REPOSITORIES))}); use a catalog model or method ngram/eagle, got {spec.model!r}"])  # fmt: skip
            draft = MODELS[REPOSITORIES[repo]]
        p = proposer(spec, arch, tp, draft)
        total += p.weight_bytes_per_gpu
        draft_tp = spec.draft_tensor_parallel_size or tp
        kv = p.kv_layers * kv_bytes_per_token_per_layer(p.arch or arch, draft_tp if p.arch else tp, model.kv_cache_dtype)
    return total, kv


def _plan_vllm_model(model: VllmModel, where: str, settings: PlannerSettings) -> tuple[ModelPlan, dict[str, Any]]:
    arch = architecture_of(model, where)
    check_context(model, arch, where)
    check_quantization(model, arch, where)
    gpu, memory = gpu_memory_gib(model, where)
    features, extra_kv = feature_memory(model, arch, where)
    static, available_kv = None, None
    if isinstance(model, SglangModel):
        # SGLang's KV pool is its static share minus the weights (activations and CUDA graphs are
        # already outside that share): plan it by SGLang's accounting, not vLLM's estimate.
        chunk = model.max_num_batched_tokens if model.enable_chunked_prefill else None
        static = model.mem_fraction_static or mem_fraction_static(model.gpu_memory_utilization, memory * 1024, model.gpu.count, chunk)
        available_kv = static * memory - (weights_bytes_per_gpu(arch, model.quantization, model.gpu.count) + features) / GIB
    inputs = VllmInputs(
        arch=arch,
        gpu_memory_gib=memory,
        gpu_memory_utilization=model.gpu_memory_utilization,
        max_model_len=model.max_model_len,
        tensor_parallel_size=model.gpu.count,
        kv_cache_dtype=model.kv_cache_dtype,
        quantization=model.quantization,
        max_num_seqs=model.max_num_seqs,
        max_num_batched_tokens=model.max_num_batched_tokens,
        enable_chunked_prefill=model.enable_chunked_prefill,
        feature_bytes_per_gpu=features,
        extra_kv_bytes_per_token=extra_kv,
        available_kv_gib=available_kv,
    )
    plan = plan_vllm(inputs)
    if not plan.fits:
        share = (f"SGLang's static share (--mem-fraction-static {static} = gpuMemoryUtilization minus its reserve for "
                 f"activations and CUDA graphs) is {static * memory:.2f} GiB, weights {plan.weights_gib:.2f} GiB; ") if static else ""  # fmt: skip
        raise ConfigError([f"{where} ({model.name}): cannot start on {model.gpu.count} x {gpu} ({memory:.1f} GiB each): "
                           f"{share}{plan.reason}. {what_would_fit(inputs)}"])  # fmt: skip
    replica_weights = weights_bytes_per_gpu(arch, model.quantization, 1)
    seconds, threshold = startup_threshold(replica_weights, settings.vllm_warmup_seconds, model.probes, settings)
    update: dict[str, Any] = {"max_num_seqs": plan.max_num_seqs} if model.max_num_seqs is None else {}
    if isinstance(model, SglangModel) and model.mem_fraction_static is None:
        update["mem_fraction_static"] = static
    downloaded = 0 if model.cache.enabled else replica_weights
    update.update(_ephemeral_storage(model, downloaded, VLLM_SCRATCH_GIB))
    if model.cache.enabled and model.cache.model_size is None:
        update["cache"] = model.cache.model_copy(update={"model_size": f"{math.ceil(replica_weights * 1.05 / GIB)}Gi"})
    download = _download_seconds(model, replica_weights, settings)
    return ModelPlan(model.name, model.runtime, f"{model.gpu.count}x {gpu}", plan, seconds, threshold, download, model.cache.enabled), update


def _plan_llamacpp_model(model: LlamaCppModel, where: str, settings: PlannerSettings) -> tuple[ModelPlan, dict[str, Any]]:
    arch = architecture_of(model, where)
    plan = plan_llamacpp(
        arch,
        model.quantization,
        model.max_model_len,
        model.max_num_seqs,
        float(parse_quantity(model.resources.memory)),
        float(parse_quantity(model.resources.cpu)),
    )
    if not plan.fits:
        raise ConfigError([f"{where} ({model.name}): cannot start: {plan.reason}"])
    if gguf_type_in(model.gguf_file) is None:
        plan.warnings.append(f"ggufFile {model.gguf_file!r} does not name its GGUF type: weights planned as {model.quantization} "
                             "(declared); check the file's type (gguf-dump) if the plan matters")  # fmt: skip
    seconds, threshold = startup_threshold(plan.weights_gib * GIB, settings.llamacpp_warmup_seconds, model.probes, settings)
    download = _download_seconds(model, plan.weights_gib * GIB, settings)
    return (ModelPlan(model.name, "llamacpp", "cpu", plan, seconds, threshold, download),
            _ephemeral_storage(model, plan.weights_gib * GIB, LLAMACPP_SCRATCH_GIB))  # fmt: skip


def _download_seconds(model: Model, weight_bytes: float, settings: PlannerSettings) -> int:
    return 0 if model.source.uri.startswith("pvc://") else math.ceil(weight_bytes / (settings.download_throughput_mib_s * MIB))


# Node-local disk a server needs besides downloaded weights: vLLM/SGLang's torch.compile, Triton and
# CUDA-graph caches under HOME=/tmp and container logs; llama-server writes little but logs.
VLLM_SCRATCH_GIB = 10
LLAMACPP_SCRATCH_GIB = 2


def _ephemeral_storage(model: Model, weight_bytes: float, scratch_gib: int) -> dict[str, Any]:
    """resources.ephemeralStorage when unset: downloaded weights (hf://, s3://: into an emptyDir)
    with 10% headroom, plus scratch; pvc:// weights are mounted, not copied."""
    if model.resources.ephemeral_storage is not None:
        return {}
    downloaded = 0 if model.source.uri.startswith("pvc://") else weight_bytes * 1.1
    gib = math.ceil(downloaded / GIB) + scratch_gib
    return {"resources": model.resources.model_copy(update={"ephemeral_storage": f"{gib}Gi"})}


def plan_stack(config: StackConfig) -> StackPlan:
    """Plan every model; all failures are collected so one run reports them all."""
    plans: list[ModelPlan] = []
    resolved: list[Model] = []
    errors: list[str] = []
    for i, model in enumerate(config.models):
        where = f"models[{i}]"
        try:
            if isinstance(model, VllmModel):
                plan, update = _plan_vllm_model(model, where, config.planner)
            else:
                plan, update = _plan_llamacpp_model(model, where, config.planner)
        except ConfigError as err:
            errors.extend(err.lines)
            continue
        probes_set = "probes" in model.model_fields_set and "startup_failure_threshold" in model.probes.model_fields_set
        if not probes_set:
            update["probes"] = model.probes.model_copy(update={"startup_failure_threshold": plan.startup_failure_threshold})
        plans.append(plan)
        resolved.append(model.model_copy(update=update))
    errors += _cache_capacity_errors(config, resolved)
    _warn_tainted_cache_groups(config, plans)
    if errors:
        raise ConfigError(errors)
    return StackPlan(models=plans, config=config.model_copy(update={"models": resolved}))


def _warn_tainted_cache_groups(config: StackConfig, plans: list[ModelPlan]) -> None:
    """Found with the real node agent (tests/test_local_model_engine.py): KServe v0.20's download
    Jobs carry no tolerations, so on tainted group nodes the cache never fills."""
    local = config.platform.kserve.local_model
    groups = local.node_groups
    by_name = {p.name: p for p in plans}
    for model in config.models:
        cache, plan = getattr(model, "cache", None), by_name.get(model.name)
        if cache is None or not cache.enabled or not groups or plan is None:
            continue
        name = local.group_of(cache)
        if not groups[name].untainted:
            plan.plan.warnings.append(
                f"node group {name!r}: KServe v0.20's cache download Jobs tolerate no taint, so on nodes tainted "
                "nvidia.com/gpu (the usual GPU pool) they never run and the cache never fills; untaint the group's nodes "
                "and set untainted: true, or add the toleration to the jobs namespace's pods with an admission policy"
            )


def _cache_capacity_errors(config: StackConfig, models: list[Model]) -> list[str]:
    """The cached models of a node group must fit its per-node capacity together (every node of the
    group holds every model cached there; KServe checks neither modelSize nor storageLimit)."""
    local = config.platform.kserve.local_model
    groups = local.node_groups
    used: dict[str, float] = {}
    errors = []
    for i, model in enumerate(config.models):
        resolved = next((m for m in models if m.name == model.name), None)
        cache = getattr(resolved, "cache", None)
        if cache is None or not cache.enabled or not groups:
            continue
        name = local.group_of(cache)
        size, capacity = float(parse_quantity(cache.model_size)), float(parse_quantity(groups[name].capacity))
        used[name] = used.get(name, 0.0) + size
        if used[name] > capacity:
            others = used[name] - size
            errors.append(f"models[{i}].cache.nodeGroup: {model.name}'s weights ({size / GIB:.1f} GiB) do not fit node group {name!r}: "
                          f"capacity {groups[name].capacity}, {others / GIB:.1f} GiB already taken by the models cached before it; "
                          "raise the group's capacity, cache it in another group, or turn cache off for a model")  # fmt: skip
    return errors
