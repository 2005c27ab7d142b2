"""Each part of the vLLM capacity formula, with hand-computed numbers."""

from __future__ import annotations

import pytest

from infra.architecture import Architecture
from infra.planner.catalog import GIB, GPUS, MODELS
from infra.planner.vllm import (
    AWQ_BYTES_PER_WEIGHT,
    VllmInputs,
    kv_bytes_per_token_per_layer,
    plan_vllm,
    weights_bytes_per_gpu,
)

LLAMA_8B = MODELS["llama-3.1-8b"]
QWEN_7B = MODELS["qwen2.5-7b"]
# Llama-2-7B (meta-llama/Llama-2-7b-hf/config.json): multi-head attention, 32 KV heads.
LLAMA2_7B_MHA = Architecture(
    num_layers=32, hidden_size=4096, num_attention_heads=32, num_kv_heads=32, head_dim=128,
    vocab_size=32000, intermediate_size=11008, num_parameters=6_738_415_616, max_position_embeddings=4096,
)  # fmt: skip


def kv_per_token(arch: Architecture, tp: int = 1, kv: str = "auto") -> int:
    return kv_bytes_per_token_per_layer(arch, tp, kv) * arch.num_layers  # type: ignore[arg-type]


def test_gqa_kv_bytes_per_token() -> None:
    assert kv_per_token(LLAMA_8B) == 2 * 32 * 8 * 128 * 2 == 131_072


def test_mha_kv_bytes_per_token() -> None:
    assert kv_per_token(LLAMA2_7B_MHA) == 2 * 32 * 32 * 128 * 2 == 524_288


def test_tensor_parallel_shards_kv_heads() -> None:
    assert kv_per_token(LLAMA_8B, tp=2) == 65_536
    assert kv_per_token(LLAMA_8B, tp=8) == 16_384


def test_kv_heads_are_replicated_when_tp_exceeds_them() -> None:
    # Qwen2.5-7B has 4 KV heads: at TP 8 every rank still holds one whole head.
    assert kv_per_token(QWEN_7B, tp=4) == kv_per_token(QWEN_7B, tp=8) == 2 * 28 * 1 * 128 * 2


def test_fp8_kv_cache_halves_bytes_per_token() -> None:
    assert kv_per_token(LLAMA_8B, kv="fp8") == kv_per_token(LLAMA_8B) // 2


def test_mla_caches_one_latent_per_layer() -> None:
    arch = MODELS["deepseek-v2-lite"]
    assert kv_per_token(arch) == 27 * (512 + 64) * 2 == 31_104
    # The latent is not split across ranks.
    assert kv_per_token(arch, tp=2) == kv_per_token(arch)


def test_fp16_weights_per_gpu() -> None:
    assert weights_bytes_per_gpu(LLAMA_8B, "none", 1) / GIB == pytest.approx(14.958, abs=1e-3)
    assert weights_bytes_per_gpu(LLAMA_8B, "none", 2) == weights_bytes_per_gpu(LLAMA_8B, "none", 1) / 2


def test_awq_weights_keep_embeddings_in_16_bits() -> None:
    embeddings = 2 * 128_256 * 4096
    expected = embeddings * 2 + (LLAMA_8B.num_parameters - embeddings) * AWQ_BYTES_PER_WEIGHT
    assert weights_bytes_per_gpu(LLAMA_8B, "awq", 1) == pytest.approx(expected)
    assert 5.2 < expected / GIB < 5.5  # the AWQ-INT4 checkpoint is ~5.7 GB on disk


def test_fp8_weights_are_one_byte_per_linear_weight() -> None:
    embeddings = 2 * 128_256 * 4096
    assert weights_bytes_per_gpu(LLAMA_8B, "fp8", 1) == embeddings * 2 + (LLAMA_8B.num_parameters - embeddings)


def _plan(**kw) -> object:
    inputs = dict(arch=LLAMA_8B, gpu_memory_gib=GPUS["NVIDIA-H100-80GB-HBM3"].memory_gib, gpu_memory_utilization=0.9, max_model_len=8192)
    inputs.update(kw)
    return plan_vllm(VllmInputs(**inputs))


