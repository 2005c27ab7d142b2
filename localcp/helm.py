"""The Helm CLI built by the toolchain (helm.sh/helm/v4), with its caches in a state directory:
`template` renders a chart from a repository exactly as Helm installs it; install/test/uninstall
act on the local control plane through its kubeconfig."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from localcp.toolchain import bin_dir

KUBE_VERSION = "1.35.4"  # the local cluster's version (tools/toolchain.pins), for .Capabilities


class _Loader(yaml.SafeLoader):
    """PyYAML reads a plain `=` (YAML 1.1 "value" type, seen in CRD enums) as a tag it cannot build."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc]


class HelmError(RuntimeError):
    """A helm command failed; the message has the command and Helm's own error."""


class Helm:
    def __init__(self, state: Path, kubeconfig: Path | None = None):
        self.binary = bin_dir("helm") / "helm"
        self.state = state
        self.kubeconfig = kubeconfig
        state.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
        for kind in ("CACHE", "CONFIG", "DATA"):
            env[f"HELM_{kind}_HOME"] = str(self.state / kind.lower())
        if self.kubeconfig:
            env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def run(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run([str(self.binary), *args], capture_output=True, text=True, env=self.env(), timeout=timeout)
        if result.returncode != 0:
            raise HelmError(f"helm {' '.join(args)} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
        return result.stdout

    def values_file(self, name: str, values: dict[str, Any]) -> Path:
        path = self.state / f"{name}.values.json"
        path.write_text(json.dumps(values))
        return path

    def template(
        self, release: str, chart: str, *, version: str, namespace: str, values: dict[str, Any],
        repository: str | None = None, include_crds: bool = True,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Every object the chart renders (CRDs from crds/ directories too), as Helm would install it."""
        args = ["template", release, chart, "--version", version, "--namespace", namespace,
                "--values", str(self.values_file(release, values)), "--kube-version", KUBE_VERSION]  # fmt: skip
        if repository:
            args += ["--repo", repository]
        if include_crds:
            args.append("--include-crds")
        return load_all(self.run(*args))
