"""A real Prometheus server (the release kube-prometheus-stack runs, built by tools/toolchain.sh) on
127.0.0.1: scrape jobs made from the chart's PodMonitor (localcp/scrape.py), the chart's
PrometheusRule groups as a rule file, the HTTP API for queries. Reloaded with SIGHUP when the
targets change (new pods), as prometheus-operator's config reloader does (POST /-/reload)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from localcp.process import LocalProcess, free_port, http_ok
from localcp.toolchain import bin_dir


class PrometheusServer:
    def __init__(self, state: Path, *, evaluation_interval: str = "2s"):
        self.state = state.resolve()
        self.process = LocalProcess("prometheus", self.state)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_file = self.state / "prometheus.yml"
        self.rules_file = self.state / "rules.yml"
        self.evaluation_interval = evaluation_interval
        self.scrape_configs: list[dict[str, Any]] = []

    # ---- configuration -------------------------------------------------------------------------
    def write_config(self, scrape_configs: list[dict[str, Any]] | None = None, rule_groups: list[dict[str, Any]] | None = None) -> None:
        if scrape_configs is not None:
            self.scrape_configs = scrape_configs
        if rule_groups is not None:
            self.rules_file.write_text(yaml.safe_dump({"groups": rule_groups}, sort_keys=False))
        config = {"global": {"scrape_interval": "2s", "evaluation_interval": self.evaluation_interval},
                  "scrape_configs": self.scrape_configs,
                  "rule_files": [str(self.rules_file)] if self.rules_file.exists() else []}  # fmt: skip
        self.state.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))

    def reload(self, scrape_configs: list[dict[str, Any]]) -> None:
        """New targets: rewrite the config and POST /-/reload, which answers only after the
        config and rule files are re-read (500 with the error when they are refused)."""
        self.write_config(scrape_configs)
        response = httpx.post(f"{self.url}/-/reload", timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"prometheus rejected {self.config_file}: {response.text.strip()}")

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> PrometheusServer:
        if not self.config_file.exists():
            self.write_config()
        binary = bin_dir("prometheus") / "prometheus"
        self.process.start_ready([str(binary), f"--config.file={self.config_file}", f"--storage.tsdb.path={self.state / 'data'}",
                                  f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=2h",
                                  "--web.enable-lifecycle"], self._ready, timeout)  # fmt: skip
        return self

    def stop(self) -> bool:
        return self.process.stop()

    def _ready(self) -> bool:
        return http_ok(f"{self.url}/-/ready")()

    # ---- HTTP API ------------------------------------------------------------------------------
    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise PromQLError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query; raises PromQLError when Prometheus rejects it."""
        return self.api("query", query=promql)["result"]

    def value(self, promql: str) -> float | None:
        """The single value of an instant query, None when it returns no series."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def active_targets(self) -> list[dict[str, Any]]:
        return self.api("targets", state="active")["activeTargets"]

    def rule_groups(self) -> list[dict[str, Any]]:
        return self.api("rules")["groups"]


class PromQLError(RuntimeError):
    """Prometheus refused a query (the message has its errorType and error)."""
