"""The chart's --quantization against vLLM 0.32's own ModelConfig (cached vLLM venv): a pre-quantized
FP8 checkpoint (compressed-tensors or fp8 in config.json) starts because no --quantization is
passed; a 16-bit checkpoint gets online FP8; AWQ checkpoints keep --quantization=awq."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, objects_of, vllm_entry

pytestmark = pytest.mark.vllm_parser

LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256, "intermediate_size": 512,
         "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 1000,
         "max_position_embeddings": 4096, "torch_dtype": "bfloat16", "rms_norm_eps": 1e-5}  # fmt: skip
# quantization_config blocks as published checkpoints carry them.
COMPRESSED_TENSORS_FP8 = {"quant_method": "compressed-tensors", "format": "float-quantized", "quantization_status": "compressed",
                          "ignore": ["lm_head"], "config_groups": {"group_0": {"targets": ["Linear"],
                          "weights": {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True, "dynamic": False},
                          "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "symmetric": True, "dynamic": True}}}}  # fmt: skip
FP8 = {"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [128, 128]}
AWQ = {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True, "version": "gemm"}


@pytest.fixture(scope="module")
def vllm_model_config(vllm_python: str):
    def _check(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result = subprocess.run([vllm_python, str(REPO_ROOT / "tests" / "vllm_quantcheck.py")], input=json.dumps(cases),
                                capture_output=True, text=True, timeout=600,
                                env={"VLLM_TARGET_DEVICE": "cpu", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout)

    return _check


def rendered_quantization(render_models, **entry: Any) -> str | None:
    [runtime] = objects_of(render_models(vllm_entry(**entry)), "ServingRuntime")
    flags = [a.split("=", 1)[1] for a in runtime["spec"]["containers"][0]["args"] if a.startswith("--quantization=")]
    return flags[0] if flags else None


def with_quant(quantization_config: dict | None) -> dict:
    return {**LLAMA, **({"quantization_config": quantization_config} if quantization_config else {})}


def test_prequantized_fp8_checkpoints_start(render_models, vllm_model_config) -> None:
    arg = rendered_quantization(render_models, source={"uri": "hf://RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8"},
                                architecture="llama-3.1-8b", quantization="fp8")  # fmt: skip
    assert arg is None
    results = vllm_model_config([{"config": with_quant(COMPRESSED_TENSORS_FP8), "quantization": arg},
                                 {"config": with_quant(FP8), "quantization": arg}])  # fmt: skip
    assert [r["quantization"] for r in results] == ["compressed-tensors", "fp8"], results


def test_forcing_fp8_on_a_compressed_tensors_checkpoint_is_what_vllm_refuses(vllm_model_config) -> None:
    """Today's defect, shown with vLLM's own code: the flag the chart used to render always."""
    [result] = vllm_model_config([{"config": with_quant(COMPRESSED_TENSORS_FP8), "quantization": "fp8"}])
    assert not result["ok"] and "does not match" in result["error"]


def test_sixteen_bit_checkpoint_gets_online_fp8(render_models, vllm_model_config) -> None:
    arg = rendered_quantization(render_models, source={"uri": "hf://meta-llama/Llama-3.1-8B-Instruct"}, quantization="fp8",
                                quantizedCheckpoint=False)  # fmt: skip
    assert arg == "fp8"
    [result] = vllm_model_config([{"config": with_quant(None), "quantization": arg}])
    assert result["ok"] and result["quantization"] == "fp8"


def test_awq_checkpoint_is_read_from_its_config(render_models, vllm_model_config) -> None:
    """No --quantization for AWQ: vLLM 0.32's ModelConfig takes the method from the checkpoint's
    quantization_config (and SGLang picks Marlin only without the flag)."""
    arg = rendered_quantization(render_models, source={"uri": "hf://Qwen/Qwen2.5-7B-Instruct-AWQ"}, quantization="awq")
    [result] = vllm_model_config([{"config": with_quant(AWQ), "quantization": arg}])
    assert arg is None and result["ok"] and "awq" in result["quantization"]


def test_fp8_of_unknown_checkpoint_kind_is_refused() -> None:
    from infra.stack import ConfigError, parse

    with pytest.raises(ConfigError) as err:
        parse({"models": [vllm_entry(source={"uri": "hf://meta-llama/Llama-3.1-8B-Instruct"}, quantization="fp8")]})
    assert err.value.lines[0].startswith("models[0].quantizedCheckpoint: quantization fp8 needs to know whether")
