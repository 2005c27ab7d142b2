"""Real vLLM in the loop (issue 26): the CPU build of the pinned release (tools/vllm-venv.sh) serves a
tiny random-weight model with the args the chart renders for it (localcp/vllm.py substitutes only
what cannot apply on a CPU), and the smoke suite, the bench with its counter check, the quality
comparison, diagnose, and every vllm: series the chart reads are checked against it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import REPO_ROOT, VLLM_MODEL, run_smoke, tiny_vllm_entry, vllm_chart_args

from smoke.bench import main as bench
from smoke.metrics import VLLM_KEY_SERIES, exposed_names

pytestmark = pytest.mark.vllm_server


def metrics(server) -> str:
    return httpx.get(f"{server.url}/metrics", timeout=10).text


def gauge(server, name: str) -> float:
    found = re.findall(rf"^{re.escape(name)}{{[^}}]*}} ([0-9.e+-]+)$", metrics(server), flags=re.M)
    return sum(float(v) for v in found)


def test_the_harness_runs_the_chart_args_with_only_the_listed_substitutions(vllm_server, tiny_llama_dir: Path) -> None:
    from localcp.vllm import CPU_ADDITIONS, CPU_SUBSTITUTIONS

    chart = vllm_chart_args(tiny_vllm_entry(tiny_llama_dir))
    substituted = {s.flag for s in CPU_SUBSTITUTIONS}
    kept = [a for a in chart if a.split("=", 1)[0] not in substituted]
    assert all(a in vllm_server.args for a in kept), set(kept) - set(vllm_server.args)
    assert f"--served-model-name={VLLM_MODEL}" in vllm_server.args and "--max-num-seqs=4" in vllm_server.args
    added = {f"--model={tiny_llama_dir.resolve()}", "--host=127.0.0.1", f"--port={vllm_server.port}", "--tensor-parallel-size=1", *CPU_ADDITIONS}
    assert set(vllm_server.args) - set(chart) <= added


def test_smoke_suite_passes_against_real_vllm(vllm_server) -> None:
    result = run_smoke(vllm_server.base_url, VLLM_MODEL, "vllm")
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and " failed" not in result.stdout


def test_every_vllm_series_the_chart_reads_is_exposed(vllm_server) -> None:
    httpx.post(f"{vllm_server.base_url}/completions", json={"model": VLLM_MODEL, "prompt": "the quick", "max_tokens": 4}, timeout=60)
    missing = set(VLLM_KEY_SERIES) - exposed_names(metrics(vllm_server))
    assert not missing, f"series the rules/triggers/dashboard/diagnose read that vLLM does not export: {sorted(missing)}"


def test_bench_counts_what_vllm_counts(vllm_server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    rc = bench(["--base-url", vllm_server.base_url, "--model", VLLM_MODEL, "--concurrency", "1,2", "--requests", "4",
                "--input-tokens", "16", "--output-tokens", "8", "--json", str(out), "--quiet"])  # fmt: skip
    assert rc == 0, capsys.readouterr().out[-2000:]
    for level in json.loads(out.read_text())["levels"]:
        counters = {c["counter"]: c for c in level["server_counters"]}
        assert counters["vllm:request_success_total"]["server"] == counters["vllm:request_success_total"]["bench"] == 4
        tokens = counters["vllm:generation_tokens_total"]
        assert tokens["server"] == tokens["bench"] == 4 * 8 and tokens["ok"], tokens


def test_quality_scores_real_prompt_logprobs(vllm_server, tmp_path: Path) -> None:
    """The same server on both sides: vLLM's echo+logprobs perplexity is finite and identical, and
    greedy outputs agree exactly (a shape-only check would pass on made-up numbers)."""
    report = tmp_path / "quality.json"
    result = subprocess.run([sys.executable, "-m", "smoke.quality", "--a-url", vllm_server.base_url, "--a-model", VLLM_MODEL,
                             "--b-url", vllm_server.base_url, "--b-model", VLLM_MODEL, "--concurrency", "1", "--requests", "2",
                             "--max-output-tokens", "8", "--json", str(report)], capture_output=True, text=True, cwd=REPO_ROOT,
                            timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    data = json.loads(report.read_text())
    a, b = data["endpoints"]["A"], data["endpoints"]["B"]
    assert a["runtime"] == "vllm" and a["scored_tokens"] > 20
    assert 1.0 < a["perplexity"] < 10_000 and a["perplexity"] == pytest.approx(b["perplexity"], rel=1e-6)
    assert data["greedy"]["identical_share"] == 1.0


def test_diagnose_reads_real_vllm_metrics(vllm_server) -> None:
    result = subprocess.run([sys.executable, "-m", "infra", "diagnose", "--metrics-url", f"{vllm_server.url}/metrics",
                             "--model", VLLM_MODEL, "--max-num-seqs", "4", "--interval", "2", "--json"], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=120)  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["runtime"] == "vllm", report
    assert [k for k, v in report["observed"].items() if v is None] == [], report["observed"]


def test_the_engine_core_runs_on_the_engine_cores_beside_its_worker(vllm_server) -> None:
    """The EngineCore busy-waits on its worker (localcp/vllm.py CPU_ENGINE_CORES): it is pinned to
    the engine's cores, while the API server keeps every core (it answers /metrics during a run)."""
    from localcp.vllm import CPU_ENGINE_CORES, core_set, engine_core_pids

    cores = core_set(CPU_ENGINE_CORES)
    [engine_core] = engine_core_pids(vllm_server.process.pid)
    threads = os.listdir(f"/proc/{engine_core}/task")
    assert {t: os.sched_getaffinity(int(t)) for t in threads} == {t: cores for t in threads}
    assert os.sched_getaffinity(vllm_server.process.pid) == os.sched_getaffinity(0) != cores


