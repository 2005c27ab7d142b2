"""Model architecture facts the planner needs, and reading them from a Hugging Face config.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from infra.config.base import Strict
from infra.checkpoint import bytes_per_quantized_weight, checkpoint_bytes, replicated_bytes
from infra.parameters import count_parameters


class Architecture(Strict):
    """Transformer dimensions (the keys of a Hugging Face config.json, camelCased)."""

    num_layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    num_attention_heads: int = Field(ge=1)
    num_kv_heads: int = Field(ge=1)
    """Key/value heads (GQA); equal to attention heads for MHA."""
    head_dim: int = Field(ge=1)
    vocab_size: int = Field(ge=1)
    intermediate_size: int = Field(ge=1)
    num_parameters: int = Field(ge=1)
    """Total parameter count (for MoE models: all experts, as they all sit in GPU memory)."""
    checkpoint_weight_bytes: int | None = Field(default=None, ge=1)
    """Bytes of all weights as a quantized checkpoint stores them (from config.json's
    quantization_config, infra/checkpoint.py); when set, the plan loads this, split over the
    tensor-parallel ranks, instead of deriving it from numParameters and `quantization`."""
    checkpoint_quantization: str | None = None
    """quant_method of the checkpoint's quantization_config ("none": a 16-bit config.json); unset
    when unknown (dimensions written by hand, or a catalog entry several checkpoints share)."""
    replicated_weight_bytes: int = Field(default=0, ge=0)
    """Bytes of weights every tensor-parallel rank holds whole (norms, routers, MLA's down
    projections; infra/checkpoint.py replicated_bytes); the rest is split over the ranks."""
    quantized_bytes_per_weight: float | None = Field(default=None, gt=0)
    """Bytes per projection weight in the checkpoint (from quantization_config); sizes the K/V
    projections vLLM replicates when tensor parallel exceeds the KV heads."""
    num_experts: int = Field(default=0, ge=0)
    """Routed experts per MoE layer (0: dense). With tensor parallelism vLLM splits every expert
    across the ranks (FusedMoE), so expert weights shard like the rest; the router and norms are
    replicated (a few MB)."""
    max_position_embeddings: int = Field(ge=1)
    rope_scaling_factor: float = Field(default=1.0, ge=1)
    """The context vLLM allows is max_position_embeddings x this (vLLM's _get_and_verify_max_len):
    a linear or dynamic RoPE scaling factor. YaRN and Llama 3 scaling already show in
    max_position_embeddings and count 1 here (rope_scaling_factor())."""
    tie_word_embeddings: bool = False
    attention: Literal["full", "mla", "hybrid"] = "full"
    """full: every layer caches K and V; mla: one compressed latent per token and layer;
    hybrid: some layers use a sliding window and cache at most that many tokens."""
    kv_lora_rank: int | None = Field(default=None, ge=1)
    """MLA latent size (DeepSeek-V2/V3 style attention)."""
    qk_rope_head_dim: int | None = Field(default=None, ge=1)
    """MLA rotary key part, cached next to the latent."""
    sliding_window: int | None = Field(default=None, ge=1)
    sliding_window_layers: int = Field(default=0, ge=0)
    """How many of the layers use the sliding window (hybrid attention)."""

    @model_validator(mode="after")
    def _consistent(self) -> Architecture:
        if self.attention == "mla" and (self.kv_lora_rank is None or self.qk_rope_head_dim is None):
            raise ValueError("attention: mla needs kvLoraRank and qkRopeHeadDim")
        if self.attention == "hybrid" and (self.sliding_window is None or not self.sliding_window_layers):
            raise ValueError("attention: hybrid needs slidingWindow and slidingWindowLayers")
        if self.sliding_window_layers > self.num_layers:
            raise ValueError(f"slidingWindowLayers: at most numLayers ({self.num_layers}), got {self.sliding_window_layers}")
        return self

    @property
    def context_length(self) -> int:
        """The longest --max-model-len vLLM accepts for this model without an override."""
        return int(self.max_position_embeddings * self.rope_scaling_factor)

    @property
    def embedding_parameters(self) -> int:
        """Input embedding plus LM head (once when tied); AWQ/FP8 keep these in 16 bits."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)


# vllm/config/model.py _get_and_verify_max_len (vLLM 0.32): a RoPE scaling factor multiplies
# max_position_embeddings, except for these types, whose max_position_embeddings is already the
# scaled length (YaRN as Transformers' _compute_yarn_parameters assumes, Llama 3's scaling), and
# for Gemma 3, whose 128K is already scaled.
UNSCALED_ROPE_TYPES = ("su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling")


def rope_scaling_factor(c: dict[str, Any]) -> float:
    """The factor vLLM applies to max_position_embeddings for this config (1.0 when none)."""
    rope = c.get("rope_parameters") or c.get("rope_scaling") or {}
    rope_type = rope.get("rope_type") or rope.get("type") or "default"
    if "gemma3" in str(c.get("model_type", "")) or rope_type in UNSCALED_ROPE_TYPES:
        return 1.0
    return float(rope.get("factor") or 1.0)


def from_hf_config(path: Path) -> Architecture:
    """Read a Hugging Face config.json, dense or mixture-of-experts (infra/parameters.py counts
    the parameters the way each family lays them out)."""
    top = json.loads(path.read_text())
    c = top.get("text_config", top)  # multimodal wrappers keep the language model here
    quantization = top.get("quantization_config") or c.get("quantization_config")
    hidden, heads = c["hidden_size"], c["num_attention_heads"]
    kv_heads = c.get("num_key_value_heads") or heads
    head_dim = c.get("head_dim") or hidden // heads
    layer_types = c.get("layer_types") or []
    sliding_layers = sum(1 for t in layer_types if t == "sliding_attention")
    mla = "kv_lora_rank" in c and c.get("kv_lora_rank")
    count = count_parameters(top)
    return Architecture(
        num_layers=c["num_hidden_layers"],
        hidden_size=hidden,
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=c["vocab_size"],
        intermediate_size=c.get("moe_intermediate_size") or c["intermediate_size"],
        num_parameters=count.total,
        checkpoint_weight_bytes=checkpoint_bytes(count, quantization) if quantization else None,
        replicated_weight_bytes=replicated_bytes(count, quantization),
        checkpoint_quantization=str(quantization.get("quant_method", "unknown")).lower() if quantization else "none",
        # MXFP4 quantizes only the routed experts: the attention projections stay 16-bit.
        quantized_bytes_per_weight=(bytes_per_quantized_weight(quantization)
                                    if quantization and quantization.get("quant_method") != "mxfp4" else None),
        num_experts=count.experts,
        max_position_embeddings=c.get("max_position_embeddings", 0) or 1,
        rope_scaling_factor=rope_scaling_factor(c),
        tie_word_embeddings=bool(c.get("tie_word_embeddings", False)),
        attention="mla" if mla else ("hybrid" if sliding_layers and c.get("sliding_window") else "full"),
        kv_lora_rank=c.get("kv_lora_rank") if mla else None,
        qk_rope_head_dim=c.get("qk_rope_head_dim") if mla else None,
        sliding_window=c.get("sliding_window") if sliding_layers else None,
        sliding_window_layers=sliding_layers,
    )