def test_measured_budget_gives_vllm_block_and_token_counts() -> None:
    # 54.59 GiB / (16 tokens x 128 KiB) = 54.59 x 512 = 27950.08 -> 27950 whole blocks.
    plan = _plan(available_kv_gib=54.59, max_model_len=8192)
    assert plan.num_blocks == 27_950
    assert plan.max_concurrency == pytest.approx(27_950 / 512, abs=0.01)
    assert plan.kv_cache_tokens == int(27_950 / 512 * 8192) == 447_200


def test_tokens_round_down_to_whole_blocks() -> None:
    plan = _plan(available_kv_gib=(16 * 131_072 * 10 + 131_072 * 15) / GIB, max_model_len=16)
    assert plan.num_blocks == 10 and plan.kv_cache_tokens == 160


def test_budget_subtracts_weights_activations_and_overhead() -> None:
    plan = _plan()
    expected = plan.requested_gib - plan.weights_gib - plan.activation_gib - plan.overhead_gib
    assert plan.available_kv_gib == pytest.approx(expected, abs=0.01)
    assert plan.requested_gib == pytest.approx(81_559 / 1024 * 0.9, abs=0.01)


def test_tensor_parallel_adds_nccl_overhead() -> None:
    assert _plan(tensor_parallel_size=2).overhead_gib == _plan().overhead_gib + 0.5


def test_request_longer_than_cache_does_not_fit() -> None:
    plan = _plan(gpu_memory_gib=GPUS["NVIDIA-L4"].memory_gib, max_model_len=131_072)
    assert not plan.fits
    assert "one 131072-token request needs 16.00 GiB of KV cache per GPU" in plan.reason
    assert "lower maxModelLen to <=" in plan.reason


def test_weights_larger_than_gpu_do_not_fit() -> None:
    plan = _plan(arch=MODELS["llama-3.1-70b"], gpu_memory_gib=GPUS["NVIDIA-L4"].memory_gib)
    assert not plan.fits and plan.available_kv_gib < 0 and "use a GPU with more memory" in plan.reason


def test_hybrid_sliding_layers_stop_at_the_window() -> None:
    gemma = MODELS["gemma-2-9b"]
    short, long = _plan(arch=gemma, max_model_len=4096), _plan(arch=gemma, max_model_len=8192)
    # Doubling the length doubles only the 21 full layers' share, not the sliding ones.
    per_layer_block = 16 * kv_bytes_per_token_per_layer(gemma, 1, "auto")
    short_blocks = 21 * 256 + 21 * 257
    long_blocks = 21 * 512 + 21 * 257
    assert long.available_kv_gib == short.available_kv_gib
    assert long.max_concurrency == pytest.approx(short.max_concurrency * short_blocks / long_blocks, rel=0.01)
    assert per_layer_block == 16 * 2 * 8 * 256 * 2


def test_max_num_seqs_is_derived_when_unset() -> None:
    plan = _plan(available_kv_gib=54.59, max_model_len=8192)
    # 447,200 tokens / (0.25 x 8192) = 218 -> multiple of 8 -> 216 (below vLLM's 1024 cap).
    assert plan.max_num_seqs == 216 and plan.max_num_seqs_derived


def test_derived_max_num_seqs_is_capped_at_vllm_default() -> None:
    assert _plan(available_kv_gib=54.59, max_model_len=512).max_num_seqs == 1024


def test_explicit_max_num_seqs_above_capacity_warns() -> None:
    plan = _plan(available_kv_gib=54.59, max_model_len=32_768, max_num_seqs=64)
    assert plan.max_num_seqs == 64 and not plan.max_num_seqs_derived
    assert plan.warnings == [
        "maxNumSeqs=64 but the KV cache holds 13.65 requests of maxModelLen=32768 tokens; "
        "long requests will be preempted (recomputed)"
    ]
