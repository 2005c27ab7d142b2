"""GPU memory of vLLM features on top of the model: LoRA adapter slots and a speculative proposer.
Estimates, documented per source; vLLM's own profile run measures them at start-up.

- LoRA: for every LoRA-capable projection of every layer vLLM preallocates A (input x rank) and
  B (rank x output) for max_loras adapters in the model's dtype (vllm/lora/layers/
  base_linear.py create_lora_weights, sharded like the projection they wrap; for MoE layers
  vllm/lora/layers/fused_moe.py keeps them per expert).
- Speculative proposer: draft_model loads a second model (its weights, and KV cache for its layers
  in the same block pool: vllm/v1/spec_decode/draft_model.py); eagle/eagle3 load an EAGLE head,
  planned as one decoder layer of the target plus its 2h x h input projection; mtp loads the
  model's own multi-token-prediction layer, planned as one decoder layer; ngram and suffix need no
  GPU memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.architecture import Architecture
from infra.config.vllm_options import Lora, Speculative

BYTES = 2  # 16-bit adapter and proposer weights


def lora_bytes_per_gpu(arch: Architecture, lora: Lora, tp: int) -> float:
    h, i = arch.hidden_size, arch.intermediate_size
    q, kv = arch.num_attention_heads * arch.head_dim, arch.num_kv_heads * arch.head_dim
    attention = (h + q + 2 * kv) + (q + h)  # qkv_proj (in + out), o_proj
    mlp = ((h + 2 * i) + (i + h)) * max(1, arch.num_experts)  # gate_up_proj, down_proj (per expert)
    return arch.num_layers * (attention + mlp) * lora.max_lora_rank * lora.max_loras * BYTES / tp


def one_layer_parameters(arch: Architecture) -> int:
    q, kv = arch.num_attention_heads * arch.head_dim, arch.num_kv_heads * arch.head_dim
    return 2 * arch.hidden_size * q + 2 * arch.hidden_size * kv + 3 * arch.hidden_size * arch.intermediate_size


@dataclass(frozen=True)
class Proposer:
    weight_bytes_per_gpu: float
    kv_layers: int
    """Extra layers that cache KV per token (a draft model's), at the target's per-layer size
    unless `arch` says otherwise."""
    arch: Architecture | None = None


def proposer(spec: Speculative, target: Architecture, tp: int, draft: Architecture | None) -> Proposer:
    if spec.method in ("ngram", "suffix"):
        return Proposer(0.0, 0)
    if spec.method == "draft_model":
        assert draft is not None
        draft_tp = spec.draft_tensor_parallel_size or tp
        return Proposer(draft.num_parameters * BYTES / draft_tp, draft.num_layers, draft)
    extra = 2 * target.hidden_size * target.hidden_size if spec.method.startswith("eagle") else 0
    return Proposer((one_layer_parameters(target) + extra) * BYTES / tp, 1)
