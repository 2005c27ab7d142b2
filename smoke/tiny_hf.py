"""Write tiny random-weight Hugging Face checkpoints that vLLM's CPU build serves: config.json,
safetensors weights and a small trained BPE tokenizer (Metaspace, so every generated token decodes
to text), with a chat template for /v1/chat/completions.

Runs inside the vLLM venv (torch, transformers, tokenizers): `python smoke/tiny_hf.py KIND DIR`,
`python smoke/tiny_hf.py --lora BASE_DIR OUT_DIR` (a random LoRA adapter), or `--list`. The CPU attention backend needs head_dim 64 or another size it
has kernels for ("Unsupported CPU attention configuration" for 16), so every kind uses 64.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Words the tokenizer is trained on and the smoke suite's prompts are made of.
CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a language model predicts the next token from the tokens before it",
    "kubernetes schedules pods onto nodes that have room for them",
    "the server batches requests so the accelerator stays busy",
    "say hello in one short sentence please",
    "one two three four five six seven eight nine ten",
    "system prompt you are a helpful assistant answer briefly",
]
VOCAB_SIZE = 512
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)
COMMON = dict(hidden_size=512, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2, head_dim=64,
              max_position_embeddings=4096, vocab_size=VOCAB_SIZE, tie_word_embeddings=False)  # fmt: skip

# kind -> (transformers model_type, config overrides). What vLLM's CPU build refuses is recorded by
# tests/test_vllm_engine.py (test_architectures_the_cpu_build_serves), not assumed here.
KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "llama-gqa": ("llama", dict(intermediate_size=2048)),
    "qwen3-moe": ("qwen3_moe", dict(intermediate_size=512, moe_intermediate_size=128, num_experts=4, num_experts_per_tok=2,
                                    decoder_sparse_step=1, mlp_only_layers=[])),
    "mistral-sliding-window": ("mistral", dict(intermediate_size=512, sliding_window=256)),
    "deepseek-mla": ("deepseek_v2", dict(intermediate_size=512, moe_intermediate_size=128, n_routed_experts=4, num_experts_per_tok=2,
                                         n_shared_experts=1, first_k_dense_replace=1, kv_lora_rank=512, q_lora_rank=None,
                                         qk_nope_head_dim=64, qk_rope_head_dim=64, v_head_dim=64, n_group=1, topk_group=1,
                                         topk_method="greedy", num_key_value_heads=8, rope_scaling=None)),
}


def write_tokenizer(out: Path) -> int:
    """Train and save the tokenizer; returns its vocabulary size, which the model must match: a
    random model samples any id below its vocab_size, and an id the tokenizer lacks decodes to
    None (vLLM's logprobs path then fails on it)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = ["<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]
    tok.train_from_iterator(CORPUS * 20, trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=specials, show_progress=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="</s>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return len(fast)


def write(kind: str, out: Path, seed: int = 0) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    model_type, overrides = KINDS[kind]
    out.mkdir(parents=True, exist_ok=True)
    vocab = write_tokenizer(out)
    config = AutoConfig.for_model(model_type, **{**COMMON, **overrides, "vocab_size": vocab}, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    config.dtype = "bfloat16"
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    (out / "llm-platform-tiny.json").write_text(json.dumps({"kind": kind, "seed": seed}))
    return out


def write_lora(base: Path, out: Path, rank: int = 8, seed: int = 1) -> Path:
    """A random LoRA adapter for a tiny llama-gqa checkpoint in PEFT's on-disk format
    (adapter_config.json + adapter_model.safetensors with base_model.model.<module>.lora_A/B),
    on q_proj and v_proj of every layer: what vLLM's LoRA loader reads."""
    import torch
    from safetensors.torch import save_file

    config = json.loads((base / "config.json").read_text())
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    out_dims = {"q_proj": config["num_attention_heads"] * config["head_dim"], "v_proj": config["num_key_value_heads"] * config["head_dim"]}
    torch.manual_seed(seed)
    tensors = {}
    for layer in range(layers):
        for module, dim in out_dims.items():
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            tensors[f"{prefix}.lora_A.weight"] = (torch.randn(rank, hidden) * 0.02).to(torch.bfloat16).contiguous()
            tensors[f"{prefix}.lora_B.weight"] = (torch.randn(dim, rank) * 0.02).to(torch.bfloat16).contiguous()
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "adapter_model.safetensors"))
    (out / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": 2 * rank, "lora_dropout": 0.0,
        "target_modules": sorted(out_dims), "bias": "none", "fan_in_fan_out": False, "base_model_name_or_path": str(base),
        "modules_to_save": None, "use_rslora": False, "use_dora": False,
    }, indent=2))  # fmt: skip
    return out


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "--lora":
        print(write_lora(Path(argv[1]), Path(argv[2])))
        return 0
    if argv == ["--list"]:
        print("\n".join(KINDS))
        return 0
    if len(argv) != 2 or argv[0] not in KINDS:
        print(f"usage: tiny_hf.py {{{'|'.join(KINDS)}}} DIR | --lora BASE_DIR OUT_DIR | --list", file=sys.stderr)
        return 2
    print(write(argv[0], Path(argv[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
