"""The local Kubernetes control plane, all on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (fake nodes that look like real ones), from the pinned toolchain, with a
kubectl of the server's version. State (PKI, etcd data, logs, PIDs, ports, kubeconfig) lives in one
directory; a second start with the processes alive reuses them.

    python -m localcp cluster start DIR | stop DIR | status DIR
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from localcp import certs
from localcp.nodes import NODES, node_manifest
from localcp.process import LocalProcess, free_port
from localcp.toolchain import bin_dir

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# Service ClusterIPs on loopback: kube-apiserver dials a webhook's or an aggregated API's ClusterIP
# (no aggregator routing), and an address outside 127/8 would leave the machine (here a transparent
# egress proxy answered for cert-manager-webhook.cert-manager.svc with its own certificate). On
# loopback the call is refused locally unless the harness serves it. Pod and node IPs cannot be
# loopback (EndpointSlice validation refuses 127/8: Services would never get endpoints, hostNetwork
# pods such as node-exporter carry the node IP); nothing dials them here.
SERVICE_CIDR = "127.96.0.0/16"
POD_CIDR = "10.244.0.1/16"
# For tiers where local processes dial pod IPs themselves (the endpoint picker scrapes and the
# inference gateway forwards to podIP:port, as in a cluster): pods get loopback addresses, and each
# real server binds its pod's. Services of such a cluster get no endpoints (see above).
LOOPBACK_POD_CIDR = "127.244.0.1/16"
NODE_IP = "10.245.0.1"


class ClusterError(RuntimeError):
    """The cluster did not start; the message names the component and holds its log tail."""


class LocalCluster:
    def __init__(self, state: Path, crd_dir: Path | None = None, *, platform_crds: bool = True, hpa_sync_period: str = "15s",
                 pod_cidr: str = POD_CIDR):
        """platform_crds: apply the platform charts' CRDs at start (a cluster that already has the
        platform). False for a bare cluster that the platform layer itself installs onto: CRDs have
        one owner, so the cluster must not pre-apply what the platform's charts apply.
        hpa_sync_period: how often kube-controller-manager's HPA controller reads metrics (its
        default is 15s; the autoscaling tier shortens it to keep its waits short)."""
        self.hpa_sync_period = hpa_sync_period
        self.pod_cidr = pod_cidr  # LOOPBACK_POD_CIDR when local processes must reach pods by IP
        self.state = state.resolve()
        self.kubeconfig = self.state / "kubeconfig"
        self.pki = self.state / "pki"
        self.platform_crds = platform_crds
        self._crd_dir = crd_dir
        self.bin_dir = bin_dir("kube")
        self.processes = {name: LocalProcess(name, self.state) for name in COMPONENTS}

    # ---- lifecycle -------------------------------------------------------------------------------
    def running(self) -> bool:
        return all(p.pid is not None for p in self.processes.values()) and self.kubeconfig.exists()

    def start(self, timeout: float = 120) -> LocalCluster:
        if self.running() and self._api_ready():
            print(f"cluster already up: KUBECONFIG={self.kubeconfig}", file=sys.stderr)
            return self
        self.stop()  # half-started leftovers of an earlier run
        crd_dir = self.crd_dir() if self.platform_crds else None
        self.state.mkdir(parents=True, exist_ok=True)
        try:
            self._start_processes(timeout)
            if crd_dir:
                self.apply_dir(crd_dir)
                self.wait_crds_established(timeout)
            self.apply([node_manifest(n) for n in NODES], field_manager="local-cluster")
            self.kubectl("wait", "--for", "condition=Ready", f"--timeout={int(timeout)}s", "node", "--all")
        except Exception as err:
            tails = "\n".join(f"== {p.log}\n{p.log_tail(15)}" for p in self.processes.values() if p.log.exists())
            self.stop()
            raise ClusterError(f"cluster start failed: {err}\n{tails}") from None
        print(f"cluster up: KUBECONFIG={self.kubeconfig}", file=sys.stderr)
        return self

    def crd_dir(self) -> Path:
        """The platform charts' CRDs (rendered from ../shared/charts), or $LLM_PLATFORM_CRD_DIR."""
        if self._crd_dir is None:
            from localcp.platform_crds import crds_dir

            self._crd_dir = crds_dir()
        if not self._crd_dir.is_dir():
            raise ClusterError(f"CRD directory {self._crd_dir} not found (LLM_PLATFORM_CRD_DIR)")
        return self._crd_dir

    def stop(self) -> list[str]:
        """Stop every component by PID (reverse start order); returns the names that were running."""
        return [name for name in reversed(COMPONENTS) if self.processes[name].stop()]

    # ---- pieces ----------------------------------------------------------------------------------
    def _pki(self) -> dict[str, certs.KeyPair]:
        renew = not certs.valid(self.pki / "ca.crt")
        if renew and (self.pki / "ca.crt").exists():
            print(f"local cluster certificates in {self.pki} expire within a day: made new ones", file=sys.stderr)
        authority = certs.ca(self.pki, "ca")
        pairs = {
            "ca": authority,
            "apiserver": certs.signed(self.pki, "apiserver", authority, "/CN=kube-apiserver",
                                      certs.LOCAL_SANS + ("DNS:kubernetes.default.svc",)),  # fmt: skip
            "admin": certs.signed(self.pki, "admin", authority, "/O=system:masters/CN=admin", client=True),
            "front-proxy-ca": certs.ca(self.pki, "front-proxy-ca"),
        }
        pairs["front-proxy-client"] = certs.signed(self.pki, "front-proxy-client", pairs["front-proxy-ca"],
                                                   "/CN=front-proxy-client", client=True)  # fmt: skip
        if not (self.pki / "sa.key").exists():
            subprocess.run(["openssl", "genrsa", "-out", "sa.key", "2048"], cwd=self.pki, check=True, capture_output=True)
            subprocess.run(["openssl", "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], cwd=self.pki, check=True, capture_output=True)
        return pairs

    def _start_processes(self, timeout: float) -> None:
        pki, b = self._pki(), self.bin_dir
        ports = {name: free_port() for name in ("etcd", "peer", "api")}
        (self.state / "ports.json").write_text(json.dumps(ports))
        etcd_url, peer_url = f"http://127.0.0.1:{ports['etcd']}", f"http://127.0.0.1:{ports['peer']}"
        self.processes["etcd"].start([str(b / "etcd"), "--data-dir", str(self.state / "etcd"), "--listen-client-urls", etcd_url,
                                      "--advertise-client-urls", etcd_url, "--listen-peer-urls", peer_url,
                                      "--initial-advertise-peer-urls", peer_url, "--initial-cluster", f"default={peer_url}",
                                      "--listen-metrics-urls", f"http://127.0.0.1:{free_port()}"])  # fmt: skip
        self.processes["kube-apiserver"].start([
            str(b / "kube-apiserver"), "--etcd-servers", etcd_url, "--bind-address", "127.0.0.1", "--secure-port", str(ports["api"]),
            "--tls-cert-file", str(pki["apiserver"].cert), "--tls-private-key-file", str(pki["apiserver"].key),
            "--client-ca-file", str(pki["ca"].cert), "--service-account-issuer", "https://kubernetes.default.svc",
            "--service-account-key-file", str(self.pki / "sa.pub"), "--service-account-signing-key-file", str(self.pki / "sa.key"),
            "--service-cluster-ip-range", SERVICE_CIDR, "--authorization-mode", "Node,RBAC", "--allow-privileged",
            # Aggregated APIs (KEDA's external metrics) authenticate the API server by this front proxy.
            "--requestheader-client-ca-file", str(pki["front-proxy-ca"].cert), "--requestheader-allowed-names", "front-proxy-client",
            "--requestheader-username-headers", "X-Remote-User", "--requestheader-group-headers", "X-Remote-Group",
            "--requestheader-extra-headers-prefix", "X-Remote-Extra-", "--proxy-client-cert-file", str(pki["front-proxy-client"].cert),
            "--proxy-client-key-file", str(pki["front-proxy-client"].key), "--enable-aggregator-routing=false",
        ])  # fmt: skip
        self._write_kubeconfig(ports["api"], pki)
        self.processes["kube-apiserver"].wait_ready(self._api_ready, timeout)
        kc = str(self.kubeconfig)
        self.processes["kube-controller-manager"].start([
            str(b / "kube-controller-manager"), "--kubeconfig", kc, "--leader-elect=false", "--bind-address", "127.0.0.1",
            "--secure-port", str(free_port()), "--service-account-private-key-file", str(self.pki / "sa.key"),
            "--root-ca-file", str(pki["ca"].cert), "--use-service-account-credentials=false", "--controllers", "*,-nodeipam",
            "--authentication-kubeconfig", kc, "--authorization-kubeconfig", kc,
            "--horizontal-pod-autoscaler-sync-period", self.hpa_sync_period,
        ])  # fmt: skip
        self.processes["kube-scheduler"].start([str(b / "kube-scheduler"), "--kubeconfig", kc, "--leader-elect=false",
                                                "--bind-address", "127.0.0.1", "--secure-port", str(free_port())])  # fmt: skip
        # kwok's upstream stages, then ours (localcp/kwok_stages: e.g. `helm test` pods complete).
        stage_files = sorted((b / "kwok-stages").glob("*.yaml")) + sorted((Path(__file__).parent / "kwok_stages").glob("*.yaml"))
        stages = [a for f in stage_files for a in ("--config", str(f))]
        self.processes["kwok"].start([
            str(b / "kwok"), "--kubeconfig", kc, *stages, "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake", "--cidr", self.pod_cidr, "--node-ip", NODE_IP,
            "--server-address", f"127.0.0.1:{free_port()}",
        ])  # fmt: skip

    def _write_kubeconfig(self, port: int, pki: dict[str, certs.KeyPair]) -> None:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "local",
            "clusters": [{"name": "local", "cluster": {"server": f"https://127.0.0.1:{port}", "certificate-authority": str(pki["ca"].cert)}}],
            "users": [{"name": "admin", "user": {"client-certificate": str(pki["admin"].cert), "client-key": str(pki["admin"].key)}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
        }  # fmt: skip
        self.kubeconfig.write_text(yaml.safe_dump(config))

    @property
    def server(self) -> str:
        return yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]

    def _api_ready(self) -> bool:
        pki = self.pki
        try:
            context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
            context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
            response = httpx.get(f"{self.server}/readyz", verify=context, timeout=2)
        except httpx.ConnectError as err:
            if "CERTIFICATE" in str(err).upper():
                raise ClusterError(f"TLS to the local API server failed ({err}); remove {self.pki} to make new certificates") from None
            return False
        except (httpx.HTTPError, OSError):
            return False
        return response.status_code == 200

    # ---- kubectl ---------------------------------------------------------------------------------
    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
        command = [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args]
        result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result

    def apply(self, objects: list[dict], field_manager: str = "llm-platform-tests") -> str:
        """Server-side apply (forcing conflicts: the harness owns what it installs). Each document is
        written as JSON (valid YAML with every string quoted): kubectl's YAML 1.1 decoder would read
        a bare `n` or `off` (a legal namespace or label value) as a boolean."""
        manifest = "\n---\n".join(json.dumps(o) for o in objects)
        return self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", field_manager, "-f", "-",
                            stdin=manifest).stdout  # fmt: skip

    def apply_dir(self, directory: Path, field_manager: str = "local-cluster") -> str:
        # Server-side: some CRDs are too large for client-side apply's last-applied annotation.
        return self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", field_manager, "-f", str(directory)).stdout

    def wait_crds_established(self, timeout: float, names: list[str] | None = None) -> None:
        """Poll until every CRD (or the named ones) is Established. `kubectl wait` fails instead of
        waiting on a CRD whose status has no conditions yet, right after it is created."""
        deadline = time.monotonic() + timeout
        while True:
            crds = [c for c in self.list("crd") if names is None or c["metadata"]["name"] in names]
            pending = [c["metadata"]["name"] for c in crds
                       if not any(x["type"] == "Established" and x["status"] == "True" for x in c.get("status", {}).get("conditions") or [])]  # fmt: skip
            if not pending and (names is None or len(crds) == len(names)):
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"CRDs not Established within {timeout:.0f}s: {', '.join(pending) or 'missing'}")
            time.sleep(0.5)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """One object as JSON, or None when the API server says NotFound."""
        ns = ["-n", namespace] if namespace else []
        result = self.kubectl("get", kind, name, *ns, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(f"kubectl get {kind} {name} failed:\n{result.stderr[-2000:]}")
        return json.loads(result.stdout)

    def provide_claims(self, namespace: str, objects: list[dict]) -> list[str]:
        """The PersistentVolumeClaims that `objects`' pods mount (pvc:// weights), as the operator
        provides them before deploying: each a claim statically bound to its own PersistentVolume
        (kube-controller-manager binds them), so the pods schedule. Returns the claim names."""
        claims = sorted({
            v["persistentVolumeClaim"]["claimName"] for o in objects
            for v in o.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", []) if "persistentVolumeClaim" in v
        })  # fmt: skip
        for claim in claims:
            volume = f"{namespace}-{claim}"
            self.apply([
                {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": volume},
                 "spec": {"capacity": {"storage": "100Gi"}, "accessModes": ["ReadOnlyMany"], "storageClassName": "",
                          "hostPath": {"path": f"/var/lib/llm-weights/{volume}"},
                          "claimRef": {"namespace": namespace, "name": claim}}},
                {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim, "namespace": namespace},
                 "spec": {"accessModes": ["ReadOnlyMany"], "storageClassName": "", "volumeName": volume,
                          "resources": {"requests": {"storage": "100Gi"}}}},
            ], field_manager="local-cluster")  # fmt: skip
        return claims

    def field_managers(self, kind: str, name: str, namespace: str | None = None) -> dict[str, list[dict]]:
        """Who owns which fields of an object (server-side apply managedFields), by manager."""
        ns = ["-n", namespace] if namespace else []
        obj = json.loads(self.kubectl("get", kind, name, *ns, "-o", "json", "--show-managed-fields").stdout)
        owners: dict[str, list[dict]] = {}
        for entry in obj["metadata"].get("managedFields", []):
            owners.setdefault(entry["manager"], []).append(entry.get("fieldsV1", {}))
        return owners

    def list(self, kind: str, namespace: str | None = None, selector: str | None = None) -> list[dict]:
        args = ["get", kind, "-o", "json"] + (["-n", namespace] if namespace else ["-A"]) + (["-l", selector] if selector else [])
        return json.loads(self.kubectl(*args).stdout)["items"]
