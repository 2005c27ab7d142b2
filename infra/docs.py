"""The README's stack config reference, generated from the config model so it cannot drift."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from infra.config import (
    Gpu,
    Image,
    LlamaCppModel,
    ModelSource,
    Probes,
    Resources,
    StackConfig,
    Toleration,
    VllmModel,
)
from infra.config.sglang import SglangModel

BEGIN = "<!-- BEGIN GENERATED CONFIG REFERENCE (python -m infra schema --write) -->"
END = "<!-- END GENERATED CONFIG REFERENCE -->"

SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("Stack (`llm-platform:<key>`)", StackConfig),
    ("`models[]` with `runtime: vllm`", VllmModel),
    ("`models[]` with `runtime: sglang` (the vLLM keys, mapped to SGLang's flags; no lora/speculative)", SglangModel),
    ("`models[]` with `runtime: llamacpp`", LlamaCppModel),
    ("`source`", ModelSource),
    ("`gpu` (vLLM)", Gpu),
    ("`resources`", Resources),
    ("`image`", Image),
    ("`probes`", Probes),
    ("`tolerations[]`", Toleration),
]


def _describe(prop: dict[str, Any]) -> str:
    """A short type text from one JSON-schema property: `int > 0`, `one of none, awq`, ..."""
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in prop or "oneOf" in prop:
        parts = [_describe(p) for p in prop.get("anyOf", prop.get("oneOf", [])) if p.get("type") != "null"]
        return " or ".join(parts)
    if "const" in prop:
        return f"`{prop['const']}`"
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    kind = {"integer": "int", "number": "number", "string": "string", "boolean": "bool"}.get(prop.get("type", ""), "")
    if prop.get("type") == "array":
        kind = f"list of {_describe(prop.get('items', {}))}"
    elif prop.get("type") == "object":
        kind = "map"
    bounds = {"exclusiveMinimum": "> {}", "minimum": ">= {}", "exclusiveMaximum": "< {}", "maximum": "<= {}",
              "maxLength": "max {} chars", "pattern": "`{}`"}  # fmt: skip
    extra = [fmt.format(prop[key]) for key, fmt in bounds.items() if key in prop]
    return " ".join([kind, *extra]).strip()


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if value is None or value == PydanticUndefined:
        return "-"
    return f"`{json.dumps(value)}`"


def _row(key: str, field: Any, prop: dict[str, Any]) -> str:
    cells = [f"`{key}`", _describe(prop), _default(field), " ".join((field.description or "").split())]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def config_reference() -> str:
    out = [BEGIN, ""]
    for title, model in SECTIONS:
        out += [f"#### {title}", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        props = model.model_json_schema(by_alias=True)["properties"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            out.append(_row(key, field, props[key]))
        out.append("")
    out.append(END)
    return "\n".join(out)


def with_reference(readme: str) -> str:
    """The README text with its generated section replaced by the current reference."""
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + config_reference() + readme[end:]
