"""The upstream components, each a small PlatformComponent: a type for `pulumi preview`, the
namespace labels it needs, and resources beyond its charts. Charts and values come from
infra/platform/releases.py."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.components.platform.base import PlatformComponent
from infra.config.platform import ACTIVATOR_POD_MONITOR_SPEC, KNATIVE_FEATURES, KNATIVE_OBSERVABILITY
from infra.config.local_model import NodeGroup
from infra.config.platform import Knative as KnativeSettings
from infra.versions import KNATIVE_SERVING_VERSION


class Monitoring(PlatformComponent):
    type_name = "llm-platform:platform:Monitoring"


class CertManager(PlatformComponent):
    type_name = "llm-platform:platform:CertManager"


class GpuOperator(PlatformComponent):
    """NVIDIA GPU Operator; its daemonsets need privileged pods, so the namespace allows them."""

    type_name = "llm-platform:platform:GpuOperator"
    namespace_labels = {"pod-security.kubernetes.io/enforce": "privileged"}


class Knative(PlatformComponent):
    """The Knative Operator chart plus a KnativeServing resource with the chosen networking layer."""

    type_name = "llm-platform:platform:Knative"

    def extra_resources(self, name: str, depends_on: list[pulumi.Resource]) -> list[pulumi.Resource]:
        s: KnativeSettings = self.args.settings  # type: ignore[assignment]
        serving_ns = k8s.core.v1.Namespace(
            f"{name}-serving-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=s.serving_namespace),
            opts=pulumi.ResourceOptions(parent=self),
        )
        serving = k8s.apiextensions.CustomResource(
            f"{name}-serving",
            api_version="operator.knative.dev/v1beta1",
            kind="KnativeServing",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="knative-serving", namespace=serving_ns.metadata.name),
            spec={
                "version": KNATIVE_SERVING_VERSION,
                "ingress": {s.networking: {"enabled": True}},
                "config": {"network": {"ingress-class": f"{s.networking}.ingress.networking.knative.dev"},
                           "features": KNATIVE_FEATURES, "observability": KNATIVE_OBSERVABILITY},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        if not self.args.monitored:
            return [serving]
        return [serving, activator_pod_monitor(f"{name}-activator-metrics", s.serving_namespace, self, serving)]


def activator_pod_monitor(name: str, namespace: str, parent: pulumi.Resource, after: pulumi.Resource) -> pulumi.Resource:
    """Prometheus scrapes the activator, whose kn_revision_request_queued series the models'
    LLMScaleFromZeroStuck alert reads (requests held while a revision has no ready pod)."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version="monitoring.coreos.com/v1",
        kind="PodMonitor",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="knative-activator", namespace=namespace),
        spec=ACTIVATOR_POD_MONITOR_SPEC,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[after]),
    )


class KServe(PlatformComponent):
    """KServe CRDs, then the controller, with the stack's default deployment mode; with the local
    model cache, its charts, the download Jobs' namespace and one LocalModelNodeGroup per group."""

    type_name = "llm-platform:platform:KServe"

    def extra_resources(self, name: str, depends_on: list[pulumi.Resource]) -> list[pulumi.Resource]:
        local = self.args.settings.local_model  # type: ignore[attr-defined]
        if not local.enabled:
            return []
        jobs = k8s.core.v1.Namespace(f"{name}-localmodel-jobs", metadata=k8s.meta.v1.ObjectMetaArgs(name=local.job_namespace),
                                     opts=pulumi.ResourceOptions(parent=self))  # fmt: skip
        groups = [
            k8s.apiextensions.CustomResource(
                f"{name}-nodegroup-{group}", api_version="serving.kserve.io/v1alpha1", kind="LocalModelNodeGroup",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=group), spec=node_group_spec(settings),
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
            )
            for group, settings in sorted(local.node_groups.items())
        ]  # fmt: skip
        return [jobs, *groups]


class Keda(PlatformComponent):
    type_name = "llm-platform:platform:Keda"


def node_group_spec(group: NodeGroup) -> dict:
    """LocalModelNodeGroup spec (KServe v0.20 local_model_node_group_types.go): the group's nodes are
    the local PersistentVolume's node affinity (KServe's CheckNodeAffinity matches nodes against it;
    without it no node belongs), its size the group's storage limit."""
    affinity = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": k, "operator": "In", "values": [v]} for k, v in sorted(group.nodes.items())]}]}}  # fmt: skip
    return {
        "storageLimit": group.capacity,
        "persistentVolumeSpec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": group.capacity},
                                 "local": {"path": group.local_path}, "storageClassName": group.storage_class,
                                 "persistentVolumeReclaimPolicy": "Delete", "volumeMode": "Filesystem", "nodeAffinity": affinity},
        "persistentVolumeClaimSpec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": group.capacity}},
                                      "storageClassName": group.storage_class, "volumeMode": "Filesystem"},
    }  # fmt: skip
