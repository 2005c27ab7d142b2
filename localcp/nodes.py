"""The fake nodes kwok manages. They carry what real nodes carry, so upstream charts' selectors and
our own match them as they would in a cloud: the well-known labels (kubernetes.io/os, arch,
hostname, node.kubernetes.io/instance-type, topology.kubernetes.io/region and zone), GPU Feature
Discovery's labels on GPU nodes, nvidia.com/gpu capacity, and the GPU taint managed node pools set."""

from __future__ import annotations

from dataclasses import dataclass

from localcp.toolchain import pin


@dataclass(frozen=True)
class FakeNode:
    name: str
    instance_type: str
    zone: str
    cpu: int
    memory_gib: int
    gpus: int = 0
    gpu_product: str = ""
    gpu_memory_mib: int = 0


# A GKE-like pool: a CPU node, 8x L4 (g2-standard-96) and 4x H100 80GB (a3-highgpu-4g) - enough for
# every committed and test stack's models at once, including prod's two-replica H100 model and the
# compare stack's two L4 models.
NODES = (
    FakeNode("cpu-0", "n2-standard-32", "us-central1-a", cpu=32, memory_gib=128),
    FakeNode("gpu-0", "g2-standard-96", "us-central1-a", cpu=96, memory_gib=384, gpus=8, gpu_product="NVIDIA-L4", gpu_memory_mib=23034),
    FakeNode("gpu-1", "a3-highgpu-4g", "us-central1-b", cpu=104, memory_gib=936, gpus=4, gpu_product="NVIDIA-H100-80GB-HBM3",
             gpu_memory_mib=81559),
)  # fmt: skip


def node_manifest(node: FakeNode) -> dict:
    labels = {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": node.name,
        "node.kubernetes.io/instance-type": node.instance_type,
        "topology.kubernetes.io/region": node.zone.rsplit("-", 1)[0],
        "topology.kubernetes.io/zone": node.zone,
        "type": "kwok",
    }
    capacity = {"cpu": str(node.cpu), "memory": f"{node.memory_gib}Gi", "pods": "110", "ephemeral-storage": "500Gi"}
    taints = []
    if node.gpus:
        labels |= {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": node.gpu_product,
                   "nvidia.com/gpu.count": str(node.gpus), "nvidia.com/gpu.memory": str(node.gpu_memory_mib)}  # fmt: skip
        capacity["nvidia.com/gpu"] = str(node.gpus)
        taints = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node.name, "labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}},
        "spec": {"taints": taints},
        "status": {"allocatable": capacity, "capacity": capacity,
                   "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": pin("KUBERNETES_VERSION"),
                                "containerRuntimeVersion": "containerd://2.1.4"}},
    }  # fmt: skip
