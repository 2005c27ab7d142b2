"""The planner reads the configs people deploy now, mixture-of-experts included, straight from
config.json (infra/planner/hf_configs: the fields of each model's published config.json, which the catalog also serves).
Parameter counts are checked against the totals the model cards publish; KV figures by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from infra.architecture import from_hf_config
from infra.planner.catalog import GIB

CONFIGS = REPO_ROOT / "infra" / "planner" / "hf_configs"

# Total parameters as each model card (or its release post) states them.
PUBLISHED_TOTALS = {
    "Llama-3.1-8B-Instruct": 8.03e9,  # Hugging Face model card: 8.03B params
    "Mistral-7B-v0.1": 7.24e9,  # Hugging Face model card: 7.24B params
    "Qwen2.5-7B-Instruct": 7.61e9,  # model card: "Number of Parameters: 7.61B"
    "Mixtral-8x7B-Instruct-v0.1": 46.7e9,  # Mistral release post: 46.7B total, 12.9B per token
    "Mixtral-8x22B-Instruct-v0.1": 141e9,  # Mistral release post: 141B total, 39B active
    "Qwen3-30B-A3B": 30.5e9,  # model card: 30.5B total, 3.3B activated
    "Qwen3-235B-A22B": 235e9,  # model card: 235B total, 22B activated
    "Qwen3-Coder-480B-A35B-Instruct": 480e9,  # model card: 480B total, 35B activated
    "DeepSeek-V3": 671e9,  # model card: 671B total (685B with the 14B MTP module), 37B activated
    "gpt-oss-120b": 116.83e9,  # OpenAI gpt-oss model card, table 1: 116.83B total
    "gpt-oss-20b": 20.91e9,  # OpenAI gpt-oss model card, table 1: 20.91B total
    "Llama-4-Scout-17B-16E-Instruct": 109e9,  # Meta model card: 17B activated, 109B total (vision included)
    "Llama-4-Maverick-17B-128E-Instruct": 400e9,  # Meta model card: 17B activated, 400B total
    "MiniMax-M2": 230e9,  # model card: 230B total, 10B activated
}


@pytest.mark.parametrize("model", sorted(PUBLISHED_TOTALS))
def test_parameter_count_matches_the_model_card_within_1_percent(model: str) -> None:
    counted = from_hf_config(CONFIGS / f"{model}.json").num_parameters
    assert counted == pytest.approx(PUBLISHED_TOTALS[model], rel=0.01), f"{model}: counted {counted / 1e9:.2f}B"


def test_every_fixture_has_a_published_total() -> None:
    assert sorted(p.stem for p in CONFIGS.glob("*.json")) == sorted(PUBLISHED_TOTALS)
    assert sum(1 for m in PUBLISHED_TOTALS if from_hf_config(CONFIGS / f"{m}.json").num_experts) >= 6


def _plan(config: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "infra", "plan", "--hf-config", str(CONFIGS / f"{config}.json"), *args, "--json"],
                            capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_measured_kv_budget_plans_mixtral_under_tensor_parallel() -> None:
    """8 KV heads over TP 2: 4 per GPU x 128 dims x K and V x 2 bytes x 32 layers = 65,536 B per token;
    20 GiB / (16 tokens x 65,536 B) = 20,480 blocks = 327,680 tokens = 10 requests of 32,768."""
    plan = _plan("Mixtral-8x7B-Instruct-v0.1", "--gpu-memory-gib", "79.65", "--max-model-len", "32768",
                 "--tensor-parallel-size", "2", "--available-kv-gib", "20")  # fmt: skip
    assert plan["kv_bytes_per_token"] == 65_536 and plan["num_blocks"] == 20_480
    assert plan["kv_cache_tokens"] == 327_680 and plan["max_concurrency"] == pytest.approx(10.0) and plan["fits"]


def test_measured_kv_budget_plans_deepseek_v3_mla() -> None:
    """MLA caches one latent per token and layer, whole on every rank: (512 + 64) x 2 B x 61 layers
    = 70,272 B; 40 GiB / (16 x 70,272 B) = 38,199 blocks; 2,048 blocks per 32,768-token request."""
    plan = _plan("DeepSeek-V3", "--gpu-memory-gib", "139.8", "--max-model-len", "32768", "--tensor-parallel-size", "8",
                 "--available-kv-gib", "40")  # fmt: skip
    assert plan["kv_bytes_per_token"] == 70_272 and plan["num_blocks"] == int(40 * GIB // (16 * 70_272)) == 38_199
    assert plan["kv_cache_tokens"] == 38_199 * 16 and plan["max_concurrency"] == pytest.approx(38_199 / 2048, rel=1e-3)


@pytest.mark.parametrize("model", sorted(PUBLISHED_TOTALS))
def test_measured_kv_budget_plans_every_readable_config(model: str) -> None:
    plan = _plan(model, "--gpu-memory-gib", "79.65", "--max-model-len", "8192", "--available-kv-gib", "10")
    assert plan["kv_cache_tokens"] > 0 and plan["num_blocks"] > 0 and "fits" in plan


def test_config_missing_a_field_names_it_and_the_model(tmp_path: Path) -> None:
    config = json.loads((CONFIGS / "Qwen3-30B-A3B.json").read_text())
    del config["num_experts_per_tok"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = subprocess.run([sys.executable, "-m", "infra", "plan", "--hf-config", str(tmp_path / "config.json"),
                             "--gpu-memory-gib", "79.65", "--max-model-len", "8192"], capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
    assert result.returncode != 0
    assert "config.json has no 'num_experts_per_tok' (model_type 'qwen3_moe')" in result.stderr


GIB_BYTES = 2**30


def test_mxfp4_checkpoints_match_the_gpt_oss_model_card_sizes() -> None:
    """OpenAI's gpt-oss model card, table 1: checkpoint size 60.8 GiB (120b) and 12.8 GiB (20b):
    experts in MXFP4 (4 bits + an 8-bit scale per 32), the rest in BF16."""
    assert from_hf_config(CONFIGS / "gpt-oss-120b.json").checkpoint_weight_bytes / GIB_BYTES == pytest.approx(60.8, abs=0.05)
    assert from_hf_config(CONFIGS / "gpt-oss-20b.json").checkpoint_weight_bytes / GIB_BYTES == pytest.approx(12.8, abs=0.05)


def test_fp8_block_checkpoint_bytes_by_hand() -> None:
    """DeepSeek-V3: 653.909B expert + 15.157B other projection weights at 1 byte plus a float32 scale
    per 128x128 block; 1.853B embedding/LM head + 0.107B norms/routers at 2 bytes."""
    from infra.parameters import count_parameters

    count = count_parameters(json.loads((CONFIGS / "DeepSeek-V3.json").read_text()))
    quantized = count.expert_weights + count.linear_weights
    assert (round(count.expert_weights / 1e6), round(count.linear_weights / 1e6)) == (653_909, 15_157)
    expected = quantized * (1 + 4 / (128 * 128)) + (count.total - quantized) * 2
    assert from_hf_config(CONFIGS / "DeepSeek-V3.json").checkpoint_weight_bytes == round(expected)
    assert round(expected / 1e9, 1) == 673.2


def test_awq_and_compressed_tensors_bytes_per_weight() -> None:
    from infra.checkpoint import bytes_per_quantized_weight

    assert bytes_per_quantized_weight({"quant_method": "awq", "bits": 4, "group_size": 128}) == 0.5 + 2.5 / 128
    w8 = {"quant_method": "compressed-tensors", "config_groups": {"group_0": {"weights": {"num_bits": 8, "strategy": "channel"}}}}
    w4 = {"quant_method": "compressed-tensors", "config_groups": {"group_0": {"weights": {"num_bits": 4, "strategy": "group", "group_size": 128}}}}
    assert bytes_per_quantized_weight(w8) == 1 and bytes_per_quantized_weight(w4) == 0.5 + 2 / 128


def test_unknown_checkpoint_format_is_refused_by_name(tmp_path: Path) -> None:
    config = json.loads((CONFIGS / "Qwen3-30B-A3B.json").read_text())
    config["quantization_config"] = {"quant_method": "hqq", "nbits": 4}
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = subprocess.run([sys.executable, "-m", "infra", "plan", "--hf-config", str(tmp_path / "config.json"),
                             "--gpu-memory-gib", "79.65", "--max-model-len", "8192"], capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
    assert result.returncode != 0 and "quant_method 'hqq': the planner cannot size this checkpoint format" in result.stderr


def test_gpt_oss_120b_fits_one_80gb_gpu_as_published() -> None:
    """The model card: gpt-oss-120b runs on a single 80 GB GPU. Its MXFP4 weights load whole."""
    plan = _plan("gpt-oss-120b", "--gpu-product", "NVIDIA-H100-80GB-HBM3", "--max-model-len", "8192")
    assert plan["fits"] and plan["weights_gib"] == pytest.approx(60.77, abs=0.01)


def test_moe_weights_shard_across_tensor_parallel_ranks() -> None:
    """Qwen3-235B-A22B: experts split over the ranks, norms and routers (small) replicated."""
    one = _plan("Qwen3-235B-A22B", "--gpu-memory-gib", "139.8", "--max-model-len", "8192", "--tensor-parallel-size", "2")
    two = _plan("Qwen3-235B-A22B", "--gpu-memory-gib", "139.8", "--max-model-len", "8192", "--tensor-parallel-size", "4")
    assert one["weights_gib"] == pytest.approx(235.094e9 * 2 / 2 / GIB, rel=1e-3)
    assert one["replicated_gib"] == two["replicated_gib"] < 0.1  # routers 94 x 4096 x 128, norms
    assert one["weights_gib"] - one["replicated_gib"] == pytest.approx(2 * (two["weights_gib"] - two["replicated_gib"]), abs=2e-3)


def test_kv_projections_replicate_when_tensor_parallel_exceeds_kv_heads() -> None:
    """Qwen3-235B-A22B has 4 KV heads: at TP 8 every rank holds one whole KV head (2 ranks per
    head), so k_proj and v_proj take 2 x 4096 x 128 x (1 - 4/8) x 2 bytes more per layer and rank
    than an even split: 94 layers -> 94 MiB."""
    four = _plan("Qwen3-235B-A22B", "--gpu-memory-gib", "139.8", "--max-model-len", "8192", "--tensor-parallel-size", "4")
    eight = _plan("Qwen3-235B-A22B", "--gpu-memory-gib", "139.8", "--max-model-len", "8192", "--tensor-parallel-size", "8")
    extra = 94 * 2 * 4096 * 128 * 0.5 * 2 / GIB
    assert eight["replicated_gib"] - four["replicated_gib"] == pytest.approx(extra, abs=2e-3)


def test_mla_down_projections_are_held_by_every_rank() -> None:
    """DeepSeek-V3's q_a_proj (7168 x 1536) and kv_a_proj_with_mqa (7168 x (512 + 64)) are
    ReplicatedLinear in vLLM: 61 layers x 15.1M FP8 weights (+ block scales) on every rank."""
    plan = _plan("DeepSeek-V3", "--gpu-memory-gib", "139.8", "--max-model-len", "8192", "--tensor-parallel-size", "8")
    down = 61 * 7168 * (1536 + 512 + 64) * (1 + 4 / (128 * 128)) / GIB
    routers = 58 * (7168 * 256 + 256) * 2 / GIB  # the MoE gate and its correction bias, 16-bit
    assert down + routers < plan["replicated_gib"] < down + routers + 0.01  # + norms


def test_moe_sources_plan_from_the_catalog_without_an_architecture_block() -> None:
    from infra.planner import plan_stack
    from infra.stack import parse

    entry = {"name": "gpt-oss", "runtime": "vllm", "source": {"uri": "hf://openai/gpt-oss-120b"}, "maxModelLen": 8192,
             "gpu": {"count": 1, "product": "NVIDIA-H100-80GB-HBM3"}}  # fmt: skip
    [plan] = plan_stack(parse({"models": [entry]})).models
    assert plan.plan.fits and plan.plan.weights_gib == pytest.approx(60.77, abs=0.01)


def test_llama4_counts_interleaved_moe_shared_experts_and_vision_by_hand() -> None:
    """Maverick: MoE on every 2nd layer (interleave_moe_layer_step 2) = 24 layers of 128 experts +
    1 shared expert (3 x 5120 x 8192 each) + router; 24 dense layers 16384 wide
    (intermediate_size_mlp); the vision tower as Llama4VisionModel lays it out."""
    from infra.parameters import count_parameters, llama4_vision_parameters

    config = json.loads((CONFIGS / "Llama-4-Maverick-17B-128E-Instruct.json").read_text())
    count = count_parameters(config)
    expert, attention = 3 * 5120 * 8192, 2 * 5120 * 5120 + 2 * 5120 * 1024
    assert count.moe_layers == 24 and count.experts == 128
    assert count.expert_weights == 24 * 128 * expert
    assert count.linear_weights == 48 * attention + 24 * 3 * 5120 * 16384 + 24 * expert  # + shared experts
    # 34 ViT layers of 4 x (1408^2 + 1408) + 2 x 1408 x 5632 + 5632 + 1408 + LayerNorms, plus embeddings
    # and the two projections (5632 x 4096 + 4096^2, 4096 x 5120).
    vision = llama4_vision_parameters(config["vision_config"], 5120)
    assert vision == 871_932_416 and count.vision == vision


def test_llama4_kv_cache_is_full_attention_on_every_layer() -> None:
    """Llama 4's chunked local attention (attention_chunk_size) makes vLLM 0.32 turn the hybrid KV
    cache manager off by default (vllm/config/vllm.py __post_init__, unless
    VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE=1), so every layer caches the whole context:
    8 KV heads over TP 8 = 1 head x 128 x K,V x 2 bytes x 48 layers = 24,576 B per token."""
    plan = _plan("Llama-4-Scout-17B-16E-Instruct", "--gpu-memory-gib", "79.19", "--max-model-len", "131072",
                 "--tensor-parallel-size", "8", "--available-kv-gib", "30")  # fmt: skip
    assert plan["kv_bytes_per_token"] == 24_576
    assert plan["num_blocks"] == 30 * 2**30 // (16 * 24_576) and plan["fits"]


def test_minimax_m2_fp8_block_checkpoint_bytes() -> None:
    """Every projection in FP8 with one float32 scale per 128 x 128 block; embeddings, LM head,
    norms, routers in 16 bits: about 230 GB, as the FP8 checkpoint's files are."""
    arch = from_hf_config(CONFIGS / "MiniMax-M2.json")
    from infra.parameters import count_parameters

    count = count_parameters(json.loads((CONFIGS / "MiniMax-M2.json").read_text()))
    quantized = count.expert_weights + count.linear_weights
    assert arch.checkpoint_weight_bytes == round(quantized * (1 + 4 / (128 * 128)) + (count.total - quantized) * 2)
    assert arch.checkpoint_weight_bytes / 1e9 == pytest.approx(230, rel=0.02)


