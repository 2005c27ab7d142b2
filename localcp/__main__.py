"""`python -m localcp up [--stack local]`: the README's main job; `python -m localcp cluster
start|stop|status DIR`: the local control plane alone.

`up`:

  1. build or reuse the pinned toolchain (kube-apiserver, etcd, kwok, ..., Pulumi CLI + provider,
     the KServe controller),
  2. start (or reuse) the local control plane in .cluster/, and the KServe controller beside it,
  3. `pulumi up` the stack with the real engine (file backend in .pulumi-local/),
  4. print the stack outputs,
  5. serve each model under its served name with a real local server standing in for its pod
     (llama-server; vLLM's CPU build with the deployed ServingRuntime's args: localcp.stand_ins) and
     run the smoke suite once over them, its in-cluster checks against the local cluster,
  6. say what is real, what is simulated, and how to go on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from localcp.cluster import ClusterError, LocalCluster
from localcp.kserve import KServeController
from localcp.process import ProcessError
from localcp.pulumi import PulumiError, PulumiWorkspace
from localcp.toolchain import REPO_ROOT, ToolchainError, bin_dir, pin

CLUSTER_DIR = REPO_ROOT / ".cluster"
WORKSPACE_DIR = REPO_ROOT / ".pulumi-local"
KSERVE_STATE = "kserve"  # the KServe manager's state, inside the cluster's directory
KSERVE_RUNTIMES = {"vllm", "sglang"}  # served through a KServe InferenceService


def smoke_from_outputs(outputs: dict, cluster: LocalCluster, kubectl_dir: Path) -> int:
    """Serve every model of the outputs with a real local stand-in (localcp.stand_ins) and run the
    smoke suite once over all of them: the OpenAI checks against the stand-ins, the in-cluster
    checks against the local cluster (kubectl of the server's version, its kubeconfig)."""
    from localcp.stand_ins import stand_ins

    with tempfile.TemporaryDirectory() as tmp, stand_ins(outputs, cluster, Path(tmp)) as served:
        if not served["models"]:
            print("== smoke: no model has a local stand-in", file=sys.stderr)
            return 1
        path = Path(tmp) / "outputs.json"
        path.write_text(json.dumps(served))
        _wait_inference_services(cluster, outputs)
        print(f"== smoke: {', '.join(sorted(served['models']))}", flush=True)
        env = {**os.environ, "PATH": f"{kubectl_dir}{os.pathsep}{os.environ.get('PATH', '')}", "KUBECONFIG": str(cluster.kubeconfig)}
        command = [sys.executable, "-m", "pytest", "smoke", "-q", "-rA", "-p", "no:cacheprovider", "--stack-outputs", str(path)]
        return subprocess.run(command, cwd=REPO_ROOT, env=env).returncode


def _wait_inference_services(cluster: LocalCluster, outputs: dict, timeout: int = 120) -> None:
    """KServe reconciles after `pulumi up` returns (the provider does not await custom resources):
    give its InferenceServices a bounded wait; the smoke suite reports one that stays not Ready."""
    if any(m["runtime"] in KSERVE_RUNTIMES for m in outputs["models"].values()):
        result = cluster.kubectl("wait", "--for=condition=Ready", f"--timeout={timeout}s", "inferenceservice", "--all",
                                 "-n", outputs["namespace"], check=False)  # fmt: skip
        print(result.stdout.strip() or result.stderr.strip(), flush=True)


def notes(stack: str, kubectl: Path, kubeconfig: Path, outputs: dict) -> str:
    namespace = outputs.get("namespace", "?")
    env = (f"PULUMI_HOME={WORKSPACE_DIR}/home PULUMI_BACKEND_URL=file://{WORKSPACE_DIR}/state "
           "PULUMI_CONFIG_PASSPHRASE=llm-platform-local PULUMI_IGNORE_AMBIENT_PLUGINS=true")
    return f"""
== the `{stack}` stack is up on the local control plane
Real:      kube-apiserver, etcd, controller-manager and scheduler (Kubernetes {pin('KUBERNETES_VERSION')}),
           the Pulumi engine and Kubernetes provider that applied the stack, the Helm chart render,
           the KServe controller that made the vLLM model's predictor, and the servers the smoke
           suite just talked to: llama-server, and vLLM's CPU build started with the args of the
           deployed ServingRuntime (each serving a tiny random model under the model's name).
Simulated: the nodes and pods. kwok marks pods Running on fake nodes; no container runs, so the
           in-cluster baseUrl in the outputs answers nothing, and the smoke checks that exec into
           a pod are skipped as not applicable. The smoke servers have stopped.

Look at it (this kubectl matches the server version; another one may not):
  make kubectl ARGS="get all -n {namespace}"    # = {kubectl} --kubeconfig {kubeconfig} get all -n {namespace}
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


def up(stack: str, state_root: Path = REPO_ROOT) -> int:
    cluster_dir, workspace_dir = state_root / CLUSTER_DIR.name, state_root / WORKSPACE_DIR.name
    try:
        # kube: the control plane; pulumi + helm: the engine and the platform charts' CRDs the
        # cluster starts with; kserve: the controller that turns InferenceServices into pods.
        bins = bin_dir("kube", "pulumi", "helm", "kserve")
        cluster = LocalCluster(cluster_dir).start()
        start_kserve(cluster)
        workspace = PulumiWorkspace(workspace_dir, bins, cluster.kubeconfig)
        workspace.add_stack(stack)
        print(f"== pulumi up --stack {stack}", flush=True)
        # --refresh: the cluster may have been recreated since the last run (state would be stale).
        result = workspace.up(stack, "--refresh")
        print(result.stdout[-6000:])
        outputs = workspace.outputs(stack)
    except (ToolchainError, ClusterError, PulumiError, ProcessError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("== stack outputs\n" + json.dumps(outputs, indent=2))
    try:
        failures = smoke_from_outputs(outputs, cluster, bins)
    except (ProcessError, LookupError, RuntimeError) as err:
        print(f"error: a stand-in server did not start: {err}", file=sys.stderr)
        failures = 1
    print(notes(stack, bins / "kubectl", cluster.kubeconfig, outputs))
    return 1 if failures else 0


def start_kserve(cluster: LocalCluster) -> KServeController:
    """The real KServe controller manager beside the cluster (state in its directory, stopped with
    it). One left by an earlier run is replaced: its webhook port and certificate are new."""
    manager = KServeController(cluster, cluster.state / KSERVE_STATE)
    manager.stop()
    return manager.start()


def _running(target: LocalCluster) -> bool:
    """The commands that act on `make local`'s cluster say what to run first when it is down."""
    if not target.running():
        print("error: the local cluster is not running; run `make local` first", file=sys.stderr)
    return target.running()


def pulumi(args: list[str]) -> int:
    """The Pulumi CLI against the local workspace and cluster that `up` made: its backend, secrets
    passphrase, plugins and kubeconfig set, so `python -m localcp pulumi preview --diff` is all a
    newcomer types. Runs in the workspace's project directory; output goes straight to the terminal."""
    try:
        bins = bin_dir("kube", "pulumi")
        target = LocalCluster(CLUSTER_DIR)
        if not _running(target):
            return 1
        workspace = PulumiWorkspace(WORKSPACE_DIR, bins, target.kubeconfig)
    except (ToolchainError, ClusterError, PulumiError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    stack = [] if any(a == "--stack" or a.startswith("--stack=") or a == "-s" for a in args) else ["--stack", "local"]
    return subprocess.run(["pulumi", *args, *stack], cwd=workspace.project, env=workspace.env).returncode


def kubectl(args: list[str]) -> int:
    """kubectl of the server's version on the local cluster: `python -m localcp kubectl get pods -A`."""
    try:
        target = LocalCluster(CLUSTER_DIR)
        if not _running(target):
            return 1
        return subprocess.run([str(target.bin_dir / "kubectl"), "--kubeconfig", str(target.kubeconfig), *args]).returncode
    except (ToolchainError, ClusterError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def cluster(action: str, state: Path, purge: bool) -> int:
    try:
        target = LocalCluster(state)
        if action == "start":
            target.start()
            print(target.kubeconfig)
        elif action == "stop":
            stopped = ["kserve-manager"] if KServeController(target, state / KSERVE_STATE).process.stop() else []
            stopped += target.stop()
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
    run.add_argument("--state-dir", type=Path, default=REPO_ROOT,
                     help=f"where {CLUSTER_DIR.name}/ and {WORKSPACE_DIR.name}/ live (default: the repository)")
    control = sub.add_parser("cluster", help="start, stop or check the local control plane in DIR")
    control.add_argument("action", choices=["start", "stop", "status"])
    control.add_argument("dir", type=Path, nargs="?", default=CLUSTER_DIR)
    control.add_argument("--purge", action="store_true", help="with stop: also remove DIR (certificates, etcd data, logs)")
    cli = sub.add_parser("pulumi", help="the Pulumi CLI on the local workspace and cluster (default --stack local)")
    cli.add_argument("args", nargs=argparse.REMAINDER, help="what to pass to pulumi, e.g. preview --diff")
    kube = sub.add_parser("kubectl", help="kubectl of the server's version on the local cluster")
    kube.add_argument("args", nargs=argparse.REMAINDER, help="what to pass to kubectl, e.g. get pods -A")
    args = parser.parse_args(argv)
    if args.command == "kubectl":
        return kubectl(args.args)
    if args.command == "pulumi":
        return pulumi(args.args)
    if args.command == "cluster":
        return cluster(args.action, args.dir, args.purge)
    return up(args.stack, args.state_dir.resolve())


if __name__ == "__main__":
    raise SystemExit(main())
