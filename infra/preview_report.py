"""A reviewer's report of a `pulumi preview --json`: per model, what the engine will create, update,
replace or delete, which server arguments change, and the model's capacity plan and warnings.

    pulumi preview --json --stack prod > preview.json
    python -m infra preview-report --preview-json preview.json --stack prod > preview.md

Chart children are attributed to a model by their `llm-serving/model` label; everything else (the
namespace, Secrets, the platform layer) is listed under the stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from infra.planner import ModelPlan
from infra.planner.report import table

TEMPLATE = Path(__file__).resolve().parent / "templates" / "preview_report.md.j2"
MODEL_LABEL = "llm-serving/model"
# The engine's step ops, folded into what a reviewer decides on.
OPS = {"create": "create", "update": "update", "delete": "delete", "replace": "replace",
       "create-replacement": "replace", "delete-replaced": None, "discard-replaced": None,
       "same": "same", "read": "same", "refresh": "same"}  # fmt: skip


@dataclass
class Change:
    kind: str
    name: str
    op: str
    fields: list[str] = field(default_factory=list)
    """Top-level input paths the engine reports as different (detailedDiff / diffReasons)."""
    args_added: list[str] = field(default_factory=list)
    args_removed: list[str] = field(default_factory=list)


def _inputs(state: dict | None) -> dict[str, Any]:
    return (state or {}).get("inputs") or {}


def server_args(inputs: dict[str, Any]) -> list[str]:
    """The model server's container args in a ServingRuntime, Deployment or InferenceService."""
    spec = inputs.get("spec") or {}
    containers = spec.get("containers") or (((spec.get("template") or {}).get("spec") or {}).get("containers")) or []
    model = (spec.get("predictor") or {}).get("model") or {}
    args = [str(a) for c in containers[:1] for a in (c.get("args") or [])] + [str(a) for a in model.get("args") or []]
    # `--flag value` pairs (llama-server style) read as one `--flag value` item, so a changed value
    # shows next to its flag.
    paired: list[str] = []
    for arg in args:
        if paired and paired[-1].startswith("-") and "=" not in paired[-1] and " " not in paired[-1] and not arg.startswith("-"):
            paired[-1] = f"{paired[-1]} {arg}"
        else:
            paired.append(arg)
    return paired


def _change(step: dict) -> tuple[str, Change] | None:
    op = OPS.get(step["op"], step["op"])
    if op is None:
        return None
    old, new = _inputs(step.get("oldState")), _inputs(step.get("newState"))
    current = new or old
    type_token = (step.get("newState") or step.get("oldState") or {}).get("type", step["urn"].split("::")[2])
    kind = type_token.rsplit(":", 1)[-1].rsplit("$", 1)[-1]
    metadata = current.get("metadata") or {}
    name = metadata.get("name") or step["urn"].rsplit("::", 1)[-1]
    change = Change(kind, name, op)
    if op in ("update", "replace"):
        change.fields = sorted(step.get("detailedDiff") or {}) or sorted(step.get("diffReasons") or [])
        before, after = server_args(old), server_args(new)
        change.args_added = [a for a in after if a not in before]
        change.args_removed = [a for a in before if a not in after]
    return (metadata.get("labels") or {}).get(MODEL_LABEL, ""), change


def changes_by_model(preview: dict) -> dict[str, list[Change]]:
    """Model name ('' for the stack itself) -> its non-trivial changes, in preview order."""
    grouped: dict[str, list[Change]] = {}
    for step in preview.get("steps") or []:
        if step["urn"].endswith("::pulumi:pulumi:Stack") or "pulumi:providers:" in step["urn"]:
            continue
        found = _change(step)
        if found and found[1].op != "same":
            grouped.setdefault(found[0], []).append(found[1])
    return grouped


def render_report(preview: dict, plans: list[ModelPlan], stack: str) -> str:
    grouped = changes_by_model(preview)
    models = [(p, grouped.get(p.name, [])) for p in plans]
    counts = {name: {op: sum(c.op == op for c in cs) for op in ("create", "update", "replace", "delete")}
              for name, cs in grouped.items()}  # fmt: skip
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)  # fmt: skip
    return env.get_template(TEMPLATE.name).render(
        stack=stack, models=models, stack_changes=grouped.get("", []), counts=counts,
        capacity=table(plans), summary=preview.get("changeSummary") or {},
        unplanned=sorted(set(grouped) - {p.name for p in plans} - {""}),
    )  # fmt: skip


def load_preview(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a `pulumi preview --json` output: {err}") from None
