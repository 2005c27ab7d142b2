"""Readable and machine-readable forms of a stack's capacity plan."""

from __future__ import annotations

import json

from infra.planner import ModelPlan
from infra.planner.llamacpp import LlamaCppPlan

COLUMNS = ("model", "runtime", "hardware", "weights/GPU", "KV/token", "KV budget", "KV tokens", "max conc.", "max seqs", "startup",
           "ready (no cache / cached)")


def _ready(p: ModelPlan) -> str:
    """New replica to ready: download + start-up, and without the download when the node caches it."""
    cold = p.startup_budget_seconds + p.download_seconds
    if p.runtime == "llamacpp":
        return f"{cold}s / n/a"
    return f"{cold}s / {p.startup_budget_seconds}s{' (cached)' if p.cached else ''}"


def _row(p: ModelPlan) -> tuple[str, ...]:
    startup = f"{p.startup_budget_seconds}s ({p.startup_failure_threshold} probes)"
    if isinstance(p.plan, LlamaCppPlan):
        q = p.plan
        return (p.name, p.runtime, p.gpu, f"{q.weights_gib:.2f} GiB", f"{q.kv_bytes_per_token // 1024} KiB",
                f"{q.total_gib:.2f}/{q.memory_limit_gib:.2f} GiB", f"{q.ctx_size:,}", f"{q.ctx_size // q.per_slot_context}",
                f"{q.ctx_size // q.per_slot_context} slots", startup, _ready(p))  # fmt: skip
    v = p.plan
    seqs = f"{v.max_num_seqs}{' (derived)' if v.max_num_seqs_derived else ''}"
    return (p.name, p.runtime, p.gpu, f"{v.weights_gib:.2f} GiB", f"{v.kv_bytes_per_token // 1024} KiB",
            f"{v.available_kv_gib:.2f} GiB", f"{v.kv_cache_tokens:,}", f"{v.max_concurrency:.2f}x", seqs, startup, _ready(p))  # fmt: skip


def table(plans: list[ModelPlan]) -> str:
    rows = [COLUMNS, *(_row(p) for p in plans)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for p in plans:
        replicated = getattr(p.plan, "replicated_gib", 0.0)
        if replicated >= 0.1:
            lines.append(f"note: {p.name}: {replicated:.2f} GiB of the weights per GPU is held whole by every tensor-parallel "
                         "rank (norms, routers, MLA down-projections, K/V projections when TP exceeds the KV heads)")
        lines += [f"warning: {p.name}: {w}" for w in p.plan.warnings]
    return "\n".join(lines)


def as_json(plans: list[ModelPlan]) -> str:
    return json.dumps({p.name: p.as_dict() for p in plans}, indent=2)
