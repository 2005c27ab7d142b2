"""Weights cached on the GPU nodes (KServe v0.20 LocalModelCache): platform-level node groups and
the per-model switch.

KServe's local-model controller (cmd/localmodel) has each node group's nodes download a cached
model once (its node agent runs a storage-initializer Job per node into the group's local
volume); KServe's InferenceService defaulter (inference_service_defaults.go setLocalModelLabel)
labels every InferenceService whose storageUri equals, or is under, a cache's sourceModelUri, and
its pod mutator then mounts the group's volume at /mnt/models instead of adding the download
init container. KServe itself checks neither sizes nor node groups: these models do, before
anything is created.
"""

from __future__ import annotations

from pydantic import Field

from infra.config.base import Strict
from infra.config.types import DNS1035, Quantity

# URI schemes the cache's download Job (KServe's storage initializer) fetches; pvc:// is already a volume.
CACHEABLE_SCHEMES = ("hf", "s3")
# KServe v0.20's node agent DaemonSet runs only on nodes with this label: its chart's base manifest
# hard-codes the selector (kserve-localmodel-resources files/resources.yaml) and values can add to
# it but not remove it (found rendering the chart). A group's nodes must carry it.
AGENT_NODE_LABEL = ("kserve/localmodel", "worker")
# kserve-resources' default localModel.jobNamespace.
DEFAULT_JOB_NAMESPACE = "kserve-localmodel-jobs"


class NodeGroup(Strict):
    """GPU nodes that keep a local copy of each cached model (one LocalModelNodeGroup)."""

    capacity: Quantity
    """Local disk per node for cached weights (the group's PersistentVolume size); the cached
    models of this group must fit in it together."""
    node_selector: dict[str, str] = Field(min_length=1, examples=[{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}])
    """Labels of the group's nodes (the volume's node affinity): cached models also run only there.
    The nodes must also be labelled kserve/localmodel=worker, where KServe's node agent runs."""
    local_path: str = Field(default="/models", pattern=r"^/\S*$")
    """Host directory of the cache. KServe v0.20's node agent DaemonSet mounts host /models at
    /mnt/models (kserve-localmodel-resources files/resources.yaml), so keep /models unless the agent
    is patched."""
    untainted: bool = False
    """The group's nodes carry no NoSchedule/NoExecute taint. KServe v0.20's download Jobs tolerate
    none (localmodelnode controller.go launchJob), so on tainted nodes (most GPU pools:
    nvidia.com/gpu) they never run and the cache never fills; until this is true the plan warns."""
    storage_class: str = Field(default="local-storage", pattern=DNS1035)

    @property
    def nodes(self) -> dict[str, str]:
        """The labels that select the group's nodes: its selector and the agent's label."""
        return {**self.node_selector, AGENT_NODE_LABEL[0]: AGENT_NODE_LABEL[1]}
    """StorageClass name on the group's PersistentVolume and claims (a no-provisioner local class)."""


class LocalModelSettings(Strict):
    """KServe's local model cache (platform.kserve.localModel)."""

    enabled: bool = False
    """Install KServe's local-model controller and node agent and turn on the InferenceService
    defaulter's cache lookup (inferenceservice-config localModel.enabled)."""
    job_namespace: str = Field(default=DEFAULT_JOB_NAMESPACE, pattern=DNS1035)
    """Where the download Jobs and their claims live (created by the platform layer)."""
    node_groups: dict[str, NodeGroup] = Field(default_factory=dict)
    """Node groups by name (DNS-1035): models name one in cache.nodeGroup."""

    def group_of(self, cache: ModelCache) -> str:
        """The node group a cache uses: the one it names, else the only one there is (the stack
        config refuses an unnamed group when there are several)."""
        return cache.node_group or next(iter(self.node_groups))


class ModelCache(Strict):
    """Per model: keep the weights on the node group's local disk (KServe LocalModelCache)."""

    enabled: bool = False
    """A new replica mounts the node's copy instead of downloading the checkpoint first."""
    node_group: str | None = Field(default=None, pattern=DNS1035)
    """Which platform.kserve.localModel.nodeGroups entry holds it; unset: the only one there is."""
    model_size: Quantity | None = None
    """Size of the checkpoint (LocalModelCache modelSize). Unset: the Pulumi program derives it
    from the weights (planner)."""
