"""Platform: the upstream components in dependency order. Monitoring first (its CRDs carry the
ServiceMonitors others create), cert-manager before KServe (webhook certificates), Knative before
KServe when Serverless is used, KServe CRDs before the controller, KEDA last (removed first); the
model layer waits for all."""

from __future__ import annotations

import pulumi

from infra.components.platform.base import PlatformComponent, PlatformComponentArgs
from infra.components.platform.components import CertManager, GpuOperator, Keda, Knative, KServe, Monitoring
from infra.components.platform.inference_crds import InferenceCrds
from infra.config.platform import PlatformSettings
from infra.platform.releases import component_releases


class Platform(pulumi.ComponentResource):
    installed: list[str]
    """Components this stack installs, in install order."""
    ready: list[pulumi.Resource]
    """Everything the model layer must wait for."""

    def __init__(self, name: str, settings: PlatformSettings, opts: pulumi.ResourceOptions | None = None,
                 outlive_keda: list[pulumi.Resource] | None = None):  # fmt: skip
        """outlive_keda: resources (the models' namespace) that KEDA must be installed after and
        therefore removed before; see the KEDA line below."""
        super().__init__("llm-platform:platform:Platform", name, None, opts)
        self.components: dict[str, PlatformComponent] = {}

        def add(cls: type[PlatformComponent], key: str, after: list[str], extra: list[pulumi.Resource] | None = None) -> None:
            if not settings.installs(key):
                return
            depends_on = [r for dep in after if dep in self.components for r in self.components[dep].ready] + (extra or [])
            self.components[key] = cls(
                key.replace("_", "-"),
                PlatformComponentArgs(getattr(settings, key), component_releases(settings, key), settings.ready_timeout_seconds,
                                      settings.adopt_existing_crds, settings.provides("monitoring")),
                pulumi.ResourceOptions(parent=self, depends_on=depends_on),
            )

        add(Monitoring, "monitoring", [])
        add(CertManager, "cert_manager", ["monitoring"])
        add(GpuOperator, "gpu_operator", ["monitoring"])
        add(Knative, "knative", ["monitoring"])
        add(KServe, "kserve", ["monitoring", "cert_manager", "knative"])
        # KEDA last, after every other component and the models' namespace, so `pulumi destroy`
        # removes it first: its external-metrics APIService is unavailable once its server goes,
        # and kube-controller-manager then refuses to finish deleting any namespace
        # (NamespaceDeletionDiscoveryFailure) - Pulumi would wait on the first namespace forever.
        add(Keda, "keda", ["monitoring", "cert_manager", "gpu_operator", "knative", "kserve"], outlive_keda)
        self.installed = list(self.components)
        self.ready = [r for c in self.components.values() for r in c.ready]
        gateway = settings.inference_gateway
        if settings.enabled and gateway.enabled and gateway.install_crds:
            crds = InferenceCrds("inference-crds", gateway.crd_manifests, pulumi.ResourceOptions(parent=self))
            self.installed.append("inference_crds")
            self.ready += crds.ready
        self.register_outputs({"installed": self.installed})
