"""`python -m infra plan --hf-config PATH ...`: plan one vLLM model without a stack."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from infra.architecture import from_hf_config
from infra.config import PlannerSettings, Probes
from infra.planner import ModelPlan
from infra.planner.catalog import GIB, GPUS, MODELS, closest_gpus
from infra.planner.vllm import VllmInputs, VllmPlan, plan_vllm, what_would_fit
from infra.stack import ConfigError


def plan_one(args: argparse.Namespace) -> tuple[dict[str, Any], ModelPlan]:
    """The plan as a dict (for --json) and as a table row."""
    if args.gpu_product is not None:
        if args.gpu_product not in GPUS:
            raise ConfigError([f"--gpu-product: unknown gpu.product {args.gpu_product!r} ({closest_gpus(args.gpu_product)}); "
                               "or give --gpu-memory-gib"])  # fmt: skip
        if args.gpu_memory_gib is None:
            args.gpu_memory_gib = GPUS[args.gpu_product].memory_gib
    missing = [f"--{n.replace('_', '-')}" for n in ("gpu_memory_gib", "max_model_len") if getattr(args, n) is None]
    if missing:
        raise ConfigError([f"plan: ad-hoc mode needs {' and '.join(missing)}" + (" (or --gpu-product)" if "--gpu-memory-gib" in missing else "")])
    if args.model:
        if args.model not in MODELS:
            raise ConfigError([f"--model: unknown catalog model (known: {', '.join(MODELS)}), got {args.model!r}"])
        arch = MODELS[args.model]
    else:
        try:
            arch = from_hf_config(Path(args.hf_config))
        except (OSError, KeyError, ValueError) as err:
            raise ConfigError([f"--hf-config: cannot read architecture from {args.hf_config}: {err}"]) from None
    for flag, value, ok in (
        ("--gpu-memory-utilization", args.gpu_memory_utilization, 0 < args.gpu_memory_utilization < 1),
        ("--max-model-len", args.max_model_len, args.max_model_len > 0),
        ("--tensor-parallel-size", args.tensor_parallel_size, args.tensor_parallel_size > 0),
        ("--gpu-memory-gib", args.gpu_memory_gib, args.gpu_memory_gib > 0),
    ):
        if not ok:
            raise ConfigError([f"{flag}: out of range, got {value}"])
    inputs = VllmInputs(
        arch=arch,
        gpu_memory_gib=args.gpu_memory_gib,
        gpu_memory_utilization=args.gpu_memory_utilization,
        max_model_len=args.max_model_len,
        tensor_parallel_size=args.tensor_parallel_size,
        kv_cache_dtype=args.kv_cache_dtype,
        quantization=args.quantization,
        max_num_seqs=args.max_num_seqs,
        max_num_batched_tokens=args.max_num_batched_tokens,
        available_kv_gib=args.available_kv_gib,
    )
    plan = plan_vllm(inputs)
    result = plan.as_dict()
    if not plan.fits:
        result["would_fit"] = what_would_fit(inputs)
    return result, model_plan(args, plan)


def model_plan(args: argparse.Namespace, plan: VllmPlan) -> ModelPlan:
    """The ad-hoc plan as a table row, with the stack tier's startup budget (default settings)."""
    from infra.planner import startup_threshold

    weights = plan.weights_gib * GIB * args.tensor_parallel_size
    seconds, threshold = startup_threshold(weights, PlannerSettings().vllm_warmup_seconds, Probes(), PlannerSettings())
    gpu = args.gpu_product or f"{args.gpu_memory_gib:g} GiB GPU"
    config = Path(args.hf_config or "")
    name = args.model or (config.parent.name if config.name == "config.json" else config.stem) or "model"
    return ModelPlan(name, "vllm", f"{args.tensor_parallel_size}x {gpu}", plan, seconds, threshold)
