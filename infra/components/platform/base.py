"""Base of every platform component: its namespace, its upstream chart(s), registered outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.platform.chart import namespace, upstream_chart
from infra.platform_config import Component


@dataclass
class PlatformComponentArgs:
    settings: Component
    image_registry: str | None = None
    """Air-gap mirror for the component's images (see each component's registry_values)."""
    monitoring: bool = False
    """kube-prometheus-stack (or its CRDs) is there: the component may create ServiceMonitors."""


class PlatformComponent(pulumi.ComponentResource):
    type_name = "llm-platform:platform:Component"
    chart_names: tuple[str, ...] = ()
    namespace_labels: dict[str, str] | None = None

    def __init__(self, name: str, args: PlatformComponentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.type_name, name, None, opts)
        self.args = args
        self.namespace = namespace(f"{name}-namespace", args.settings.namespace, self, self.namespace_labels)
        self.charts: list[k8s.helm.v4.Chart] = []
        previous: list[pulumi.Resource] = [self.namespace]
        for chart_name in self.chart_names:  # charts of one component install in order (CRDs first)
            chart = upstream_chart(
                f"{name}-{chart_name}",
                chart_name,
                args.settings,
                self.namespace.metadata.name,
                self.values(chart_name),
                pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            self.charts.append(chart)
            previous = [chart]
        self.extra = self.extra_resources(name, previous)
        self.register_outputs({"namespace": self.namespace.metadata.name})

    @property
    def ready(self) -> list[pulumi.Resource]:
        """What dependents wait for."""
        return [*self.charts, *self.extra]

    def values(self, chart_name: str) -> dict[str, Any]:
        values = self.chart_values(chart_name)
        if self.args.image_registry:
            from infra.components.platform.chart import deep_merge

            values = deep_merge(values, self.registry_values(chart_name, self.args.image_registry))
        return values

    def chart_values(self, chart_name: str) -> dict[str, Any]:
        return {}

    def registry_values(self, chart_name: str, registry: str) -> dict[str, Any]:
        return {}

    def extra_resources(self, name: str, depends_on: list[pulumi.Resource]) -> list[pulumi.Resource]:
        return []
