"""The planner accounts for LoRA adapter slots and speculative proposers (infra/planner/features.py),
with hand-computed numbers, and refuses what it cannot size by key."""

from __future__ import annotations

import pytest
from conftest import vllm_entry

from infra.planner import plan_stack
from infra.planner.catalog import GIB
from infra.stack import ConfigError, parse

QWEN3_8B = {"source": {"uri": "hf://Qwen/Qwen3-8B"}, "gpu": {"count": 1, "product": "NVIDIA-H100-80GB-HBM3"}, "maxModelLen": 8192}


def _plan(**extra):
    return plan_stack(parse({"namespace": "llm", "models": [vllm_entry(name="m", **QWEN3_8B, **extra)]})).models[0].plan


def test_lora_slots_add_their_preallocated_weights() -> None:
    """Qwen3-8B, rank 16, 4 adapters: per layer qkv (4096 + 4096 + 2 x 1024) + o (4096 + 4096) +
    gate_up (4096 + 2 x 12288) + down (12288 + 4096) = 63,488 x 16 x 4 x 2 bytes, 36 layers."""
    base = _plan()
    lora = _plan(lora={"adapters": [{"name": "sql", "source": "hf://acme/sql"}], "maxLoraRank": 16, "maxLoras": 4})
    expected = 36 * 63_488 * 16 * 4 * 2 / GIB
    assert lora.weights_gib - base.weights_gib == pytest.approx(expected, abs=2e-3)
    assert lora.kv_cache_tokens < base.kv_cache_tokens


def test_draft_model_adds_its_weights_and_kv_layers() -> None:
    """Qwen3-0.6B as the draft: 596,049,920 x 2 bytes of weights; its 28 layers cache 8 KV heads x
    128 x K,V x 2 bytes = 4,096 B per token each, next to the target's 36 x 4,096."""
    base = _plan()
    draft = _plan(speculative={"method": "draft_model", "model": "hf://Qwen/Qwen3-0.6B", "numSpeculativeTokens": 4})
    assert draft.weights_gib - base.weights_gib == pytest.approx(596_049_920 * 2 / GIB, abs=2e-3)
    assert (base.kv_bytes_per_token, draft.kv_bytes_per_token) == (36 * 4096, 36 * 4096 + 28 * 4096)


def test_ngram_needs_no_gpu_memory() -> None:
    ngram = _plan(speculative={"method": "ngram", "numSpeculativeTokens": 4, "promptLookupMax": 4})
    assert (ngram.weights_gib, ngram.kv_cache_tokens) == (_plan().weights_gib, _plan().kv_cache_tokens)


def test_eagle_head_is_planned_as_one_decoder_layer() -> None:
    """One Qwen3-8B layer (q, o: 4096 x 4096; k, v: 4096 x 1024; MLP 3 x 4096 x 12288) + the
    2h x h input projection, in 16 bits."""
    eagle = _plan(speculative={"method": "eagle3", "model": "hf://acme/qwen3-8b-eagle3", "numSpeculativeTokens": 3})
    layer = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 12288 + 2 * 4096 * 4096
    assert eagle.weights_gib - _plan().weights_gib == pytest.approx(layer * 2 / GIB, abs=2e-3)


def test_unknown_draft_model_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"models\[0\]\.speculative\.model: the planner cannot size draft model 'hf://acme/tiny-draft'"):
        _plan(speculative={"method": "draft_model", "model": "hf://acme/tiny-draft", "numSpeculativeTokens": 4})
