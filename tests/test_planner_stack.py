"""The planner at stack level: refusals with numbers, derived values reaching the chart, llama.cpp
plans, architecture sources, and the `plan` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, STACK_FILES, llamacpp_entry, objects_of, vllm_entry

from infra.planner import plan_stack
from infra.planner.catalog import GIB, MODELS
from infra.stack import ConfigError, load_stack_file, parse


def _plan(*entries, **top):
    return plan_stack(parse({"models": list(entries), **top}))


@pytest.mark.parametrize("stack", STACK_FILES, ids=lambda p: p.name)
def test_committed_stacks_fit(stack: Path) -> None:
    plan = plan_stack(load_stack_file(stack))
    assert plan.models and all(m.plan.fits for m in plan.models)


def test_model_that_cannot_start_is_refused_with_numbers() -> None:
    with pytest.raises(ConfigError) as err:
        _plan(vllm_entry(architecture="llama-3.1-8b", maxModelLen=131072))
    [line] = err.value.lines
    assert line.startswith("models[0] (qwen-fp16): cannot start on 1 x NVIDIA-L4 (22.5 GiB each): one 131072-token request needs ")
    assert "GiB of KV cache per GPU; 22.5 GiB x 0.9 = 20.24 GiB - weights 14.96 GiB - activations" in line
    assert "Fix: lower maxModelLen to <=" in line and " tokens, raise gpuMemoryUtilization" in line


def test_refusal_says_which_gpus_would_fit() -> None:
    with pytest.raises(ConfigError) as err:
        _plan(vllm_entry(architecture="llama-3.1-8b", maxModelLen=65536))
    [line] = err.value.lines
    assert line.endswith("It would fit on 2 x 22.5 GiB GPUs (tensor parallel 2) or on 1 x NVIDIA-A100-SXM4-40GB (40.0 GiB).")


def test_every_failing_model_is_reported() -> None:
    with pytest.raises(ConfigError) as err:
        _plan(vllm_entry(name="a", architecture="llama-3.1-8b", maxModelLen=131072), vllm_entry(name="b", architecture="llama-3.1-8b", maxModelLen=131072))
    assert [line.split(" ")[0] for line in err.value.lines] == ["models[0]", "models[1]"]


def test_unknown_architecture_names_the_source() -> None:
    with pytest.raises(ConfigError, match=r"models\[0\]\.source\.uri: no architecture known for 'hf://acme/unknown'"):
        _plan(vllm_entry(source={"uri": "hf://acme/unknown"}))


def test_unknown_gpu_asks_for_memory() -> None:
    with pytest.raises(ConfigError, match=r"models\[0\]\.gpu\.product: unknown gpu.product 'NVIDIA-X9' \(closest: .*\); for another GPU set gpu.memoryGib"):
        _plan(vllm_entry(gpu={"count": 1, "product": "NVIDIA-X9"}))


def test_gpu_memory_override_plans_unknown_gpu() -> None:
    plan = _plan(vllm_entry(gpu={"count": 1, "product": "NVIDIA-X9", "memoryGib": 40}))
    assert plan.models[0].plan.requested_gib == pytest.approx(36.0)


def test_derived_max_num_seqs_reaches_chart_values(render_models) -> None:
    objects = render_models(vllm_entry())
    args = objects_of(objects, "ServingRuntime")[0]["spec"]["containers"][0]["args"]
    expected = _plan(vllm_entry()).models[0].plan.max_num_seqs
    assert f"--max-num-seqs={expected}" in args and expected > 1


def test_explicit_max_num_seqs_is_kept(render_models) -> None:
    args = objects_of(render_models(vllm_entry(maxNumSeqs=7)), "ServingRuntime")[0]["spec"]["containers"][0]["args"]
    assert "--max-num-seqs=7" in args


def test_startup_budget_grows_with_weights(render_models) -> None:
    small = _plan(vllm_entry(source={"uri": "hf://Qwen/Qwen2.5-7B-Instruct-AWQ"}, quantization="awq")).models[0]
    large = _plan(vllm_entry()).models[0]
    assert large.startup_failure_threshold > small.startup_failure_threshold
    runtime = objects_of(render_models(vllm_entry()), "ServingRuntime")[0]
    assert runtime["spec"]["containers"][0]["startupProbe"]["failureThreshold"] == large.startup_failure_threshold


def test_explicit_startup_threshold_is_kept(render_models) -> None:
    entry = vllm_entry(probes={"startupFailureThreshold": 500})
    runtime = objects_of(render_models(entry), "ServingRuntime")[0]
    assert runtime["spec"]["containers"][0]["startupProbe"]["failureThreshold"] == 500


def test_llamacpp_plan_counts_weights_kv_for_all_slots() -> None:
    plan = _plan(llamacpp_entry(maxModelLen=2048, maxNumSeqs=2)).models[0].plan
    assert plan.ctx_size == 4096 and plan.per_slot_context == 2048
    assert plan.kv_bytes_per_token == 2 * 22 * 4 * 64 * 2
    assert plan.kv_cache_gib == pytest.approx(4096 * 22_528 / GIB, abs=1e-3)
    assert plan.weights_gib == pytest.approx(MODELS["tinyllama-1.1b"].num_parameters * 4.85 / 8 / GIB, abs=1e-3)
    assert plan.threads == 2  # 2500m


def test_llamacpp_over_memory_limit_is_refused() -> None:
    entry = llamacpp_entry(maxModelLen=2048, maxNumSeqs=64, resources={"cpu": "2", "memory": "1Gi"})
    with pytest.raises(ConfigError, match=r"models\[0\] \(tiny\): cannot start: needs .* but the memory limit is 1.00 GiB"):
        _plan(entry)


def test_hf_config_gives_architecture(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
                "vocab_size": 128256, "intermediate_size": 14336, "max_position_embeddings": 131072,
                "tie_word_embeddings": False,
            }
        )
    )  # fmt: skip
    plan = _plan(vllm_entry(source={"uri": "pvc://models/llama"}, hfConfig=str(config))).models[0].plan
    catalog = _plan(vllm_entry(source={"uri": "hf://meta-llama/Llama-3.1-8B-Instruct"})).models[0].plan
    assert plan.kv_bytes_per_token == catalog.kv_bytes_per_token
    assert plan.weights_gib == pytest.approx(catalog.weights_gib, rel=0.001)  # estimated parameter count


def _plan_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infra", "plan", *args], capture_output=True, text=True, cwd=REPO_ROOT)


def test_plan_cli_ad_hoc_prints_the_documented_keys(tmp_path: Path) -> None:
    result = _plan_cli(
        "--model", "llama-3.1-8b", "--gpu-memory-gib", "79.65", "--gpu-memory-utilization", "0.9",
        "--max-model-len", "8192", "--tensor-parallel-size", "1", "--available-kv-gib", "54.59", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    for key in ("kv_bytes_per_token", "weights_gib", "available_kv_gib", "kv_cache_tokens", "max_concurrency", "fits", "reason"):
        assert key in out
    assert out["kv_cache_tokens"] == 447_200 and out["fits"] is True


def test_plan_cli_ad_hoc_exits_1_when_it_does_not_fit() -> None:
    result = _plan_cli("--model", "llama-3.1-70b", "--gpu-memory-gib", "22.49", "--max-model-len", "8192", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["fits"] is False


def test_plan_cli_ad_hoc_prints_a_table_like_the_stack_plan() -> None:
    result = _plan_cli("--model", "llama-3.1-8b", "--gpu-product", "NVIDIA-L4", "--max-model-len", "8192")
    assert result.returncode == 0, result.stderr
    header, rule, row = result.stdout.splitlines()[:3]
    assert header.split()[:4] == ["model", "runtime", "hardware", "weights/GPU"] and set(rule) <= {"-", " "}
    assert row.split()[:5] == ["llama-3.1-8b", "vllm", "1x", "NVIDIA-L4", "14.96"]


def test_plan_cli_ad_hoc_refusal_says_what_would_fit() -> None:
    result = _plan_cli("--model", "llama-3.1-70b", "--gpu-product", "NVIDIA-L4", "--max-model-len", "8192")
    assert result.returncode == 1
    assert "weights 131.42 GiB" in result.stdout and "It would fit on 8 x 22.5 GiB GPUs (tensor parallel 8)" in result.stdout


def test_plan_cli_stack_table_and_json() -> None:
    table = _plan_cli("--stack", "prod")
    assert table.returncode == 0 and "llama31-8b-fp16" in table.stdout and "KV tokens" in table.stdout
    data = json.loads(_plan_cli("--stack", "prod", "--json").stdout)
    assert set(data) == {"llama31-8b-fp16", "llama31-8b-awq", "tinyllama"}


@pytest.mark.parametrize("stack", STACK_FILES, ids=lambda p: p.name)
def test_committed_stacks_plan_without_warnings(stack) -> None:
    """The example stacks are what operators copy: none of them may need a planner warning."""
    plans = plan_stack(load_stack_file(stack)).models
    assert [w for p in plans for w in p.plan.warnings] == []


def test_production_example_pins_every_weight_source() -> None:
    """README: pin what prod serves. A full commit for hf:// (a branch name can move), never a
    llama-server hf:// download (which always takes the latest file)."""
    stack = load_stack_file(REPO_ROOT / "stacks" / "Pulumi.prod.yaml")
    assert stack.environment == "production" and stack.models
    for model in stack.models:
        uri, revision = model.source.uri, model.source.revision
        if model.runtime == "vllm":
            assert uri.startswith("hf://") and revision and len(revision) == 40, (model.name, uri, revision)
            int(revision, 16)
        else:
            assert not uri.startswith("hf://"), (model.name, uri)
