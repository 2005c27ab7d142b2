"""Value types shared by the config models: names, quantities, pinned images, model sources."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from infra.config.base import Strict
from infra.quantity import parse_quantity

# DNS-1035 label: what Kubernetes requires of Service names, which KServe derives from the model.
DNS1035 = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
# KServe appends "-predictor-<hash>" style suffixes; keep room under the 63-character label limit.
MODEL_NAME_MAX = 45


def _positive_quantity(value: str) -> str:
    if parse_quantity(value) <= 0:
        raise ValueError(f"must be > 0, got {value!r}")
    return value


Quantity = Annotated[
    str,
    Field(pattern=r"^[+-]?[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$", examples=["500m", "4", "16Gi"]),
    AfterValidator(_positive_quantity),
]


class Image(Strict):
    """A container image pinned by tag or digest; `latest` is refused (it changes under you)."""

    repository: str = Field(min_length=1, pattern=r"^[^:@\s]+$")
    """Image repository, e.g. a mirror in an air-gapped registry."""
    tag: Annotated[str, Field(min_length=1, pattern=r"^[\w][\w.-]{0,127}$")] | None = Field(
        default=None, json_schema_extra={"not": {"const": "latest"}}
    )
    digest: Annotated[str, Field(pattern=r"^sha256:[a-f0-9]{64}$")] | None = None

    @field_validator("tag")
    @classmethod
    def _not_latest(cls, tag: str | None) -> str | None:
        if tag == "latest":
            raise ValueError("must be a pinned version, not 'latest', got 'latest'")
        return tag

    @model_validator(mode="after")
    def _pinned(self) -> Image:
        if self.tag is None and self.digest is None:
            raise ValueError(f"image {self.repository!r} needs a pinned tag or a digest, got neither")
        return self

    @classmethod
    def pinned(cls, repository: str, tag: str) -> Image:
        return cls(repository=repository, tag=tag)


class ModelSource(Strict):
    """Where the weights come from. KServe's storage initializer fetches hf:// and s3:// into
    /mnt/models; pvc:// is mounted directly."""

    uri: str = Field(pattern=r"^(hf|s3|pvc)://[^\s]+$", examples=["hf://Qwen/Qwen2.5-7B-Instruct-AWQ"])
    revision: str | None = Field(default=None, pattern=r"^[\w.-]+$")
    """Hugging Face commit or tag; pin it so a re-upload upstream cannot change what you serve."""

    @model_validator(mode="after")
    def _revision_only_for_hf(self) -> ModelSource:
        if self.revision and not self.uri.startswith("hf://"):
            raise ValueError(f"revision applies to hf:// sources only, got uri {self.uri!r}")
        return self


class Toleration(Strict):
    key: str | None = None
    """Taint key (Kubernetes toleration fields, camelCase)."""
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(default=None, ge=0)


class Resources(Strict):
    """CPU and memory for the serving container (requests = limits: LLM servers are not burstable)."""

    cpu: Quantity
    memory: Quantity
    ephemeral_storage: Quantity | None = None
    """Node-local disk for the weights (downloaded into an emptyDir), caches and logs: requested,
    so the scheduler picks a node with room, and the limit past which the kubelet evicts the pod
    instead of filling the node's disk. Unset: the Pulumi program derives it from the weight size
    (planner); Helm-only installs without it request none."""


def _pinned_reference(ref: str) -> str:
    name, _, tag = ref.rpartition(":")
    if "@sha256:" not in ref and (not name or "/" in tag or tag == "latest"):
        raise ValueError(f"must be pinned as repository:tag (not latest) or repository@sha256:..., got {ref!r}")
    return ref


ImageRef = Annotated[
    str,
    Field(
        pattern=r"^\S+(:[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})$",
        json_schema_extra={"not": {"pattern": ":latest$"}},
    ),
    AfterValidator(_pinned_reference),
]
