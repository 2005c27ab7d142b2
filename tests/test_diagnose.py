"""`python -m infra diagnose` on metric snapshots built for each known cause, and on the real
llama-server's /metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

from infra.diagnose import Scrape, diagnose_llamacpp, diagnose_vllm, main, parse_exposition

MODEL = 'model_name="m",engine="0"'


def vllm_snapshot(running: float, waiting: float, kv: float, preemptions: float, tokens: float, blocks: int = 10000) -> str:
    return "\n".join([
        "# HELP vllm:num_requests_running Number of requests in model execution batches.",
        "# TYPE vllm:num_requests_running gauge",
        f"vllm:num_requests_running{{{MODEL}}} {running}",
        f"vllm:num_requests_waiting{{{MODEL}}} {waiting}",
        f"vllm:kv_cache_usage_perc{{{MODEL}}} {kv}",
        f"vllm:num_preemptions_total{{{MODEL}}} {preemptions}",
        f"vllm:generation_tokens_total{{{MODEL}}} {tokens}",
        f'vllm:cache_config_info{{block_size="16",num_gpu_blocks="{blocks}",engine="0"}} 1.0',
    ]) + "\n"  # fmt: skip


def _diagnose(before: str, after: str, **kw) -> object:
    return diagnose_vllm(Scrape(parse_exposition(before)), Scrape(parse_exposition(after)), 30.0, kw.get("max_num_seqs"), kw.get("expected"))


def test_kv_cache_thrashing_is_named_with_evidence() -> None:
    report = _diagnose(vllm_snapshot(40, 12, 0.97, 100, 5000), vllm_snapshot(40, 15, 0.98, 160, 5600))
    [finding] = report.findings
    assert finding.cause == "kv-cache-thrashing" and finding.runbook == "runbooks/kv-cache-thrashing.md"
    assert finding.evidence["preemptions_per_s"] == 2.0 and finding.evidence["kv_cache_usage"] == 0.98


def test_small_batch_ceiling_when_cache_has_room() -> None:
    report = _diagnose(vllm_snapshot(8, 30, 0.2, 0, 1000), vllm_snapshot(8, 35, 0.21, 0, 1900), max_num_seqs=8)
    assert [f.cause for f in report.findings] == ["small-batch-ceiling"]
    assert report.findings[0].evidence["max_num_seqs"] == 8


def test_quantization_mismatch_from_kv_cache_size() -> None:
    # Planned 447,200 tokens; the server has 5,000 blocks x 16 = 80,000: weights far larger than planned.
    report = _diagnose(vllm_snapshot(10, 0, 0.3, 0, 0, blocks=5000), vllm_snapshot(10, 0, 0.3, 0, 300, blocks=5000), expected=447_200)
    assert "quantization-mismatch" in [f.cause for f in report.findings]


def test_gpu_underutilised_by_too_few_requests() -> None:
    report = _diagnose(vllm_snapshot(1, 0, 0.05, 0, 0), vllm_snapshot(1, 0, 0.05, 0, 900), max_num_seqs=128)
    assert [f.cause for f in report.findings] == ["gpu-underutilised"]
    assert report.observed["generation_tokens_per_s"] == 30.0


def test_busy_healthy_server_is_healthy() -> None:
    report = _diagnose(vllm_snapshot(64, 0, 0.5, 3, 0), vllm_snapshot(64, 0, 0.5, 3, 90000), max_num_seqs=128)
    assert report.healthy and report.findings == []


def test_llamacpp_deferred_requests() -> None:
    text = "llamacpp:requests_processing 2\nllamacpp:requests_deferred 5\nllamacpp:tokens_predicted_total 10\n"
    report = diagnose_llamacpp(Scrape(parse_exposition(text)), None, 0)
    assert [f.cause for f in report.findings] == ["slots-saturated"] and not report.healthy


def test_cli_exit_codes_and_json(tmp_path: Path, capsys) -> None:
    before, after = tmp_path / "a.txt", tmp_path / "b.txt"
    before.write_text(vllm_snapshot(40, 12, 0.97, 100, 5000))
    after.write_text(vllm_snapshot(40, 15, 0.98, 160, 5600))
    assert main(["--metrics-file", str(before), "--metrics-file", str(after), "--interval", "30", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["findings"][0]["cause"] == "kv-cache-thrashing"
    empty = tmp_path / "empty.txt"
    empty.write_text("process_cpu_seconds_total 1\n")
    assert main(["--metrics-file", str(empty)]) == 2


def test_cli_through_python_m_infra(tmp_path: Path) -> None:
    snapshot = tmp_path / "m.txt"
    snapshot.write_text(vllm_snapshot(64, 0, 0.5, 3, 0))
    result = subprocess.run([sys.executable, "-m", "infra", "diagnose", "--metrics-file", str(snapshot), "--max-num-seqs", "128"],
                            capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
    assert result.returncode == 0 and "status: healthy" in result.stdout


def test_against_real_llama_server(llama_servers) -> None:
    server = llama_servers["tiny-f16"]
    url = server.base_url.removesuffix("/v1") + "/metrics"
    assert main(["--metrics-url", url, "--interval", "0.5"]) == 0
