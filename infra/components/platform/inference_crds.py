"""The CRDs routed models need: Gateway API (standard channel: Gateway, HTTPRoute, ...) and the
Gateway API Inference Extension's InferencePool, from their pinned releases' manifests (or the
stack's mirror of them). The gateway implementation itself is the cluster's."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s


class InferenceCrds(pulumi.ComponentResource):
    ready: list[pulumi.Resource]

    def __init__(self, name: str, manifests: list[str], opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm-platform:platform:InferenceCrds", name, None, opts)
        self.ready = [
            k8s.yaml.v2.ConfigFile(f"{name}-{i}", file=manifest, opts=pulumi.ResourceOptions(parent=self))
            for i, manifest in enumerate(manifests)
        ]
        self.register_outputs({"manifests": manifests})
