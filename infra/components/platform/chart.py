"""One upstream chart as a Pulumi helm.v4.Chart: pinned version, repository (or its air-gap
override), our values deep-merged with the stack's `values` escape hatch."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.platform_config import Component
from infra.versions import PLATFORM_CHARTS


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def upstream_chart(
    resource_name: str,
    pin_name: str,
    component: Component,
    namespace: pulumi.Input[str],
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v4.Chart:
    pin = PLATFORM_CHARTS[pin_name]
    repository = (component.repository or pin.repository).rstrip("/")
    if repository.startswith("oci://"):
        chart, repository_opts = f"{repository}/{pin.chart}", None
    else:
        chart, repository_opts = pin.chart, k8s.helm.v4.RepositoryOptsArgs(repo=repository)
    return k8s.helm.v4.Chart(
        resource_name,
        k8s.helm.v4.ChartArgs(
            chart=chart,
            version=pin.version,
            repository_opts=repository_opts,
            namespace=namespace,
            values=deep_merge(values, component.values),
        ),
        opts=opts,
    )


def namespace(resource_name: str, name: str, parent: pulumi.Resource, labels: dict[str, str] | None = None) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=labels),
        opts=pulumi.ResourceOptions(parent=parent),
    )
