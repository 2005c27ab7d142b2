"""Bytes of weights as a checkpoint stores them, from config.json's `quantization_config`: what vLLM
loads onto the GPUs. Per format (vLLM 0.32, vllm/model_executor/layers/quantization/):

- none (BF16/FP16): 2 bytes per parameter.
- fp8 (fp8.py Fp8Config): projection weights in 1 byte; with `weight_block_size` [n, k] one float32
  scale per n x k block, else one scale per tensor. Embeddings, LM head, norms stay 16-bit.
- compressed-tensors (compressed_tensors/): each config group's `num_bits`, plus a 16-bit scale per
  `group_size` weights for the group strategy (channel and tensor scales are negligible).
  Modules in `ignore` (the LM head) stay 16-bit.
- awq (awq.py) and gptq (gptq.py): `bits` per weight plus, per `group_size` weights, a 16-bit scale
  and a packed `bits`-wide zero point.
- mxfp4 (mxfp4.py): routed experts in 4-bit E2M1 with one 8-bit E8M0 scale per 32 values; attention,
  routers and embeddings stay 16-bit (the checkpoints' modules_to_not_convert).
"""

from __future__ import annotations

from typing import Any

from infra.parameters import ParameterCount

KNOWN = ("fp8", "compressed-tensors", "awq", "gptq", "mxfp4")


def _grouped(bits: float, group_size: int | None) -> float:
    """Bytes per weight of a grouped integer format: the weight, a 16-bit scale and a packed zero
    point per group (group_size -1 or None: one per output channel, negligible)."""
    if not group_size or group_size < 0:
        return bits / 8
    return bits / 8 + (2 + bits / 8) / group_size


def bytes_per_quantized_weight(config: dict[str, Any]) -> float:
    method = str(config.get("quant_method", "")).lower()
    if method == "fp8":
        block = config.get("weight_block_size")
        return 1 + (4 / (block[0] * block[1]) if block else 0)
    if method == "compressed-tensors":
        groups = list((config.get("config_groups") or {}).values())
        if not groups or "weights" not in groups[0]:
            raise ValueError("quantization_config: compressed-tensors without config_groups[*].weights")
        weights = groups[0]["weights"]
        group = weights.get("group_size") if weights.get("strategy") == "group" else None
        return weights["num_bits"] / 8 + (2 / group if group else 0)
    if method in ("awq", "gptq"):
        bits = config.get("bits") or config.get("w_bit") or 4
        return _grouped(bits, config.get("group_size") or config.get("q_group_size"))
    if method == "mxfp4":
        return 0.5 + 1 / 32
    raise ValueError(
        f"quantization_config.quant_method {method or None!r}: the planner cannot size this checkpoint format "
        f"(known: {', '.join(KNOWN)}); give an architecture block with numParameters and the matching quantization"
    )


def replicated_bytes(count: ParameterCount, config: dict[str, Any] | None) -> int:
    """Bytes of the checkpoint that every tensor-parallel rank loads whole (ParameterCount's
    replicated_linear at the checkpoint's width, replicated_small in 16 bits)."""
    quantized = config and str(config.get("quant_method")).lower() != "mxfp4"
    per_weight = bytes_per_quantized_weight(config) if quantized else 2.0  # type: ignore[arg-type]
    return round(count.replicated_linear * per_weight + count.replicated_small * 2)


def checkpoint_bytes(count: ParameterCount, config: dict[str, Any] | None) -> int:
    """All weights of the checkpoint, every tensor-parallel rank together."""
    if not config:
        return count.total * 2
    per_weight = bytes_per_quantized_weight(config)
    if str(config.get("quant_method")).lower() == "mxfp4":
        quantized, kept = count.expert_weights, count.total - count.expert_weights
    else:
        quantized = count.expert_weights + count.linear_weights
        kept = count.total - quantized
    return round(quantized * per_weight + kept * 2)
