"""`python -m localcp up [--stack local]`: the README's main job; `python -m localcp cluster
start|stop|status DIR`: the local control plane alone.

`up`:

  1. build or reuse the pinned toolchain (kube-apiserver, etcd, kwok, ..., Pulumi CLI + provider),
  2. start (or reuse) the local control plane in .cluster/,
  3. `pulumi up` the stack with the real engine (file backend in .pulumi-local/),
  4. print the stack outputs,
  5. serve a tiny GGUF under each llama.cpp model's served name with a real llama-server and run the
     smoke suite against it, with the model name and runtime taken from those outputs,
  6. say what is real, what is simulated, and how to go on.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from localcp.cluster import ClusterError, LocalCluster
from localcp.pulumi import PulumiError, PulumiWorkspace
from localcp.toolchain import REPO_ROOT, ToolchainError, bin_dir, pin

CLUSTER_DIR = REPO_ROOT / ".cluster"
WORKSPACE_DIR = REPO_ROOT / ".pulumi-local"


def smoke_from_outputs(outputs: dict) -> int:
    """Smoke-test every llama.cpp model of the outputs against a real local llama-server."""
    from smoke.local_server import llama_bin_dir, make_models, serve

    llama = llama_bin_dir()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        model_file = make_models(llama, Path(tmp))["tiny-q4"]
        for name, model in sorted(outputs.get("models", {}).items()):
            if model["runtime"] != "llamacpp":
                print(f"== smoke: {name}: skipped (vLLM needs a GPU; its pod on the kwok node is simulated)")
                continue
            with serve(llama, model_file, model["servedModelName"]) as server:
                print(f"== smoke: {name} ({model['servedModelName']}) at {server.base_url}", flush=True)
                command = [sys.executable, "-m", "pytest", "smoke", "-q", "-p", "no:cacheprovider", "--base-url",
                           server.base_url, "--model", model["servedModelName"], "--runtime", model["runtime"]]  # fmt: skip
                failures += subprocess.run(command, cwd=REPO_ROOT).returncode != 0
    return failures


def notes(stack: str, kubectl: Path, kubeconfig: Path, outputs: dict) -> str:
    namespace = outputs.get("namespace", "?")
    env = (f"PULUMI_HOME={WORKSPACE_DIR}/home PULUMI_BACKEND_URL=file://{WORKSPACE_DIR}/state "
           "PULUMI_CONFIG_PASSPHRASE=llm-platform-local PULUMI_IGNORE_AMBIENT_PLUGINS=true")
    return f"""
== the `{stack}` stack is up on the local control plane
Real:      kube-apiserver, etcd, controller-manager and scheduler (Kubernetes {pin('KUBERNETES_VERSION')}),
           the Pulumi engine and Kubernetes provider that applied the stack, the Helm chart render,
           and the llama-server the smoke suite just talked to.
Simulated: the nodes and pods. kwok marks pods Running on fake nodes; no container runs, so the
           in-cluster baseUrl in the outputs answers nothing. The smoke server has stopped.

Look at it (use this kubectl: it matches the server version; another one may not):
  {kubectl} --kubeconfig {kubeconfig} get all -n {namespace}
Drive Pulumi yourself (backend, passphrase, plugins and kubeconfig set for you):
  make pulumi ARGS="preview --diff"            # = .venv/bin/python -m localcp pulumi preview --diff --stack {stack}
  (by hand, from {WORKSPACE_DIR}/project: PATH={kubectl.parent}:$PATH {env} KUBECONFIG={kubeconfig} pulumi ...)
Keep a live OpenAI endpoint and call it:
  .venv/bin/python -m smoke.local_server --keep      # prints the URLs; Ctrl-C stops the servers
  curl -s http://127.0.0.1:PORT/v1/chat/completions -H 'content-type: application/json' \\
       -d '{{"model": "tiny-f16", "messages": [{{"role": "user", "content": "hi"}}]}}'
Stop and clean:
  make cluster-down      # stops the cluster's processes (keeps .cluster/ and the Pulumi state)
  make clean-local       # stops the cluster and removes .cluster/ and .pulumi-local/
"""


def up(stack: str) -> int:
    try:
        bins = bin_dir("kube", "pulumi", "helm")  # helm: the platform charts' CRDs the cluster starts with
        cluster = LocalCluster(CLUSTER_DIR).start()
        workspace = PulumiWorkspace(WORKSPACE_DIR, bins, cluster.kubeconfig)
        workspace.add_stack(stack)
        print(f"== pulumi up --stack {stack}", flush=True)
        # --refresh: the cluster may have been recreated since the last run (state would be stale).
        result = workspace.up(stack, "--refresh")
        print(result.stdout[-6000:])
        outputs = workspace.outputs(stack)
    except (ToolchainError, ClusterError, PulumiError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("== stack outputs\n" + json.dumps(outputs, indent=2))
    failures = smoke_from_outputs(outputs)
    print(notes(stack, bins / "kubectl", cluster.kubeconfig, outputs))
    return 1 if failures else 0


def pulumi(args: list[str]) -> int:
    """The Pulumi CLI against the local workspace and cluster that `up` made: its backend, secrets
    passphrase, plugins and kubeconfig set, so `python -m localcp pulumi preview --diff` is all a
    newcomer types. Runs in the workspace's project directory; output goes straight to the terminal."""
    try:
        bins = bin_dir("kube", "pulumi")
        target = LocalCluster(CLUSTER_DIR)
        if not target.running():
            print("error: the local cluster is not running; run `make local` first", file=sys.stderr)
            return 1
        workspace = PulumiWorkspace(WORKSPACE_DIR, bins, target.kubeconfig)
    except (ToolchainError, ClusterError, PulumiError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    stack = [] if any(a == "--stack" or a.startswith("--stack=") or a == "-s" for a in args) else ["--stack", "local"]
    return subprocess.run(["pulumi", *args, *stack], cwd=workspace.project, env=workspace.env).returncode


def cluster(action: str, state: Path, purge: bool) -> int:
    try:
        target = LocalCluster(state)
        if action == "start":
            target.start()
            print(target.kubeconfig)
        elif action == "stop":
            stopped = target.stop()
            print(f"stopped {', '.join(stopped)}" if stopped else f"nothing was running in {state}")
            if purge:
                shutil.rmtree(state, ignore_errors=True)
                print(f"removed {state}")
        else:
            print("running" if target.running() else "stopped")
            return 0 if target.running() else 1
    except (ToolchainError, ClusterError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcp", description=" ".join(__doc__.split("\n\n")[0].split()))
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("up", help="pulumi up a stack on the local control plane, then smoke-test it")
    run.add_argument("--stack", default="local")
    control = sub.add_parser("cluster", help="start, stop or check the local control plane in DIR")
    control.add_argument("action", choices=["start", "stop", "status"])
    control.add_argument("dir", type=Path, nargs="?", default=CLUSTER_DIR)
    control.add_argument("--purge", action="store_true", help="with stop: also remove DIR (certificates, etcd data, logs)")
    cli = sub.add_parser("pulumi", help="the Pulumi CLI on the local workspace and cluster (default --stack local)")
    cli.add_argument("args", nargs=argparse.REMAINDER, help="what to pass to pulumi, e.g. preview --diff")
    args = parser.parse_args(argv)
    if args.command == "pulumi":
        return pulumi(args.args)
    if args.command == "cluster":
        return cluster(args.action, args.dir, args.purge)
    return up(args.stack)


if __name__ == "__main__":
    raise SystemExit(main())
