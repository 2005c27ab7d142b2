"""Memory plan for one llama-server replica: GGUF weights + KV cache for every slot + compute
buffers against the pod's memory limit. llama-server gives each of --parallel slots
ctx-size / parallel tokens, and its KV cache is f16 by default (2 bytes per element)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from infra.architecture import Architecture
from infra.planner.catalog import GGUF_BITS_PER_WEIGHT, GIB

UBATCH = 512  # llama-server's default --ubatch-size: compute buffers are sized for it
RUNTIME_OVERHEAD_GIB = 0.15  # binary, HTTP server, tokenizer, slot state


@dataclass(frozen=True)
class LlamaCppPlan:
    weights_gib: float
    kv_bytes_per_token: int
    ctx_size: int
    per_slot_context: int
    kv_cache_gib: float
    compute_gib: float
    total_gib: float
    memory_limit_gib: float
    threads: int
    fits: bool
    reason: str
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def plan_llamacpp(
    arch: Architecture, quant_type: str, max_model_len: int, slots: int, memory_limit_bytes: float, cpus: float
) -> LlamaCppPlan:
    weights = arch.num_parameters * GGUF_BITS_PER_WEIGHT[quant_type] / 8
    kv_per_token = 2 * arch.num_layers * arch.num_kv_heads * arch.head_dim * 2
    ctx_size = max_model_len * slots
    kv = kv_per_token * ctx_size
    compute = UBATCH * (arch.vocab_size + 4 * arch.hidden_size + 3 * arch.intermediate_size) * 4
    total = weights + kv + compute + RUNTIME_OVERHEAD_GIB * GIB
    fits = total <= memory_limit_bytes
    warnings = []
    if fits and total > 0.9 * memory_limit_bytes:
        warnings.append(f"uses {total / memory_limit_bytes:.0%} of the memory limit; page cache for the mmap'd GGUF competes")
    if max_model_len > arch.max_position_embeddings:
        warnings.append(f"maxModelLen {max_model_len} exceeds the model's trained context {arch.max_position_embeddings}")
    if fits:
        reason = f"{total / GIB:.2f} GiB of {memory_limit_bytes / GIB:.2f} GiB limit"
    else:
        reason = (
            f"needs {total / GIB:.2f} GiB (weights {weights / GIB:.2f} + KV {kv / GIB:.2f} for {slots} slots x "
            f"{max_model_len} tokens + compute {compute / GIB:.2f}) but the memory limit is "
            f"{memory_limit_bytes / GIB:.2f} GiB. Fix: raise resources.memory, lower maxModelLen or maxNumSeqs"
        )
    return LlamaCppPlan(
        weights_gib=round(weights / GIB, 3),
        kv_bytes_per_token=kv_per_token,
        ctx_size=ctx_size,
        per_slot_context=ctx_size // slots,
        kv_cache_gib=round(kv / GIB, 3),
        compute_gib=round(compute / GIB, 3),
        total_gib=round(total / GIB, 3),
        memory_limit_gib=round(memory_limit_bytes / GIB, 3),
        threads=max(1, int(cpus)),
        fits=fits,
        reason=reason,
        warnings=warnings,
    )