def _stack_plan(**model: object):
    from conftest import vllm_entry

    from infra.planner import plan_stack
    from infra.stack import parse

    return plan_stack(parse({"namespace": "llm", "models": [vllm_entry(**model)]}))


def test_awq_on_an_fp8_checkpoint_is_refused_naming_the_key() -> None:
    from infra.stack import ConfigError

    with pytest.raises(ConfigError) as err:
        _stack_plan(name="m2", source={"uri": "hf://MiniMaxAI/MiniMax-M2"}, quantization="awq",
                    gpu={"count": 8, "product": "NVIDIA-H200"}, maxModelLen=8192)  # fmt: skip
    assert err.value.lines == [
        "models[0].quantization: awq contradicts the checkpoint, whose config.json declares "
        "quantization_config.quant_method 'fp8'; vLLM would refuse to start. Use quantization none (vLLM reads the "
        "method from the checkpoint), or point source.uri at a checkpoint stored as awq, got 'awq'"
    ]


def test_fp8_declared_quantized_on_a_16_bit_checkpoint_is_refused() -> None:
    from infra.stack import ConfigError

    with pytest.raises(ConfigError, match=r"models\[0\]\.quantization: fp8 contradicts the checkpoint, whose config.json declares 16-bit weights"):
        _stack_plan(name="scout", source={"uri": "hf://meta-llama/Llama-4-Scout-17B-16E-Instruct"}, quantization="fp8",
                    quantizedCheckpoint=True, gpu={"count": 8, "product": "NVIDIA-H100-80GB-HBM3"}, maxModelLen=8192)  # fmt: skip


def test_fp8_checkpoint_planned_with_quantization_none() -> None:
    """vLLM reads fp8 from MiniMax-M2's config.json; the plan loads the checkpoint's FP8 bytes."""
    plan = _stack_plan(name="m2", source={"uri": "hf://MiniMaxAI/MiniMax-M2"}, gpu={"count": 4, "product": "NVIDIA-H200"},
                       maxModelLen=32768).models[0].plan  # fmt: skip
    arch = from_hf_config(CONFIGS / "MiniMax-M2.json")
    assert plan.fits and plan.weights_gib == pytest.approx(
        ((arch.checkpoint_weight_bytes - arch.replicated_weight_bytes) / 4 + arch.replicated_weight_bytes) / GIB, abs=1e-3)
