"""cert-manager's real admission webhook (its own server and admission plugins, built by
tools/toolchain.sh from the pinned release) as a local process on 127.0.0.1 with a harness
certificate. With a WebhookRouter, the cert-manager chart's webhook configurations point at it, so
every Certificate and Issuer a chart creates is validated by cert-manager's code. The controller and
cainjector stay kwok stand-ins: nothing issues certificates here."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from localcp.certs import serving_cert
from localcp.cluster import LocalCluster
from localcp.process import LocalProcess, free_port
from localcp.toolchain import bin_dir
from localcp.webhooks import WebhookRoute

# The Service the cert-manager chart registers its webhooks against (templates/webhook-service.yaml).
NAMESPACE, SERVICE = "cert-manager", "cert-manager-webhook"


class CertManagerWebhook:
    def __init__(self, cluster: LocalCluster, state: Path, namespace: str = NAMESPACE):
        self.cluster, self.state, self.namespace = cluster, state.resolve(), namespace
        self.process = LocalProcess("cert-manager-webhook", self.state)
        self.ports = {"secure": free_port(), "healthz": free_port()}

    def start(self, timeout: float = 60) -> CertManagerWebhook:
        self.authority, pair = serving_cert(self.state / "certs", "cert-manager-webhook")
        self.process.start_ready([
            str(bin_dir("certmanager") / "cert-manager-webhook"), "--kubeconfig", str(self.cluster.kubeconfig),
            "--secure-port", str(self.ports["secure"]), "--healthz-port", str(self.ports["healthz"]),
            "--tls-cert-file", str(pair.cert), "--tls-private-key-file", str(pair.key),
        ], self._healthy, timeout)  # fmt: skip
        return self

    def _healthy(self) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['healthz']}/healthz", timeout=2) as response:
            return response.status == 200

    def route(self) -> WebhookRoute:
        return WebhookRoute(self.namespace, SERVICE, f"https://127.0.0.1:{self.ports['secure']}", self.authority.pem_b64)

    def stop(self) -> None:
        self.process.stop()
