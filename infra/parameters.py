"""Parameter counts of decoder-only transformers from their Hugging Face config.json, dense and
mixture-of-experts, as the checkpoints lay the weights out (the modeling files of each family in
Transformers / vLLM 0.32: llama, mistral, qwen2, qwen3, qwen2_moe, qwen3_moe, mixtral,
deepseek_v2/v3, gpt_oss).

Field names as each family spells them: experts `num_local_experts` (Mixtral, gpt-oss),
`num_experts` (Qwen MoE), `n_routed_experts` (DeepSeek); expert width `moe_intermediate_size`
(else `intermediate_size`); shared experts `n_shared_experts` (DeepSeek, at the expert width) or
`shared_expert_intermediate_size` with a 1-wide gate (Qwen2-MoE); which layers are MoE:
`first_k_dense_replace` + `moe_layer_freq` (DeepSeek), `mlp_only_layers` + `decoder_sparse_step`
(Qwen), `interleave_moe_layer_step` (Llama 4), every layer otherwise. Llama 4's dense layers are
`intermediate_size_mlp` wide and each MoE layer adds one shared expert at the expert width; its
vision tower is counted too (vLLM loads it; the published totals include it). MiniMax-M2 adds
per-layer q/k norms and a routing bias. DeepSeek's and MiniMax's multi-token-prediction modules
(`num_nextn_predict_layers`, `num_mtp_modules`) are not counted: vLLM serves the main model without
them and the published totals exclude them. Other families' vision towers are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")


@dataclass(frozen=True)
class ParameterCount:
    total: int
    active: int
    """Per token: attention, dense MLPs, shared experts and the top-k routed experts."""
    experts: int = 0
    """Routed experts per MoE layer (0 for dense models)."""
    moe_layers: int = 0
    embedding: int = 0
    """Input embedding and LM head (once when tied): kept in 16 bits by every quantized format here."""
    expert_weights: int = 0
    """Routed experts' projection matrices (what MXFP4 checkpoints quantize)."""
    linear_weights: int = 0
    """Every other projection matrix: attention, dense MLPs, shared experts (quantized by FP8/AWQ/GPTQ)."""
    vision: int = 0
    """Vision tower and projector of a multimodal checkpoint (kept in 16 bits)."""
    replicated_linear: int = 0
    """Projection weights every tensor-parallel rank holds whole: MLA's q_a_proj and
    kv_a_proj_with_mqa (vLLM models/deepseek_v2.py builds them as ReplicatedLinear)."""

    @property
    def replicated_small(self) -> int:
        """Norms, routers, biases, sinks: every rank holds them whole (vLLM's RMSNorm and the MoE
        gate are not sharded); 16-bit."""
        return self.unquantized - self.vision

    @property
    def unquantized(self) -> int:
        """Norms, biases, routers, attention sinks: stored in 16 bits or more."""
        return self.total - self.embedding - self.expert_weights - self.linear_weights


class ConfigFieldError(ValueError):
    """A config.json lacks a field the count needs (the message names it)."""


def _need(c: dict[str, Any], key: str) -> Any:
    if c.get(key) is None:
        raise ConfigFieldError(f"config.json has no {key!r} (model_type {c.get('model_type', 'unknown')!r})")
    return c[key]


def num_experts(c: dict[str, Any]) -> int:
    return next((int(c[k]) for k in EXPERT_KEYS if c.get(k)), 0)


def _attention(c: dict[str, Any], hidden: int) -> tuple[int, int]:
    """(all attention parameters, those in projection matrices)."""
    total = _attention_all(c, hidden)
    return total, total - _attention_small(c, hidden)


def _attention_small(c: dict[str, Any], hidden: int) -> int:
    """Norms, biases and sinks inside the attention block."""
    heads = c["num_attention_heads"]
    model_type = str(c.get("model_type", ""))
    if c.get("kv_lora_rank"):
        return (c.get("q_lora_rank") or 0) + c["kv_lora_rank"]
    kv_heads = c.get("num_key_value_heads") or heads
    head_dim = c.get("head_dim") or hidden // heads
    small = 0
    if c.get("attention_bias") or model_type in ("qwen2", "qwen2_moe"):
        small += heads * head_dim + 2 * kv_heads * head_dim + (hidden if c.get("attention_bias") else 0)
    if model_type.startswith("qwen3"):
        small += 2 * head_dim
    if model_type == "gpt_oss":
        small += heads
    if c.get("use_qk_norm") and c.get("qk_norm_type") == "per_layer":
        small += (heads + kv_heads) * head_dim
    return small


def _attention_all(c: dict[str, Any], hidden: int) -> int:
    heads = _need(c, "num_attention_heads")
    model_type = str(c.get("model_type", ""))
    if c.get("kv_lora_rank"):  # MLA (DeepSeek-V2/V3): low-rank query and compressed KV latent
        nope, rope, v = _need(c, "qk_nope_head_dim"), _need(c, "qk_rope_head_dim"), _need(c, "v_head_dim")
        q_rank, kv_rank = c.get("q_lora_rank"), c["kv_lora_rank"]
        q = hidden * heads * (nope + rope) if not q_rank else hidden * q_rank + q_rank + q_rank * heads * (nope + rope)
        kv = hidden * (kv_rank + rope) + kv_rank + kv_rank * heads * (nope + v)
        return q + kv + heads * v * hidden
    kv_heads = c.get("num_key_value_heads") or heads
    head_dim = c.get("head_dim") or hidden // heads
    q_out, kv_out = heads * head_dim, kv_heads * head_dim
    params = hidden * q_out + 2 * hidden * kv_out + q_out * hidden
    if c.get("attention_bias") or model_type in ("qwen2", "qwen2_moe"):  # Qwen2 always biases q, k, v
        params += q_out + 2 * kv_out + (hidden if c.get("attention_bias") else 0)
    if model_type.startswith("qwen3"):
        params += 2 * head_dim  # q_norm and k_norm
    if model_type == "gpt_oss":
        params += heads  # attention sinks
    if c.get("use_qk_norm") and c.get("qk_norm_type") == "per_layer":
        params += q_out + kv_out  # MiniMax-M2: RMSNorm over all heads' q and k (Llama 4's L2 norm has no weights)
    return params