@pytest.mark.parametrize(("spec", "cores"), [("0", {0}), ("0-2", {0, 1, 2}), ("0,2-3", {0, 2, 3}), ("auto", None), ("nobind", None), ("0-", None)])
def test_engine_core_spec_reads_vllms_list_form(spec: str, cores: set[int] | None) -> None:
    from localcp.vllm import core_set

    assert core_set(spec) == cores


def test_the_servers_python_sees_no_amx_so_vllm_runs_its_generic_kernels(vllm_server) -> None:
    """localcp/vllm_site/sitecustomize.py: on a host with AMX, vLLM's AMX MoE and sliding-window
    kernels died with SIGILL (no tile-data permission); every process of the server gets the patch."""
    from localcp.vllm import vllm_python

    probe = "import torch.cpu; print(torch.cpu._is_amx_tile_supported())"
    result = subprocess.run([vllm_python(), "-c", probe], env=vllm_server.env(), capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr[-2000:]


def test_continuous_batching_lets_a_short_request_finish_during_a_long_one(vllm_server) -> None:
    """Two long generations and, a second later, a short one: vLLM schedules every arrival into the
    running batch (vllm:num_requests_running reaches 2 with both long ones in flight), so the short
    request finishes long before them; a static batch would hold it until the batch ended."""

    async def scenario() -> tuple[float, float, float]:
        async with httpx.AsyncClient(timeout=300) as client:
            def post(tokens: int) -> asyncio.Task:
                body = {"model": VLLM_MODEL, "prompt": "one two three", "max_tokens": tokens, "ignore_eos": True, "temperature": 0}
                return asyncio.create_task(client.post(f"{vllm_server.base_url}/completions", json=body))

            start = time.monotonic()
            longs = [post(3000), post(3000)]
            running = 0.0
            # Until the gauge shows both, or one of them is done (bounded by the client's timeout):
            # on a loaded 2-core machine the two may take over a minute to be scheduled at all.
            while running < 2 and not any(task.done() for task in longs):
                running = max(running, await asyncio.to_thread(gauge, vllm_server, "vllm:num_requests_running"))
                await asyncio.sleep(0.2)
            sent = time.monotonic()
            short = post(4)
            (await short).raise_for_status()
            short_done = time.monotonic() - sent
            short_finished_at = time.monotonic() - start
            for task in longs:
                (await task).raise_for_status()
            # A static batch would answer the short one only after the long ones end.
            assert short_finished_at < time.monotonic() - start, "the short request ended after the long ones"
            return short_done, time.monotonic() - start, running

    short_done, long_done, running = asyncio.run(scenario())
    assert running >= 2, f"vllm:num_requests_running peaked at {running} with two long requests in flight"
    print(f"short (4 tokens) answered in {short_done:.1f}s; the two long ones (3000 tokens) took {long_done:.1f}s")
    # Bounded by the long ones' remaining time, not a ratio of their total (the short one is sent
    # only once the gauge shows both running, which can be late in their run on a busy machine).
    assert short_done < 0.5 * long_done, f"short request took {short_done:.1f}s, the long ones {long_done:.1f}s"


# ---- Planner vs the engine: vLLM logs `CPU KV cache size: N tokens` for VLLM_CPU_KVCACHE_SPACE.
def planned_kv_bytes_per_token(model_dir: Path) -> int:
    from infra.architecture import from_hf_config
    from infra.planner.vllm import kv_bytes_per_token_per_layer

    arch = from_hf_config(model_dir / "config.json")
    return kv_bytes_per_token_per_layer(arch, 1, "auto") * arch.num_layers


def planned_kv_tokens(model_dir: Path, kv_gib: float, max_model_len: int = 4096) -> int:
    """The planner's token capacity for `kv_gib` of KV space: requests of max_model_len it fits x
    max_model_len, which is how vLLM reports `KV cache size: N tokens` (kv_cache_utils.py
    get_kv_cache_capacity)."""
    from infra.architecture import from_hf_config
    from infra.planner.vllm import VllmInputs, plan_vllm

    inputs = VllmInputs(arch=from_hf_config(model_dir / "config.json"), gpu_memory_gib=24, gpu_memory_utilization=0.9,
                        max_model_len=max_model_len, tensor_parallel_size=1, kv_cache_dtype="auto", quantization="none",
                        max_num_seqs=4, max_num_batched_tokens=None, enable_chunked_prefill=True, feature_bytes_per_gpu=0,
                        extra_kv_bytes_per_token=0, available_kv_gib=kv_gib)  # fmt: skip
    return plan_vllm(inputs).kv_cache_tokens


def test_planner_kv_bytes_per_token_match_what_vllm_allocates(vllm_server, tiny_llama_dir: Path) -> None:
    # Llama GQA: 4 layers x K,V x 2 KV heads x head_dim 64 x 2 bytes (bf16) = 2048 bytes per token.
    per_token = planned_kv_bytes_per_token(tiny_llama_dir)
    assert per_token == 4 * 2 * 2 * 64 * 2
    assert vllm_server.kv_cache_tokens() == int(vllm_server.kv_cache_gib * 2**30) // per_token
    assert vllm_server.kv_cache_tokens() == planned_kv_tokens(tiny_llama_dir, vllm_server.kv_cache_gib)


# Architectures beyond dense GQA the CPU build is asked to serve; what it refuses is asserted with
# its own error line, so a new release that starts serving one turns this red (then move it).
SERVED_KINDS = ["qwen3-moe", "mistral-sliding-window", "deepseek-mla"]
REFUSED_KINDS: dict[str, str] = {}
KV_PLANNED_DIFFERENTLY = {"mistral-sliding-window"}


@pytest.mark.parametrize("kind", SERVED_KINDS + list(REFUSED_KINDS))
def test_tiny_architecture_on_the_cpu_build(kind: str, tmp_path: Path) -> None:
    from conftest import write_tiny_hf

    from localcp.process import ProcessError
    from localcp.vllm import VllmServer

    model_dir = write_tiny_hf(kind, tmp_path / kind)
    server = VllmServer(tmp_path / "state", model_dir, vllm_chart_args(tiny_vllm_entry(model_dir)), name=f"vllm-{kind}")
    try:
        server.start()
    except ProcessError as err:
        assert kind in REFUSED_KINDS, f"{kind}: {err}"
        assert REFUSED_KINDS[kind] in str(err)
        return
    try:
        assert kind in SERVED_KINDS, f"{kind} now serves: move it to SERVED_KINDS"
        reply = httpx.post(f"{server.base_url}/completions", json={"model": VLLM_MODEL, "prompt": "the quick", "max_tokens": 4}, timeout=120)
        assert reply.status_code == 200 and reply.json()["usage"]["completion_tokens"] == 4
        if kind in KV_PLANNED_DIFFERENTLY:
            # Found by this test, not fixed: vLLM's CPU build caps sliding-window layers at the window
            # (more requests fit); the planner plans them as full attention: conservative.
            assert server.kv_cache_tokens() > planned_kv_tokens(model_dir, server.kv_cache_gib)
        else:
            assert server.kv_cache_tokens() == planned_kv_tokens(model_dir, server.kv_cache_gib)
    finally:
        server.stop()


def test_a_model_vllm_cannot_load_fails_with_its_error_and_leaves_nothing(tmp_path: Path, tiny_llama_dir: Path) -> None:
    import shutil

    from localcp.process import ProcessError
    from localcp.vllm import VllmServer

    broken = tmp_path / "broken"
    shutil.copytree(tiny_llama_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    server = VllmServer(tmp_path / "state", broken, vllm_chart_args(tiny_vllm_entry(tiny_llama_dir)))
    with pytest.raises(ProcessError, match="vLLM refused") as err:
        server.start(timeout=300)
    assert "safetensors" in str(err.value).lower() or "header" in str(err.value).lower(), str(err.value)[-1500:]
    assert server.process.pid is None


# ---- LoRA and speculative decoding through the typed config.
def test_lora_adapter_is_served_under_its_name(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from localcp.vllm import VllmServer, vllm_python

    adapter = tmp_path / "sql-lora"
    written = subprocess.run([vllm_python(), str(REPO_ROOT / "smoke" / "tiny_hf.py"), "--lora", str(tiny_llama_dir), str(adapter)],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert written.returncode == 0, written.stderr[-2000:]
    entry = tiny_vllm_entry(tiny_llama_dir, lora={"adapters": [{"name": "sql", "source": "hf://acme/tiny-sql-lora"}], "maxLoraRank": 8, "maxLoras": 1})
    args = vllm_chart_args(entry)
    assert "sql=acme/tiny-sql-lora" in args  # what the pod would download from the Hub
    server = VllmServer(tmp_path / "state", tiny_llama_dir, args, lora_dirs={"sql": adapter}, name="vllm-lora")
    server.start()
    try:
        served = {m["id"] for m in httpx.get(f"{server.base_url}/models", timeout=30).json()["data"]}
        assert served == {VLLM_MODEL, "sql"}
        reply = httpx.post(f"{server.base_url}/completions", json={"model": "sql", "prompt": "the quick", "max_tokens": 4}, timeout=120)
        assert reply.status_code == 200, reply.text
        assert reply.json()["model"] == "sql" and reply.json()["usage"]["completion_tokens"] == 4
    finally:
        server.stop()


def test_ngram_speculative_decoding_on_the_cpu_build(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from localcp.process import ProcessError
    from localcp.vllm import VllmServer

    entry = tiny_vllm_entry(tiny_llama_dir, speculative={"method": "ngram", "numSpeculativeTokens": 2, "promptLookupMax": 3, "promptLookupMin": 1})
    server = VllmServer(tmp_path / "state", tiny_llama_dir, vllm_chart_args(entry), name="vllm-ngram")
    try:
        server.start()
    except ProcessError as err:
        pytest.fail(f"the CPU build refuses n-gram speculative decoding: {err}")
    try:
        reply = httpx.post(f"{server.base_url}/completions", json={"model": VLLM_MODEL, "prompt": "one two three one two three one two",
                                                                  "max_tokens": 8, "temperature": 0}, timeout=120)  # fmt: skip
        assert reply.status_code == 200, reply.text
        assert "vllm:spec_decode_num_drafts" in metrics(server)
    finally:
        server.stop()


# ---- Graceful shutdown: the pod's sequence with the chart's numbers. The kubelet runs preStop
# (sleep rollout.preStopSeconds; endpoints stop routing meanwhile), then SIGTERM; vLLM drains for
# --shutdown-timeout (vllm/entrypoints/launchers/launcher.py handle_shutdown: mode "drain"), and
# the kubelet sends SIGKILL at terminationGracePeriodSeconds.
def test_streams_in_flight_at_sigterm_all_complete(tiny_llama_dir: Path, tmp_path: Path) -> None:
    import os
    import signal
    import threading

    from localcp.vllm import VllmServer

    entry = tiny_vllm_entry(tiny_llama_dir, terminationGracePeriodSeconds=120, rollout={"preStopSeconds": 15})
    args = vllm_chart_args(entry)
    drain = int(next(a for a in args if a.startswith("--shutdown-timeout=")).split("=")[1])
    assert drain == 120 - 15 - 5
    server = VllmServer(tmp_path / "state", tiny_llama_dir, args, name="vllm-drain").start()
    results: list[str] = []
    received = [0, 0, 0, 0]

    def stream(i: int) -> None:
        body = {"model": VLLM_MODEL, "prompt": "one two", "max_tokens": 3000, "ignore_eos": True, "stream": True}
        try:
            last = ""
            with httpx.stream("POST", f"{server.base_url}/completions", json=body, timeout=200) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        received[i], last = received[i] + 1, line
            results.append("complete" if last == "data: [DONE]" else f"cut after {received[i]} chunks")
        except httpx.HTTPError as err:
            results.append(f"failed: {err!r}")

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    from conftest import wait_for

    wait_for(lambda: min(received) >= 20, 120, "all 4 streams generating", interval=0.2)  # in flight, as the client sees it
    started = time.monotonic()
    os.kill(server.process.pid, signal.SIGTERM)  # what the kubelet sends after preStop
    for thread in threads:
        thread.join(timeout=drain + 20)
    elapsed = time.monotonic() - started
    exited = server.process.pid is None or not Path(f"/proc/{server.process.pid}").exists()
    server.stop(grace=max(1.0, 120 - 15 - elapsed))  # SIGKILL at the grace period, as the kubelet would
    print(f"in flight at SIGTERM: 4; {results.count('complete')} complete, others {[r for r in results if r != 'complete']}; "
          f"last finished {elapsed:.1f}s after SIGTERM (drain budget {drain}s); server exited by itself: {exited}")
    assert results == ["complete"] * 4, results
