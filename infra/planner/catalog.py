"""Facts the planner plans from: model architectures and GPUs. Each number names its source.

Model facts are the `config.json` of the Hugging Face repository named in the comment
(num_hidden_layers, hidden_size, num_attention_heads, num_key_value_heads, head_dim,
vocab_size, intermediate_size, max_position_embeddings, tie_word_embeddings); parameter counts
are the safetensors totals the model cards report. AWQ and GGUF repositories reuse the
architecture of the model they quantize.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from infra.architecture import Architecture, from_hf_config

GIB = 1024**3
MIB = 1024**2

MODELS: dict[str, Architecture] = {
    # meta-llama/Llama-3.1-8B-Instruct/config.json; 8.03B parameters.
    "llama-3.1-8b": Architecture(
        num_layers=32, hidden_size=4096, num_attention_heads=32, num_kv_heads=8, head_dim=128,
        vocab_size=128256, intermediate_size=14336, num_parameters=8_030_261_248,
        max_position_embeddings=131072,
    ),
    # meta-llama/Llama-3.1-70B-Instruct/config.json; 70.6B parameters.
    "llama-3.1-70b": Architecture(
        num_layers=80, hidden_size=8192, num_attention_heads=64, num_kv_heads=8, head_dim=128,
        vocab_size=128256, intermediate_size=28672, num_parameters=70_553_706_496,
        max_position_embeddings=131072,
    ),
    # Qwen/Qwen2.5-7B-Instruct/config.json; 7.62B parameters.
    "qwen2.5-7b": Architecture(
        num_layers=28, hidden_size=3584, num_attention_heads=28, num_kv_heads=4, head_dim=128,
        vocab_size=152064, intermediate_size=18944, num_parameters=7_615_616_512,
        max_position_embeddings=32768,
    ),
    # Qwen/Qwen3-0.6B/config.json (tied embeddings); 0.60B parameters.
    "qwen3-0.6b": Architecture(
        num_layers=28, hidden_size=1024, num_attention_heads=16, num_kv_heads=8, head_dim=128,
        vocab_size=151936, intermediate_size=3072, num_parameters=596_049_920,
        max_position_embeddings=40960, tie_word_embeddings=True,
    ),
    # Qwen/Qwen3-4B/config.json (tied embeddings); 4.02B parameters.
    "qwen3-4b": Architecture(
        num_layers=36, hidden_size=2560, num_attention_heads=32, num_kv_heads=8, head_dim=128,
        vocab_size=151936, intermediate_size=9728, num_parameters=4_022_468_096,
        max_position_embeddings=40960, tie_word_embeddings=True,
    ),
    # Qwen/Qwen3-8B/config.json; 8.19B parameters.
    "qwen3-8b": Architecture(
        num_layers=36, hidden_size=4096, num_attention_heads=32, num_kv_heads=8, head_dim=128,
        vocab_size=151936, intermediate_size=12288, num_parameters=8_190_735_360,
        max_position_embeddings=40960,
    ),
    # Qwen/Qwen3-32B/config.json; 32.8B parameters.
    "qwen3-32b": Architecture(
        num_layers=64, hidden_size=5120, num_attention_heads=64, num_kv_heads=8, head_dim=128,
        vocab_size=151936, intermediate_size=25600, num_parameters=32_762_123_264,
        max_position_embeddings=40960,
    ),
    # mistralai/Mistral-7B-Instruct-v0.3/config.json (no sliding window in v0.3); 7.25B.
    "mistral-7b-v0.3": Architecture(
        num_layers=32, hidden_size=4096, num_attention_heads=32, num_kv_heads=8, head_dim=128,
        vocab_size=32768, intermediate_size=14336, num_parameters=7_248_023_552,
        max_position_embeddings=32768,
    ),
    # TinyLlama/TinyLlama-1.1B-Chat-v1.0/config.json; 1.10B parameters.
    "tinyllama-1.1b": Architecture(
        num_layers=22, hidden_size=2048, num_attention_heads=32, num_kv_heads=4, head_dim=64,
        vocab_size=32000, intermediate_size=5632, num_parameters=1_100_048_384,
        max_position_embeddings=2048,
    ),
    # deepseek-ai/DeepSeek-V2-Lite-Chat/config.json: MLA, kv_lora_rank 512, qk_rope_head_dim 64;
    # 15.7B parameters (MoE: every expert is resident).
    "deepseek-v2-lite": Architecture(
        num_layers=27, hidden_size=2048, num_attention_heads=16, num_kv_heads=1, head_dim=192,
        vocab_size=102400, intermediate_size=10944, num_parameters=15_706_484_224,
        max_position_embeddings=163840, attention="mla", kv_lora_rank=512, qk_rope_head_dim=64,
    ),
    # google/gemma-2-9b-it/config.json: every other layer slides over 4096 tokens; 9.24B.
    "gemma-2-9b": Architecture(
        num_layers=42, hidden_size=3584, num_attention_heads=16, num_kv_heads=8, head_dim=256,
        vocab_size=256000, intermediate_size=14336, num_parameters=9_241_705_984,
        max_position_embeddings=8192, tie_word_embeddings=True, attention="hybrid",
        sliding_window=4096, sliding_window_layers=21,
    ),
}  # fmt: skip

# Mixture-of-experts models, read from the config.json fields their repositories publish
# (infra/planner/hf_configs/<file>.json; counts and checkpoint bytes by infra/parameters.py and
# infra/checkpoint.py, checked against the model cards in tests/test_planner_moe.py). Only
# repositories whose weights are exactly that checkpoint are mapped (FP8 re-quantizations differ).
HF_CONFIG_DIR = Path(__file__).resolve().parent / "hf_configs"
MOE_MODELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mixtral-8x7b": ("Mixtral-8x7B-Instruct-v0.1", ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mistralai/Mixtral-8x7B-v0.1")),
    "mixtral-8x22b": ("Mixtral-8x22B-Instruct-v0.1", ("mistralai/Mixtral-8x22B-Instruct-v0.1",)),
    "qwen3-30b-a3b": ("Qwen3-30B-A3B", ("Qwen/Qwen3-30B-A3B",)),
    "qwen3-235b-a22b": ("Qwen3-235B-A22B", ("Qwen/Qwen3-235B-A22B",)),
    "qwen3-coder-480b-a35b": ("Qwen3-Coder-480B-A35B-Instruct", ("Qwen/Qwen3-Coder-480B-A35B-Instruct",)),
    # DeepSeek-R1 is DeepSeek-V3's architecture and FP8 checkpoint format.
    "deepseek-v3": ("DeepSeek-V3", ("deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3-0324", "deepseek-ai/DeepSeek-R1")),
    "gpt-oss-120b": ("gpt-oss-120b", ("openai/gpt-oss-120b",)),
    "gpt-oss-20b": ("gpt-oss-20b", ("openai/gpt-oss-20b",)),
    "llama-4-scout": ("Llama-4-Scout-17B-16E-Instruct", ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "meta-llama/Llama-4-Scout-17B-16E")),
    "llama-4-maverick": ("Llama-4-Maverick-17B-128E-Instruct", ("meta-llama/Llama-4-Maverick-17B-128E-Instruct", "meta-llama/Llama-4-Maverick-17B-128E")),
    "minimax-m2": ("MiniMax-M2", ("MiniMaxAI/MiniMax-M2",)),  # FP8 block-quantized checkpoint
}  # fmt: skip
MODELS.update({key: from_hf_config(HF_CONFIG_DIR / f"{file}.json") for key, (file, _) in MOE_MODELS.items()})

# Hugging Face repositories (as in `source.uri`, without hf://) -> architecture key.
REPOSITORIES: dict[str, str] = {
    **{repo: key for key, (_, repos) in MOE_MODELS.items() for repo in repos},
    "meta-llama/Llama-3.1-8B-Instruct": "llama-3.1-8b",
    "meta-llama/Llama-3.1-8B": "llama-3.1-8b",
    "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4": "llama-3.1-8b",
    "meta-llama/Llama-3.1-70B-Instruct": "llama-3.1-70b",
    "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4": "llama-3.1-70b",
    "Qwen/Qwen2.5-7B-Instruct": "qwen2.5-7b",
    "Qwen/Qwen2.5-7B-Instruct-AWQ": "qwen2.5-7b",
    "Qwen/Qwen3-0.6B": "qwen3-0.6b",
    "Qwen/Qwen3-4B": "qwen3-4b",
    "Qwen/Qwen3-4B-AWQ": "qwen3-4b",
    "Qwen/Qwen3-8B": "qwen3-8b",
    "Qwen/Qwen3-8B-AWQ": "qwen3-8b",
    "Qwen/Qwen3-32B": "qwen3-32b",
    "Qwen/Qwen3-32B-AWQ": "qwen3-32b",
    "mistralai/Mistral-7B-Instruct-v0.3": "mistral-7b-v0.3",
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": "tinyllama-1.1b",
    "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF": "tinyllama-1.1b",
    "deepseek-ai/DeepSeek-V2-Lite-Chat": "deepseek-v2-lite",
    "google/gemma-2-9b-it": "gemma-2-9b",
}


@dataclass(frozen=True)
class GpuSpec:
    product: str
    """Value of the node label nvidia.com/gpu.product (GPU Feature Discovery)."""
    memory_mib: int
    """nvidia-smi memory.total, which is what CUDA reports as total memory to vLLM."""
    bandwidth_gb_s: int
    """Peak memory bandwidth from the vendor datasheet: decode speed is bound by it."""

    @property
    def memory_gib(self) -> float:
        return self.memory_mib * MIB / GIB


GPUS: dict[str, GpuSpec] = {
    g.product: g
    for g in (
        GpuSpec("Tesla-T4", 15360, 320),
        GpuSpec("NVIDIA-L4", 23034, 300),
        GpuSpec("NVIDIA-A10G", 23028, 600),
        GpuSpec("NVIDIA-L40S", 46068, 864),
        GpuSpec("NVIDIA-A100-SXM4-40GB", 40960, 1555),
        GpuSpec("NVIDIA-A100-SXM4-80GB", 81920, 2039),
        GpuSpec("NVIDIA-A100-80GB-PCIe", 81920, 1935),
        GpuSpec("NVIDIA-H100-80GB-HBM3", 81559, 3350),  # nvidia-smi 81559MiB: google/gvisor#10413
        GpuSpec("NVIDIA-H100-PCIe", 81559, 2000),  # same 80 GB HBM2e part size as SXM; PCIe bandwidth 2.0 TB/s
        GpuSpec("NVIDIA-H100-NVL", 95830, 3900),  # nvidia-smi 95830MiB: NVIDIA/gpu-admin-tools#4
        GpuSpec("NVIDIA-GH200-480GB", 97871, 4000),  # 96 GB HBM3 Grace Hopper (nvidia-smi 97871MiB)
        GpuSpec("NVIDIA-H200", 143771, 4800),
        GpuSpec("NVIDIA-B200", 183359, 7680),  # nvidia-smi 183359MiB: NVIDIA/TensorRT-LLM#10278; 7.68 TB/s: pytorch/ao#4002
        GpuSpec("NVIDIA-L40", 46068, 864),  # same 48 GB GDDR6 board as the L40S
        GpuSpec("NVIDIA-A10", 23028, 600),  # same 24 GB GDDR6 board as the A10G
    )
}

# Bits per weight of GGUF quantization types, including block scales (llama.cpp's
# `llama-quantize --help` sizes for a 7B model, divided by its parameter count).
GGUF_BITS_PER_WEIGHT: dict[str, float] = {
    "F32": 32.0, "F16": 16.0, "BF16": 16.0, "Q8_0": 8.5, "Q6_K": 6.56, "Q5_K_M": 5.69,
    "Q5_0": 5.5, "Q4_K_M": 4.85, "Q4_0": 4.5, "Q3_K_M": 3.91, "Q2_K": 2.63,
}  # fmt: skip


def closest_gpus(product: str) -> str:
    """For an unknown gpu.product: the catalog names that contain it, else the most similar ones."""
    close = [g for g in GPUS if product.lower() in g.lower()][:4] or difflib.get_close_matches(product, list(GPUS), n=3, cutoff=0.5)
    return f"closest: {', '.join(close)}" if close else f"known: {', '.join(GPUS)}"


def repository_of(uri: str) -> str | None:
    """`hf://org/name` -> `org/name`; other schemes carry no repository name."""
    return uri.removeprefix("hf://") if uri.startswith("hf://") else None
