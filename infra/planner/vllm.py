"""KV-cache capacity plan for one vLLM replica, following vLLM 0.32's own accounting:

- vllm/v1/worker/gpu_worker.py determine_available_memory: the KV budget is
  total memory x gpu_memory_utilization - (weights + peak activations + non-torch memory)
  - the CUDA-graph memory estimate;
- vllm/v1/kv_cache_interface.py AttentionSpec: a page holds block_size tokens of
  num_kv_heads x (head_size + head_size_v) x dtype bytes per layer; MLA caches one latent
  (kv_lora_rank + qk_rope_head_dim, head_size_v = 0) with a single head;
- vllm/config (get_num_kv_heads): KV heads per rank = max(1, kv_heads // tp), so heads are
  replicated when tp exceeds them;
- vllm/v1/core/kv_cache_planning.py: num_blocks = available // bytes_per_block, and a request
  of max_model_len needs cdiv(max_model_len, block_size) blocks or the engine refuses to start;
- vllm/v1/core/kv_cache_utils.py get_kv_cache_capacity: max concurrency = num_blocks /
  blocks per request, KV cache size = int(concurrency x max_model_len) tokens.

Weights, activation peak and overheads are estimates; `available_kv_gib` replaces all three with
the "Available KV cache memory" a real vLLM start-up logged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

from infra.architecture import Architecture
from infra.planner.catalog import GIB

BLOCK_SIZE = 16  # vLLM's default KV block size on CUDA
# AWQ 4-bit: half a byte per weight, plus per group of 128 weights an fp16 scale and a packed
# 4-bit zero point (AutoAWQ GEMM layout): (2 + 0.5) / 128 bytes per weight.
AWQ_BYTES_PER_WEIGHT = 0.5 + 2.5 / 128
# Memory outside torch's allocator: CUDA context, cuBLAS workspaces (measured ~0.5 GiB per GPU),
# NCCL buffers with tensor parallelism, and vLLM's CUDA-graph estimate (subtracted since 0.21).
CUDA_CONTEXT_GIB = 0.5
NCCL_GIB = 0.5
CUDA_GRAPHS_GIB = 0.5
# A derived --max-num-seqs assumes the mean request uses this share of max_model_len: sizing for
# all requests at full length would idle the GPU, sizing above the KV cache causes preemption.
MEAN_REQUEST_SHARE = 0.25

KvDtype = Literal["auto", "fp8"]
Quantization = Literal["none", "awq", "fp8"]


@dataclass(frozen=True)
class VllmInputs:
    arch: Architecture
    gpu_memory_gib: float
    gpu_memory_utilization: float
    max_model_len: int
    tensor_parallel_size: int = 1
    kv_cache_dtype: KvDtype = "auto"
    quantization: Quantization = "none"
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    enable_chunked_prefill: bool = True
    available_kv_gib: float | None = None
    """Measured KV budget (vLLM's "Available KV cache memory" log line) instead of estimates."""
    feature_bytes_per_gpu: float = 0.0
    """LoRA adapter slots and a speculative proposer's weights (infra/planner/features.py)."""
    extra_kv_bytes_per_token: int = 0
    """A draft model's KV per token on one GPU (its layers share the block pool)."""


@dataclass(frozen=True)
class VllmPlan:
    kv_bytes_per_token: int
    """Per GPU, summed over all layers (sliding-window layers of hybrid models stop growing at
    their window; request_bytes accounts for that)."""
    weights_gib: float
    """Per GPU."""
    replicated_gib: float
    """Of weights_gib, what every tensor-parallel rank holds whole (replicated_bytes_per_gpu)."""
    activation_gib: float
    overhead_gib: float
    requested_gib: float
    available_kv_gib: float
    num_blocks: int
    kv_cache_tokens: int
    max_concurrency: float
    fits: bool
    reason: str
    max_num_seqs: int
    max_num_seqs_derived: bool
    max_num_batched_tokens: int
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def kv_bytes_per_token_per_layer(arch: Architecture, tp: int, kv_cache_dtype: KvDtype) -> int:
    """One token of one layer on one GPU: K and V (MLA: one latent), at the KV cache dtype."""
    dtype_bytes = 1 if kv_cache_dtype == "fp8" else 2
    if arch.attention == "mla":
        return (arch.kv_lora_rank + arch.qk_rope_head_dim) * dtype_bytes  # type: ignore[operator]
    kv_heads = max(1, arch.num_kv_heads // tp)
    return 2 * kv_heads * arch.head_dim * dtype_bytes


def weights_bytes_per_gpu(arch: Architecture, quantization: Quantization, tp: int) -> float:
    """Weights are sharded across tensor-parallel ranks (embeddings vocab-parallel too).
    Quantized checkpoints keep embeddings and LM head in 16 bits. A checkpoint whose config.json
    declares its format (Architecture.checkpoint_weight_bytes) loads exactly that; with TP, vLLM
    splits every expert across the ranks too (FusedMoE). Every rank holds whole what
    replicated_bytes_per_gpu counts."""
    if arch.checkpoint_weight_bytes is not None:
        total = float(arch.checkpoint_weight_bytes)
    elif quantization == "none":
        total = arch.num_parameters * 2.0
    else:
        linear = arch.num_parameters - arch.embedding_parameters
        total = arch.embedding_parameters * 2.0 + linear * _bytes_per_weight(arch, quantization)
    replicated = replicated_bytes_per_gpu(arch, quantization, tp)
    return (total - arch.replicated_weight_bytes) / tp + replicated


def _bytes_per_weight(arch: Architecture, quantization: Quantization) -> float:
    if arch.quantized_bytes_per_weight is not None:
        return arch.quantized_bytes_per_weight
    return {"none": 2.0, "awq": AWQ_BYTES_PER_WEIGHT, "fp8": 1.0}[quantization]


def replicated_bytes_per_gpu(arch: Architecture, quantization: Quantization, tp: int) -> float:
    """What each tensor-parallel rank holds whole: norms, routers, MLA's down projections
    (Architecture.replicated_weight_bytes), and K/V projections when tp exceeds the KV heads:
    vLLM's QKVParallelLinear then gives every rank one whole KV head (num_kv_head_replicas =
    tp / num_kv_heads, vllm/model_executor/layers/linear.py) instead of kv_heads / tp of them."""
    replicated = float(arch.replicated_weight_bytes)
    if arch.attention != "mla" and tp > arch.num_kv_heads:
        per_layer = 2 * arch.hidden_size * arch.head_dim * (1 - arch.num_kv_heads / tp)
        replicated += arch.num_layers * per_layer * _bytes_per_weight(arch, quantization)
    return replicated


def default_batched_tokens(gpu_memory_gib: float) -> int:
    """vLLM's OpenAI-server default (engine/arg_utils.py): 8192 on >= 70 GiB GPUs, else 2048.
    (A100s also get 2048 there; the planner does not know the GPU name, so it may overestimate
    activations on an A100 80GB, which errs on the safe side.)"""
    return 8192 if gpu_memory_gib >= 70 else 2048


def default_max_num_seqs(gpu_memory_gib: float) -> int:
    return 1024 if gpu_memory_gib >= 70 else 256


def activation_bytes(arch: Architecture, tokens: int, max_num_seqs: int, tp: int) -> float:
    """Peak of vLLM's profile run: one layer's live tensors for `tokens` tokens (residual,
    norm output, QKV, attention output; MLP gate+up, activation) in 16 bits, plus fp32 logits
    for one sampled token per sequence (and a softmax copy)."""
    per_token = 4 * arch.hidden_size + (arch.num_attention_heads + 2 * arch.num_kv_heads) * arch.head_dim // tp
    per_token += 3 * arch.intermediate_size // tp
    sampler = 2 * max_num_seqs * arch.vocab_size * 4 / tp
    return tokens * per_token * 2 + sampler


def request_bytes(arch: Architecture, per_layer: int, max_model_len: int) -> int:
    """KV bytes one max_model_len request pins, in whole blocks; sliding-window layers of a hybrid
    model only keep the window (plus one block of slack) of the newest tokens."""
    full_blocks = math.ceil(max_model_len / BLOCK_SIZE)
    full_layers = arch.num_layers - arch.sliding_window_layers
    total = full_layers * full_blocks
    if arch.sliding_window_layers:
        window_blocks = math.ceil(min(max_model_len, arch.sliding_window + BLOCK_SIZE) / BLOCK_SIZE)  # type: ignore[operator]
        total += arch.sliding_window_layers * window_blocks
    return total * BLOCK_SIZE * per_layer


def plan_vllm(inputs: VllmInputs) -> VllmPlan:
    arch, tp, length = inputs.arch, inputs.tensor_parallel_size, inputs.max_model_len
    per_layer = kv_bytes_per_token_per_layer(arch, tp, inputs.kv_cache_dtype)
    kv_per_token = per_layer * arch.num_layers
    seqs_cap = inputs.max_num_seqs or default_max_num_seqs(inputs.gpu_memory_gib)
    batched = inputs.max_num_batched_tokens or default_batched_tokens(inputs.gpu_memory_gib)
    if not inputs.enable_chunked_prefill:
        batched = max(batched, length)  # without chunking a whole prompt is one step

    weights = weights_bytes_per_gpu(arch, inputs.quantization, tp) + inputs.feature_bytes_per_gpu
    activations = activation_bytes(arch, batched, seqs_cap, tp)
    overhead = (CUDA_CONTEXT_GIB + CUDA_GRAPHS_GIB + (NCCL_GIB if tp > 1 else 0.0)) * GIB
    requested = inputs.gpu_memory_gib * GIB * inputs.gpu_memory_utilization
    if inputs.available_kv_gib is not None:
        available = inputs.available_kv_gib * GIB
    else:
        available = requested - weights - activations - overhead

    per_request = request_bytes(arch, per_layer, length) + math.ceil(length / BLOCK_SIZE) * BLOCK_SIZE * inputs.extra_kv_bytes_per_token
    kv_per_token += inputs.extra_kv_bytes_per_token
    blocks_per_request = math.ceil(length / BLOCK_SIZE)
    bytes_per_block = per_request / blocks_per_request
    num_blocks = max(0, int(available // bytes_per_block))
    concurrency = num_blocks / blocks_per_request
    kv_tokens = int(concurrency * length)
    fits = available > 0 and per_request <= available

    warnings: list[str] = []
    if inputs.max_num_seqs is None:
        mean_len = max(1.0, length * MEAN_REQUEST_SHARE)
        derived = max(1, min(seqs_cap, int(kv_tokens / mean_len)))
        max_num_seqs = derived - derived % 8 if derived >= 8 else derived
    else:
        max_num_seqs = inputs.max_num_seqs
        if fits and max_num_seqs > concurrency:
            warnings.append(
                f"maxNumSeqs={max_num_seqs} but the KV cache holds {concurrency:.2f} requests of "
                f"maxModelLen={length} tokens; long requests will be preempted (recomputed)"
            )

    reason = _reason(inputs, fits, available, per_request, weights, activations, overhead, requested, bytes_per_block)
    return VllmPlan(
        kv_bytes_per_token=kv_per_token,
        weights_gib=round(weights / GIB, 3),
        replicated_gib=round(replicated_bytes_per_gpu(arch, inputs.quantization, tp) / GIB, 3),
        activation_gib=round(activations / GIB, 3),
        overhead_gib=round(overhead / GIB, 3),
        requested_gib=round(requested / GIB, 3),
        available_kv_gib=round(available / GIB, 3),
        num_blocks=num_blocks,
        kv_cache_tokens=kv_tokens,
        max_concurrency=round(concurrency, 2),
        fits=fits,
        reason=reason,
        max_num_seqs=max_num_seqs,
        max_num_seqs_derived=inputs.max_num_seqs is None,
        max_num_batched_tokens=batched,
        warnings=warnings,
    )


def _reason(
    inputs: VllmInputs,
    fits: bool,
    available: float,
    per_request: float,
    weights: float,
    activations: float,
    overhead: float,
    requested: float,
    bytes_per_block: float,
) -> str:
    if fits:
        return f"KV cache holds {available / per_request:.1f} requests of {inputs.max_model_len} tokens"
    if inputs.available_kv_gib is not None:
        budget = f"measured KV budget {available / GIB:.2f} GiB"
    else:
        budget = (
            f"{inputs.gpu_memory_gib:.1f} GiB x {inputs.gpu_memory_utilization} = {requested / GIB:.2f} GiB"
            f" - weights {weights / GIB:.2f} GiB - activations {activations / GIB:.2f} GiB"
            f" - overhead {overhead / GIB:.2f} GiB = {available / GIB:.2f} GiB for KV cache per GPU"
        )
    max_len = int(max(0.0, available) // bytes_per_block) * BLOCK_SIZE
    hint = f"lower maxModelLen to <= {max_len} tokens" if max_len >= BLOCK_SIZE else "use a GPU with more memory"
    return (
        f"one {inputs.max_model_len}-token request needs {per_request / GIB:.2f} GiB of KV cache per GPU; "
        f"{budget}. Fix: {hint}, raise gpuMemoryUtilization, add GPUs (tensor parallel), "
        f"use a 4-bit AWQ checkpoint, or kvCacheDtype fp8"
    )


def what_would_fit(inputs: VllmInputs) -> str:
    """For a refused plan: the fewest GPUs of this kind (tensor parallel, dividing the KV heads) and
    the smallest catalog GPU (one per replica) on which the same model and maxModelLen start."""
    from dataclasses import replace

    from infra.planner.catalog import GPUS

    options = []
    for tp in (2, 4, 8):
        if tp > inputs.tensor_parallel_size and inputs.arch.num_attention_heads % tp == 0:
            if plan_vllm(replace(inputs, tensor_parallel_size=tp, available_kv_gib=None)).fits:
                options.append(f"{tp} x {inputs.gpu_memory_gib:.1f} GiB GPUs (tensor parallel {tp})")
                break
    for gpu in sorted(GPUS.values(), key=lambda g: g.memory_mib):
        if gpu.memory_gib > inputs.gpu_memory_gib and plan_vllm(
            replace(inputs, gpu_memory_gib=gpu.memory_gib, tensor_parallel_size=1, available_kv_gib=None)
        ).fits:
            options.append(f"1 x {gpu.product} ({gpu.memory_gib:.1f} GiB)")
            break
    return ("It would fit on " + " or on ".join(options) + ".") if options else "No catalog GPU holds it at this maxModelLen."
