"""Base of every platform component: its namespace, its upstream chart release(s) in order,
registered outputs. Which charts and values: infra/platform/releases.py (shared with the render tier)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.components.platform.chart import namespace, upstream_chart
from infra.config.platform import Component
from infra.platform.releases import Release


@dataclass
class PlatformComponentArgs:
    settings: Component
    releases: list[Release]
    """The component's charts in install order (CRD charts first), values decided."""
    ready_timeout_seconds: int = 600
    adopt_existing_crds: bool = False
    monitored: bool = False
    """The platform has Prometheus (prometheus-operator CRDs): the component adds its scrape objects."""


class PlatformComponent(pulumi.ComponentResource):
    type_name = "llm-platform:platform:Component"
    namespace_labels: dict[str, str] | None = None

    def __init__(self, name: str, args: PlatformComponentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.type_name, name, None, opts)
        self.args = args
        self.namespace = namespace(f"{name}-namespace", args.settings.namespace, self, self.namespace_labels)
        self.charts: list[k8s.helm.v4.Chart] = []
        previous: list[pulumi.Resource] = [self.namespace]
        for release in args.releases:  # charts of one component install in order (CRDs first)
            chart = upstream_chart(
                f"{name}-{release.pin_name}", release, self.namespace.metadata.name, args.ready_timeout_seconds,
                pulumi.ResourceOptions(parent=self, depends_on=previous), args.adopt_existing_crds,
            )  # fmt: skip
            self.charts.append(chart)
            previous = [chart]
        self.extra = self.extra_resources(name, previous)
        self.register_outputs({"namespace": self.namespace.metadata.name, "releases": [r.name for r in args.releases]})

    @property
    def ready(self) -> list[pulumi.Resource]:
        """What dependents wait for."""
        return [*self.charts, *self.extra]

    def extra_resources(self, name: str, depends_on: list[pulumi.Resource]) -> list[pulumi.Resource]:
        return []
