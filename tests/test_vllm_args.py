"""vLLM args tier: the container args the chart renders are parsed by the serve argument parser
of the same vLLM release the image pins, run from the cached vLLM venv (tools/vllm-venv.sh)."""

from __future__ import annotations

import json

import pytest
from conftest import CONFIGS, objects_of, vllm_entry

from infra.chart import render

pytestmark = pytest.mark.vllm_parser

VLLM_MODELS = [
    (case, config, model)
    for case, config in CONFIGS
    for model in config.models
    if model.runtime == "vllm"
]


def _rendered_args(config, model) -> list[str]:
    objects = render(config.chart_values(), release=config.release_name, namespace=config.namespace)
    runtime = next(o for o in objects_of(objects, "ServingRuntime") if o["metadata"]["name"] == f"{model.name}-vllm")
    container = runtime["spec"]["containers"][0]
    assert container["command"] == ["vllm", "serve"]
    return container["args"]


def test_every_rendered_vllm_model_parses_with_its_typed_values(vllm_parse) -> None:
    arg_lists = [_rendered_args(config, model) for _, config, model in VLLM_MODELS]
    results = vllm_parse(arg_lists)
    assert len(results) == len(VLLM_MODELS) > 0
    for (case, _, model), result in zip(VLLM_MODELS, results):
        assert result["ok"], f"{case}/{model.name}: {result['error']}"
        parsed = result["parsed"]
        assert parsed["model_tag"] == "/mnt/models"
        assert parsed["served_model_name"] == [model.served_name]
        assert parsed["max_model_len"] == model.max_model_len
        assert parsed["tensor_parallel_size"] == model.gpu.count
        assert parsed["gpu_memory_utilization"] == model.gpu_memory_utilization
        # A pre-quantized checkpoint gets no flag: vLLM reads the method from its config.json.
        flagged = model.quantization == "fp8" and not model.quantized_checkpoint  # AWQ: read from the checkpoint
        assert parsed["quantization"] == (model.quantization if flagged else None)
        assert parsed["kv_cache_dtype"] == model.kv_cache_dtype
        assert parsed["max_num_seqs"] == model.max_num_seqs
        assert parsed["max_num_batched_tokens"] == model.max_num_batched_tokens
        assert parsed["enable_prefix_caching"] is model.enable_prefix_caching
        assert parsed["enable_chunked_prefill"] is model.enable_chunked_prefill
        assert parsed["port"] == 8080
        lora, spec = model.lora, model.speculative
        assert bool(parsed["enable_lora"]) is (lora is not None)
        if lora:
            assert [(m["name"], m["path"]) for m in parsed["lora_modules"]] == [(a.name, a.path) for a in lora.adapters]
            assert (parsed["max_lora_rank"], parsed["max_loras"], parsed["max_cpu_loras"]) == (lora.max_lora_rank, lora.max_loras, lora.max_cpu_loras)
        if spec:
            assert parsed["speculative_config"]["method"] == spec.method
            assert parsed["speculative_config"]["num_speculative_tokens"] == spec.num_speculative_tokens
            assert parsed["speculative_config"].get("model") == (spec.model and spec.model.removeprefix("hf://"))
        else:
            assert parsed["speculative_config"] is None


@pytest.mark.parametrize(
    "bad_flag",
    ["--max-num-seqz=4", "--use-v2-block-manager", "--disable-log-requestz"],
    ids=["misspelt", "removed-in-v0.6", "misspelt-boolean"],
)
def test_parser_rejects_unknown_flag(render_models, vllm_parse, bad_flag: str) -> None:
    """What the config's extraArgs check (infra/server_flags.json) stands in for: vLLM's own parser
    refuses the flag (the config now refuses it first, so the flag is added after rendering)."""
    runtime = objects_of(render_models(vllm_entry()), "ServingRuntime")[0]
    [result] = vllm_parse([runtime["spec"]["containers"][0]["args"] + [bad_flag]])
    assert not result["ok"]
    assert bad_flag.split("=")[0] in result["error"]


def test_parser_rejects_a_flag_that_needs_a_partner(render_models, vllm_parse) -> None:
    runtime = objects_of(render_models(vllm_entry(extraArgs=["--enable-auto-tool-choice"])), "ServingRuntime")[0]
    [result] = vllm_parse([runtime["spec"]["containers"][0]["args"]])
    assert not result["ok"] and "--tool-call-parser" in result["error"]


def test_server_flags_file_lists_the_pinned_vllm_parser_flags(vllm_python: str) -> None:
    """infra/server_flags.json (what config validation checks extraArgs against) is current."""
    import json
    import subprocess
    from pathlib import Path

    from conftest import REPO_ROOT

    from infra.server_flags import known_flags

    result = subprocess.run([vllm_python, str(REPO_ROOT / "tests" / "vllm_flags.py")], capture_output=True, text=True, timeout=600,
                            env={"VLLM_TARGET_DEVICE": "cpu", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert known_flags()["vllm"] == frozenset(json.loads(result.stdout)), "stale: run python -m infra.server_flags --write"


@pytest.mark.parametrize("bad", [
    {"lora": {"maxLoraRank": 32, "maxLoras": 4, "maxCpuLoras": 2}},
    {"speculative": {"method": "ngramz"}},
    {"speculative": {"num_speculative_tokenz": 3}},
], ids=["cpu-loras-below-loras", "unknown-method", "unknown-field"])
def test_lora_and_speculative_checks_fail_on_what_vllm_refuses(render_models, vllm_parse, bad: dict) -> None:
    """The feature checks run vLLM's own LoRAConfig and SpeculativeConfig definitions: a value the
    config model would refuse, forced into rendered args, is refused by vLLM's too."""
    entry = vllm_entry(lora={"adapters": [{"name": "a", "source": "hf://acme/a"}]},
                       speculative={"method": "ngram", "numSpeculativeTokens": 3})  # fmt: skip
    args = objects_of(render_models(entry), "ServingRuntime")[0]["spec"]["containers"][0]["args"]
    if "lora" in bad:
        b = bad["lora"]
        args = [a for a in args if not a.startswith(("--max-lora-rank", "--max-loras", "--max-cpu-loras"))]
        args += [f"--max-lora-rank={b['maxLoraRank']}", f"--max-loras={b['maxLoras']}", f"--max-cpu-loras={b['maxCpuLoras']}"]
    else:
        spec = {"method": "ngram", "num_speculative_tokens": 3, **bad["speculative"]}
        args = [a for a in args if not a.startswith("--speculative-config")] + [f"--speculative-config={json.dumps(spec)}"]
    (result,) = vllm_parse([args])
    assert not result["ok"], result
