"""Stand-ins for a stack's model pods in `make local`. kwok runs the pods without containers, so
each model's endpoint is a real server on 127.0.0.1 serving a tiny random model under the model's
served name: llama-server for llama.cpp models, and the CPU build of vLLM for vLLM models, started
with the container args of the ServingRuntime the stack deployed (read back from the API server,
CPU substitutions only: localcp.vllm.CPU_SUBSTITUTIONS).

    with stand_ins(outputs, cluster, workdir) as served:   # the outputs, each baseUrl a stand-in's
        ... pytest smoke --stack-outputs <served as JSON>
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from localcp.cluster import LocalCluster
from localcp.process import reap_on_exit
from localcp.vllm import VllmServer, write_tiny_model

# Runtimes with no server that runs here; their models are left out of the smoke run, saying why.
NO_STAND_IN = {"sglang": "SGLang has no CPU build here (tests/test_sglang_*: its parser and series only)"}
TINY_VLLM_KIND = "llama-gqa"  # smoke/tiny_hf.py: the dense GQA model every vLLM test tier serves


def serving_runtime_args(cluster: LocalCluster, namespace: str, name: str) -> list[str]:
    """The model-server container args of the ServingRuntime that InferenceService `name` uses, as
    the API server holds them (what the pod would run)."""
    isvc = cluster.get("inferenceservice", name, namespace)
    if isvc is None:
        raise LookupError(f"InferenceService {namespace}/{name} not found: did `pulumi up` create it?")
    runtime_name = isvc["spec"]["predictor"]["model"]["runtime"]
    runtime = cluster.get("servingruntime", runtime_name, namespace)
    if runtime is None:
        raise LookupError(f"ServingRuntime {namespace}/{runtime_name} (of InferenceService {name}) not found")
    return runtime["spec"]["containers"][0]["args"]


@contextmanager
def stand_ins(outputs: dict, cluster: LocalCluster, workdir: Path) -> Iterator[dict]:
    """Start one stand-in per model; yield the outputs with each served model's baseUrl replaced
    by its stand-in's (no Host header, no gateway: the client talks to the server directly).
    Every server is stopped on exit, also when a later one fails to start."""
    from smoke.local_server import llama_bin_dir, make_models, serve

    # The cluster and KServe (started before) outlive this process on purpose; the stand-ins must
    # not: from here on SIGTERM unwinds this block (stopping every server) and the vLLM process
    # also dies with its parent on a SIGKILL.
    reap_on_exit()
    namespace = outputs["namespace"]
    served: dict[str, dict] = {}
    with ExitStack() as running:
        gguf = None
        for name, model in sorted(outputs["models"].items()):
            runtime, alias = model["runtime"], model["servedModelName"]
            if runtime in NO_STAND_IN:
                print(f"== {name} ({runtime}): no stand-in, left out of the smoke run: {NO_STAND_IN[runtime]}", flush=True)
                continue
            if runtime == "llamacpp":
                llama = llama_bin_dir()
                gguf = gguf or make_models(llama, workdir)["tiny-q4"]
                base_url = running.enter_context(serve(llama, gguf, alias)).base_url
                what = "llama-server, tiny random Q4_0 GGUF"
            else:
                model_dir = write_tiny_model(TINY_VLLM_KIND, workdir / f"{name}-model")
                args = serving_runtime_args(cluster, namespace, name)
                print(f"== {name}: starting vLLM (CPU) with the deployed ServingRuntime's args", flush=True)
                server = VllmServer(workdir / f"{name}-vllm", model_dir, args, name=f"vllm-{name}")
                running.callback(server.stop)
                base_url = server.start().base_url
                what = f"vLLM CPU build, tiny random {TINY_VLLM_KIND} model, args: {' '.join(server.args)}"
            print(f"== {name} ({alias}) served at {base_url} by {what}", flush=True)
            served[name] = {k: v for k, v in model.items() if k not in ("host", "gatewayBaseUrl", "gatewayHost")} | {"baseUrl": base_url}
        yield {**outputs, "models": served}
