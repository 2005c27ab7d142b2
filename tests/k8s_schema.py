"""Validate rendered objects like an API server would: core kinds with kubernetes-validate (strict),
custom resources against the openAPIV3Schema of the CRDs the platform charts install (rendered from
../shared/charts by localcp.platform_crds), or of $LLM_PLATFORM_CRD_DIR."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate import utils as kv

from infra.versions import KUBERNETES_VERSION



@cache
def crd_dir() -> Path:
    from localcp.platform_crds import crds_dir

    return crds_dir()


def _strict(schema: Any) -> Any:
    """openAPIV3Schema -> JSON schema with the API server's structural rules made explicit:
    unknown fields are errors unless x-kubernetes-preserve-unknown-fields, int-or-string and
    nullable become JSON schema types."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    pattern = out.get("pattern")
    if isinstance(pattern, str) and "(?i)" in pattern[1:]:
        # Go's RE2 accepts inline flags anywhere (`^(?i)...`); Python wants them first.
        out["pattern"] = "(?i)" + pattern.replace("(?i)", "")
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    is_object = schema.get("type") == "object"
    if is_object and "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict JSON schema, for every CRD file in crd_dir()."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(crd_dir().glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = _strict(version["schema"]["openAPIV3Schema"])
                # metadata is validated by the API server's ObjectMeta, not by the CRD.
                schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def is_custom_resource(obj: dict[str, Any]) -> bool:
    """Built-in groups are dotless (apps, policy) or end in .k8s.io; anything else is a CRD, and so
    is a .k8s.io group a CRD here defines (SIG-owned APIs such as Gateway API and InferencePool)."""
    group = obj["apiVersion"].rpartition("/")[0]
    if (obj["apiVersion"], obj["kind"]) in crd_schemas():
        return True
    return "." in group and not group.endswith(".k8s.io")


def validate_object(obj: dict[str, Any]) -> None:
    """Raise a ValidationError (jsonschema's, or kubernetes-validate's) if obj is invalid."""
    if not is_custom_resource(obj):
        kv.validate(obj, KUBERNETES_VERSION, strict=True)
        return
    schema = crd_schemas().get((obj["apiVersion"], obj["kind"]))
    if schema is None:
        raise LookupError(f"no CRD for {obj['apiVersion']} {obj['kind']} in {crd_dir()}")
    jsonschema.validate(obj, schema, cls=jsonschema.Draft7Validator)
