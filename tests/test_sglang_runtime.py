"""SGLang, the comparison runtime (docs/adr/0004): the chart's rendered SGLang args are parsed by
the pinned SGLang release's own server parser (sglang/srt/server_args.py, from the cached parser
venv: tools/sglang-venv.sh), and every series the rules, triggers and smoke suite use is defined by
that release (sglang/srt/observability/metrics_collector.py, http_request_metrics.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import CONFIGS, REPO_ROOT, objects_of

from infra.chart import render
from infra.stack import load_stack_file
from smoke.metrics import SGLANG_KEY_SERIES

pytestmark = pytest.mark.vllm_parser

SGLANG_MODELS = [(case, config, m) for case, config in CONFIGS for m in config.models if m.runtime == "sglang"]


@pytest.fixture(scope="session")
def sglang_python() -> str:
    result = subprocess.run(["bash", str(REPO_ROOT / "tools" / "sglang-venv.sh")], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        pytest.fail(f"tools/sglang-venv.sh failed:\n{result.stderr[-3000:]}")
    return result.stdout.split()[-1]


def sglang_parse(python: str, arg_lists: list[list[str]]) -> list[dict]:
    result = subprocess.run([python, str(REPO_ROOT / "tests" / "sglang_argcheck.py")], input=json.dumps(arg_lists),
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def _args(config, model) -> list[str]:
    objects = render(config.chart_values(), release=config.release_name, namespace=config.namespace)
    runtime = next(o for o in objects_of(objects, "ServingRuntime") if o["metadata"]["name"] == f"{model.name}-sglang")
    container = runtime["spec"]["containers"][0]
    assert container["command"] == ["python3", "-m", "sglang.launch_server"]
    return container["args"]


def test_every_rendered_sglang_model_parses_with_its_typed_values(sglang_python: str) -> None:
    results = sglang_parse(sglang_python, [_args(c, m) for _, c, m in SGLANG_MODELS])
    assert len(results) == len(SGLANG_MODELS) >= 2
    for (case, _, m), result in zip(SGLANG_MODELS, results):
        assert result["ok"], f"{case}/{m.name}: {result['error']}"
        p = result["parsed"]
        assert (p["model_path"], p["served_model_name"], p["host"], p["port"]) == ("/mnt/models", m.served_name, "0.0.0.0", 8080)
        # The planned static share (infra/planner/sglang.py), never gpuMemoryUtilization itself.
        assert (p["context_length"], p["tp_size"], p["mem_fraction_static"]) == (m.max_model_len, m.gpu.count, m.mem_fraction_static)
        assert m.mem_fraction_static < m.gpu_memory_utilization
        assert p["max_running_requests"] == m.max_num_seqs and p["enable_metrics"] is True
        assert p["disable_radix_cache"] is (not m.enable_prefix_caching)
        assert p["kv_cache_dtype"] == ("fp8_e4m3" if m.kv_cache_dtype == "fp8" else "auto")
        flagged = m.quantization == "fp8" and not m.quantized_checkpoint  # AWQ: read from the checkpoint (Marlin)
        assert p["quantization"] == (m.quantization if flagged else None)


@pytest.mark.parametrize("bad", ["--context-lenght=4096", "--max-num-seqs=8"], ids=["misspelt", "a-vllm-flag"])
def test_sglang_parser_rejects_a_flag_it_does_not_have(sglang_python: str, bad: str) -> None:
    _, config, model = SGLANG_MODELS[0]
    (result,) = sglang_parse(sglang_python, [_args(config, model) + [bad]])
    assert not result["ok"] and "unrecognized arguments" in result["error"], result


def test_sglang_key_series_exist_in_pinned_release(sglang_python: str) -> None:
    package = subprocess.run([sglang_python, "-c", "import importlib.util as u; print(u.find_spec('sglang').submodule_search_locations[0])"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    sources = "".join((Path(package) / "srt" / "observability" / f).read_text() for f in ("metrics_collector.py", "http_request_metrics.py"))
    defined = set(re.findall(r'name\s*=\s*"(sglang:[a-z_]+)"', sources))
    missing = sorted(set(SGLANG_KEY_SERIES.values()) - defined)
    assert not missing, f"not defined by the pinned SGLang: {missing}"


def test_server_flags_file_lists_the_pinned_sglang_parser_flags(sglang_python: str) -> None:
    out = subprocess.run([sglang_python, str(REPO_ROOT / "tests" / "sglang_argcheck.py"), "--flags"], capture_output=True, text=True, check=True).stdout
    stored = json.loads((REPO_ROOT / "infra" / "server_flags.json").read_text())["sglang"]
    assert stored == json.loads(out), "stale: run python -m infra.server_flags --write"


def test_rules_and_triggers_use_the_sglang_series(render_models) -> None:
    from conftest import vllm_entry

    entry = vllm_entry(name="sg", runtime="sglang", source={"uri": "hf://Qwen/Qwen2.5-7B-Instruct-AWQ"}, quantization="awq",
                       autoscaling={"mode": "keda", "maxReplicas": 2, "kvCacheUsageThreshold": 0.8})  # fmt: skip
    objects = render_models(entry)
    queries = [t["metadata"]["query"] for t in objects_of(objects, "ScaledObject")[0]["spec"]["triggers"]]
    assert queries[0].startswith("sum(sglang:num_queue_reqs{") and queries[1].startswith("sum(sglang:token_usage{")
    rules = json.dumps(objects_of(objects, "PrometheusRule")[0]["spec"])
    assert "vllm:" not in rules.split('"sg"')[-1] and "sglang:num_retracted_requests_total" in rules


def test_compare_stack_serves_one_model_under_both_runtimes() -> None:
    config = load_stack_file(REPO_ROOT / "stacks" / "Pulumi.compare.yaml")
    runtimes = {m.runtime: m for m in config.models}
    assert set(runtimes) == {"vllm", "sglang"}
    assert runtimes["vllm"].source == runtimes["sglang"].source and runtimes["vllm"].max_model_len == runtimes["sglang"].max_model_len
