"""The README's main job end to end, as a newcomer runs it: `python -m localcp up --stack local`
(what `make local` runs) in its own state directory. The real Pulumi engine ups the local stack
onto the local control plane with the real KServe controller beside it; each model is served by a
real local server standing in for its pod (llama-server; vLLM's CPU build with the args of the
ServingRuntime the stack deployed); the smoke suite runs its OpenAI checks against those servers
and its in-cluster checks against the local cluster."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT

pytestmark = pytest.mark.engine
VLLM_MODEL, LLAMA_MODEL = "qwen3-small", "tinyllama"  # stacks/Pulumi.local.yaml


@pytest.fixture(scope="module")
def main_job(tmp_path_factory: pytest.TempPathFactory):
    state = tmp_path_factory.mktemp("main-job")
    command = [sys.executable, "-m", "localcp", "up", "--stack", "local", "--state-dir", str(state)]
    try:
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
        result.state = state  # type: ignore[attr-defined]  # the cluster stays up for the tests below
        yield result
    finally:
        stop = subprocess.run([sys.executable, "-m", "localcp", "cluster", "stop", str(state / ".cluster")],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert stop.returncode == 0, stop.stderr


def _outcomes(output: str) -> dict[str, str]:
    """pytest -rA summary lines of the smoke run: 'test file::name[id]' -> PASSED/SKIPPED/FAILED/ERROR."""
    return {m.group(2): m.group(1) for m in re.finditer(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL) (smoke/\S+)", output, re.M)}


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-3000:]}"


def test_main_job_passes(main_job) -> None:
    assert main_job.returncode == 0, _tail(main_job)


def test_vllm_model_is_served_by_real_vllm_with_the_deployed_args(main_job) -> None:
    [line] = [ln for ln in main_job.stdout.splitlines() if ln.startswith(f"== {VLLM_MODEL} ({VLLM_MODEL}) served at")]
    assert "vLLM CPU build" in line and f"--served-model-name={VLLM_MODEL}" in line and "--max-num-seqs=4" in line, line


def test_openai_checks_pass_for_both_models(main_job) -> None:
    outcomes = _outcomes(main_job.stdout)
    for model in (VLLM_MODEL, LLAMA_MODEL):
        api = {k: v for k, v in outcomes.items() if k.startswith("smoke/test_openai_api.py") and k.endswith(f"[{model}]")}
        assert api and set(api.values()) <= {"PASSED", "SKIPPED"} and "PASSED" in api.values(), (model, api, _tail(main_job))


def test_in_cluster_checks_reach_the_local_cluster(main_job) -> None:
    """The InferenceService the real KServe controller reconciled is Ready; nothing is skipped for
    want of a cluster (before: 4 of 11 skipped with "no cluster reachable through kubectl")."""
    outcomes = _outcomes(main_job.stdout)
    assert outcomes.get(f"smoke/test_in_cluster.py::test_inference_service_is_ready[{VLLM_MODEL}]") == "PASSED", _tail(main_job)
    assert outcomes.get(f"smoke/test_in_cluster.py::test_gpus_visible_match_request[{LLAMA_MODEL}]") == "PASSED", _tail(main_job)
    assert "no cluster reachable" not in main_job.stdout


def test_exec_checks_on_kwok_pods_say_why_they_are_skipped(main_job) -> None:
    skipped = [ln for ln in main_job.stdout.splitlines() if ln.startswith("SKIPPED") and "test_in_cluster.py" in ln]
    exec_skips = [ln for ln in skipped if "runs on kwok node" in ln]
    assert exec_skips and all("which runs no container to exec into" in ln for ln in exec_skips), skipped


def _stand_ins_running() -> list[str]:
    """PIDs of the main job's stand-in servers (vLLM under the local vLLM model's name, llama-server
    under the llama.cpp model's alias)."""
    patterns = (f"vllm.entrypoints.openai.api_server.*--served-model-name={VLLM_MODEL}", f"llama-server.*--alias {LLAMA_MODEL}")
    return [pid for p in patterns for pid in subprocess.run(["pgrep", "-f", p], capture_output=True, text=True).stdout.split()]


def test_main_job_leaves_no_stand_in_running(main_job) -> None:
    assert _stand_ins_running() == [], "stand-in servers still running after the main job ended"


def test_sigterm_during_the_smoke_run_stops_every_stand_in(main_job) -> None:
    """`make local` stopped (SIGTERM, e.g. a CI timeout) while its stand-ins serve: none is left
    behind; the cluster it reused keeps running (it is meant to outlive the job)."""
    command = [sys.executable, "-m", "localcp", "up", "--stack", "local", "--state-dir", str(main_job.state)]
    job = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in job.stdout:  # bounded by the job's own start timeouts
            if line.startswith(f"== {LLAMA_MODEL} ({LLAMA_MODEL}) served at"):  # both stand-ins are up (sorted: vLLM first)
                break
        assert len(_stand_ins_running()) == 2, "the stand-ins did not both start"
        job.send_signal(signal.SIGTERM)
        job.wait(timeout=120)
    finally:
        job.kill()
        job.wait()
    deadline = time.monotonic() + 30
    while _stand_ins_running() and time.monotonic() < deadline:
        time.sleep(1)
    assert _stand_ins_running() == [], "stand-in servers outlived the stopped main job"
    assert (main_job.state / ".cluster" / "kube-apiserver.pid").exists()