def _mlp(hidden: int, width: int, bias: bool) -> int:
    """Gated MLP: gate and up (hidden -> width), down (width -> hidden)."""
    return 3 * hidden * width + ((2 * width + hidden) if bias else 0)


def _is_moe_layer(c: dict[str, Any], i: int) -> bool:
    if "interleave_moe_layer_step" in c:  # Llama 4 (vLLM models/llama4.py Llama4DecoderLayer)
        step = int(c["interleave_moe_layer_step"] or 0)
        return step > 0 and (i + 1) % step == 0
    if "first_k_dense_replace" in c or "moe_layer_freq" in c:  # DeepSeek
        return i >= int(c.get("first_k_dense_replace") or 0) and i % int(c.get("moe_layer_freq") or 1) == 0
    if i in (c.get("mlp_only_layers") or []):  # Qwen MoE
        return False
    return (i + 1) % int(c.get("decoder_sparse_step") or 1) == 0


def llama4_vision_parameters(v: dict[str, Any], text_hidden: int) -> int:
    """Llama 4's vision tower (Transformers modeling_llama4.py Llama4VisionModel): an unfold patch
    embedding, class and position embeddings, pre/post LayerNorms, ViT encoder layers (q/k/v/o
    and a 2-layer MLP, all with biases; two LayerNorms), the pixel-shuffle MLP
    (Llama4VisionMLP2: intermediate -> projector_input, projector_output -> projector_output) and
    the projector to the text width (Llama4MultiModalProjector)."""
    hidden, width, layers = _need(v, "hidden_size"), _need(v, "intermediate_size"), _need(v, "num_hidden_layers")
    patch, image = _need(v, "patch_size"), _need(v, "image_size")
    patches = (image // patch) ** 2
    embed = v.get("num_channels", 3) * patch * patch * hidden + hidden + (patches + 1) * hidden + 4 * hidden
    layer = 4 * (hidden * hidden + hidden) + (hidden * width + width) + (width * hidden + hidden) + 4 * hidden
    adapter = width * _need(v, "projector_input_dim") + _need(v, "projector_output_dim") ** 2
    return embed + layers * layer + adapter + _need(v, "vision_output_dim") * text_hidden


def count_parameters(top: dict[str, Any]) -> ParameterCount:
    """Total and active parameters of the model `top` describes (the language model under
    text_config for multimodal wrappers; Llama 4's vision tower added)."""
    c = top.get("text_config", top)
    vision = 0
    if str(top.get("model_type", "")) == "llama4" and top.get("vision_config"):
        vision = llama4_vision_parameters(top["vision_config"], _need(c, "hidden_size"))
    hidden, layers, vocab = _need(c, "hidden_size"), _need(c, "num_hidden_layers"), _need(c, "vocab_size")
    experts = num_experts(c)
    gpt_oss = c.get("model_type") == "gpt_oss"
    attention, attention_linear = _attention(c, hidden)
    mla_down = hidden * ((c.get("q_lora_rank") or 0) + c["kv_lora_rank"] + _need(c, "qk_rope_head_dim")) if c.get("kv_lora_rank") else 0
    attention += 2 * hidden  # + the two RMSNorms of the layer
    embedding = vocab * hidden * (1 if c.get("tie_word_embeddings") else 2)
    total = active = embedding + hidden  # + final norm
    linear = expert_weights = 0
    moe_layers = sum(1 for i in range(layers) if experts and _is_moe_layer(c, i))
    dense_layers = layers - moe_layers
    if dense_layers:
        width, bias = c.get("intermediate_size_mlp") or _need(c, "intermediate_size"), bool(c.get("mlp_bias"))
        total += dense_layers * (attention + _mlp(hidden, width, bias))
        active += dense_layers * (attention + _mlp(hidden, width, bias))
        linear += dense_layers * (attention_linear + _mlp(hidden, width, False))
    if moe_layers:
        width = c.get("moe_intermediate_size") or _need(c, "intermediate_size")
        expert = _mlp(hidden, width, gpt_oss)
        # Router bias (gpt-oss) or score-correction bias (DeepSeek, MiniMax-M2 use_routing_bias).
        router = hidden * experts + (experts if gpt_oss or c.get("n_routed_experts") or c.get("use_routing_bias") else 0)
        shared = int(c.get("n_shared_experts") or 0) * _mlp(hidden, width, False)
        if str(c.get("model_type", "")).startswith("llama4"):
            shared += _mlp(hidden, width, False)  # Llama4MoE's shared_expert
        shared_gate = 0
        if c.get("shared_expert_intermediate_size"):
            shared += _mlp(hidden, c["shared_expert_intermediate_size"], False)
            shared_gate = hidden  # its sigmoid gate
        top_k = int(_need(c, "num_experts_per_tok"))
        total += moe_layers * (attention + experts * expert + router + shared + shared_gate)
        active += moe_layers * (attention + top_k * expert + router + shared + shared_gate)
        linear += moe_layers * (attention_linear + shared)
        expert_weights = moe_layers * experts * _mlp(hidden, width, False)
    return ParameterCount(total=total + vision, active=active + vision, experts=experts, moe_layers=moe_layers,
                          embedding=embedding, expert_weights=expert_weights, linear_weights=linear, vision=vision,
                          replicated_linear=layers * mla_down)  # fmt: skip
