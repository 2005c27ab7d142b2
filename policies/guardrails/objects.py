"""A read-only view of one Kubernetes object that tolerates missing fields and, during a Pulumi
preview, unknown values (anything not of the expected type reads as absent)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

VLLM_KINDS = {"InferenceService", "ServingRuntime"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "Pod"}


def dig(value: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and len(value) > key else None
        else:
            value = value.get(key) if isinstance(value, dict) else None
    return value


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Obj:
    raw: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.raw.get("kind", ""))

    @property
    def name(self) -> str:
        return str(dig(self.raw, "metadata", "name") or "?")

    @property
    def namespace(self) -> str:
        return str(dig(self.raw, "metadata", "namespace") or "-")

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def labels(self) -> dict[str, str]:
        return as_dict(dig(self.raw, "metadata", "labels"))

    @property
    def spec(self) -> dict[str, Any]:
        return as_dict(self.raw.get("spec"))

    def pod_spec(self) -> dict[str, Any] | None:
        """The pod spec this object runs (KServe's predictor is a pod spec too)."""
        if self.kind == "Pod":
            return self.spec
        if self.kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            return as_dict(dig(self.spec, "template", "spec"))
        if self.kind == "InferenceService":
            return as_dict(self.spec.get("predictor"))
        return None

    def pod_labels(self) -> dict[str, str]:
        if self.kind == "InferenceService":
            return as_dict(dig(self.spec, "predictor", "labels"))
        return as_dict(dig(self.spec, "template", "metadata", "labels")) or self.labels

    def containers(self, init: bool = False) -> Iterator[dict[str, Any]]:
        if self.kind == "ServingRuntime":
            yield from (c for c in as_list(self.spec.get("containers")) if isinstance(c, dict))
            return
        if self.kind == "InferenceService":
            model = as_dict(dig(self.spec, "predictor", "model"))
            if model:
                yield model
        pod = self.pod_spec() or {}
        keys = ("containers", "initContainers") if init else ("containers",)
        for key in keys:
            yield from (c for c in as_list(pod.get(key)) if isinstance(c, dict))

    @property
    def is_model_server(self) -> bool:
        """A vLLM runtime/InferenceService, or a workload labelled as one of our model servers."""
        return self.kind in VLLM_KINDS or (
            self.kind in WORKLOAD_KINDS and self.labels.get("app.kubernetes.io/component") == "model-server"
        )

    @property
    def runtime(self) -> str | None:
        if self.kind in VLLM_KINDS:
            return "vllm"
        return self.labels.get("llm-serving/runtime")

    @property
    def knative(self) -> bool:
        return dig(self.raw, "metadata", "annotations", "serving.kserve.io/deploymentMode") in ("Knative", "Serverless")


# SGLang's flags for what the engine policies check, by their vLLM names (sglang/srt/server_args.py).
SGLANG_FLAGS = {"--context-length": "--max-model-len", "--mem-fraction-static": "--gpu-memory-utilization",
                "--tp-size": "--tensor-parallel-size", "--tp": "--tensor-parallel-size"}  # fmt: skip


@dataclass(frozen=True)
class EngineArgs:
    engine: str
    """vllm or sglang."""
    args: dict[str, str]
    """By vLLM's flag names (SGLang's translated through SGLANG_FLAGS)."""

    def flag(self, vllm_name: str) -> str:
        """The engine's own spelling of a flag, for messages."""
        if self.engine == "sglang":
            return next((k for k, v in SGLANG_FLAGS.items() if v == vllm_name), vllm_name)
        return vllm_name


def engine_args(container: dict[str, Any]) -> EngineArgs | None:
    """A vLLM or SGLang container's args (None for other containers)."""
    text = " ".join(str(c) for c in as_list(container.get("command"))) + " " + str(container.get("image") or "")
    if "sglang" in text:
        args = vllm_args(container, force=True) or {}
        return EngineArgs("sglang", {SGLANG_FLAGS.get(k, k): v for k, v in args.items()})
    args = vllm_args(container)
    return EngineArgs("vllm", args) if args is not None else None


def vllm_args(container: dict[str, Any], force: bool = False) -> dict[str, str] | None:
    """`--flag=value` / `--flag value` args of a vLLM container as a dict (None if not vLLM)."""
    command = [str(c) for c in as_list(container.get("command"))]
    image = str(container.get("image") or "")
    if not force and "vllm" not in " ".join(command) and "vllm" not in image:
        return None
    args = [str(a) for a in as_list(container.get("args"))]
    out: dict[str, str] = {}
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            key, eq, value = arg.partition("=")
            if not eq and i + 1 < len(args) and not args[i + 1].startswith("--"):
                value = args[i + 1]
            out[key] = value
    return out
