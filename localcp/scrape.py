"""Prometheus scrape jobs generated from a rendered PodMonitor the way prometheus-operator generates
them (pkg/prometheus/promcfg.go, generatePodMonitorConfig, v0.93): the job name, interval, path, the
keep rules on the selector's matchLabels and on the endpoint's port name, and the namespace /
container / pod / podTargetLabels / job / endpoint relabelings, in that order.

Only discovery differs. There is no kubelet and no pod network here: a live pod (a kwok stand-in)
that has a real server behind it becomes a static target on 127.0.0.1 carrying exactly the
`__meta_kubernetes_pod_*` labels that kubernetes_sd (role pod) gives that pod. So a PodMonitor whose
selector, port name or podTargetLabels do not fit our pods loses the target or its labels here as it
would in a cluster; the scrape config cannot drift from the chart because it is made from it."""

from __future__ import annotations

import re
from typing import Any

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def sanitize(name: str) -> str:
    """promcfg.go sanitizeLabelName: every character outside [a-zA-Z0-9_] becomes `_`."""
    return _INVALID.sub("_", name)


def pod_meta_labels(pod: dict[str, Any]) -> list[dict[str, str]]:
    """kubernetes_sd role pod: one label set per declared container port of the pod."""
    meta, spec = pod["metadata"], pod["spec"]
    common = {"__meta_kubernetes_namespace": meta["namespace"], "__meta_kubernetes_pod_name": meta["name"],
              "__meta_kubernetes_pod_phase": (pod.get("status") or {}).get("phase", "Pending")}  # fmt: skip
    for key, value in (meta.get("labels") or {}).items():
        common[f"__meta_kubernetes_pod_label_{sanitize(key)}"] = value
        common[f"__meta_kubernetes_pod_labelpresent_{sanitize(key)}"] = "true"
    sets = []
    for container in spec["containers"]:
        for port in container.get("ports") or []:
            sets.append({**common, "__meta_kubernetes_pod_container_name": container["name"],
                         "__meta_kubernetes_pod_container_port_name": port.get("name", ""),
                         "__meta_kubernetes_pod_container_port_number": str(port["containerPort"])})  # fmt: skip
    return sets


def _relabelings(monitor: dict[str, Any], endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    spec, meta = monitor["spec"], monitor["metadata"]
    rules: list[dict[str, Any]] = [{"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}]
    if endpoint.get("filterRunning", True):
        rules.append({"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"})
    for key in sorted((spec.get("selector") or {}).get("matchLabels") or {}):
        rules.append({"action": "keep", "regex": f"({spec['selector']['matchLabels'][key]});true",
                      "source_labels": [f"__meta_kubernetes_pod_label_{sanitize(key)}",
                                        f"__meta_kubernetes_pod_labelpresent_{sanitize(key)}"]})  # fmt: skip
    if (spec.get("selector") or {}).get("matchExpressions"):
        raise NotImplementedError("PodMonitor matchExpressions: the chart uses matchLabels only")
    if endpoint.get("port"):
        rules.append({"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": endpoint["port"]})
    rules += [{"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
              {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
              {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"}]  # fmt: skip
    for label in spec.get("podTargetLabels") or []:
        rules.append({"source_labels": [f"__meta_kubernetes_pod_label_{sanitize(label)}"], "target_label": sanitize(label),
                      "regex": "(.+)", "replacement": "${1}"})  # fmt: skip
    rules.append({"target_label": "job", "replacement": f"{meta['namespace']}/{meta['name']}"})
    if endpoint.get("port"):
        rules.append({"target_label": "endpoint", "replacement": endpoint["port"]})
    rules += [_snake(r) for r in endpoint.get("relabelings") or []]
    return rules


def _snake(rule: dict[str, Any]) -> dict[str, Any]:
    """A monitoring.coreos.com RelabelConfig (camelCase) as Prometheus config (snake_case)."""
    return {re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), k): v for k, v in rule.items()}


def scrape_jobs(monitor: dict[str, Any], pods: list[dict[str, Any]], address_of: dict[str, str],
                interval: str | None = None, bearer_token: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """One job per podMetricsEndpoint of MONITOR. `address_of` maps a pod name to the host:port of
    the real server standing behind that pod (pods without one get no target). `interval`
    overrides the endpoint's (tests poll faster); `bearer_token` is the Secret value an endpoint's
    `authorization` names (the operator reads it from the Secret)."""
    jobs = []
    for index, endpoint in enumerate(monitor["spec"]["podMetricsEndpoints"]):
        targets = [{"targets": [address_of[pod["metadata"]["name"]]], "labels": labels}
                   for pod in pods if pod["metadata"]["name"] in address_of for labels in pod_meta_labels(pod)]  # fmt: skip
        job: dict[str, Any] = {"job_name": f"podMonitor/{monitor['metadata']['namespace']}/{monitor['metadata']['name']}/{index}",
                               "static_configs": targets, "relabel_configs": _relabelings(monitor, endpoint)}  # fmt: skip
        if interval or endpoint.get("interval"):
            job["scrape_interval"] = interval or endpoint["interval"]
        if endpoint.get("path"):
            job["metrics_path"] = endpoint["path"]
        if endpoint.get("authorization"):
            if bearer_token is None:
                raise ValueError(f"{job['job_name']}: the endpoint needs the API key Secret's value (bearer_token)")
            job["authorization"] = {"type": endpoint["authorization"].get("type", "Bearer"), "credentials": bearer_token}
        if endpoint.get("metricRelabelings"):
            job["metric_relabel_configs"] = [_snake(r) for r in endpoint["metricRelabelings"]]
        jobs.append(job)
    return jobs
