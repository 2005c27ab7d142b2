"""SGLang's own memory reserve outside --mem-fraction-static, so the planner can map the stack's
gpuMemoryUtilization (vLLM's meaning: everything the server may use) to SGLang's static share.

SGLang 0.5.23 computes its default in sglang/srt/arg_groups/memory_hook.py
handle_gpu_memory_settings (non-disaggregated, post-capture KV sizing off, its default):

    activation_tokens = max(chunked_prefill_size, 2048)
    reserved_mem = 512 + activation_tokens * 1.5 + tp_size * pp_size / 8 * 1024 + reserve_for_graph_mb
    if gpu_mem > 60 * 1024: reserved_mem = max(reserved_mem, 10 * 1024)
    mem_fraction_static = (gpu_mem - reserved_mem) / gpu_mem            (all in MiB)

reserve_for_graph_mb is decode max_bs * 2 plus 8 per prefill CUDA-graph batch size; the planner
takes the largest decode batch SGLang captures by default for the GPU tier and prefill graphs on
(SGLang's CUDA default), which reserves slightly more than SGLang would for small batches.
"""

from __future__ import annotations

# SGLang's chunked prefill size and decode CUDA-graph max batch size by GPU memory tier
# (server_args defaults: < 35 GiB -> 4096 / 48, < 60 GiB -> 8192 / 80, else 8192 / 256).
_TIERS_MIB = ((35 * 1024, 4096, 48), (60 * 1024, 8192, 80), (float("inf"), 8192, 256))
# Prefill CUDA-graph batch sizes SGLang captures by default (8 MiB reserved for each).
_PREFILL_GRAPH_SIZES = 50


def sglang_reserve_mib(gpu_mib: float, tp_size: int, chunked_prefill_size: int | None) -> float:
    """MiB SGLang keeps outside --mem-fraction-static on one GPU (activations, CUDA graphs, NCCL)."""
    tier_chunk, max_bs = next((chunk, bs) for limit, chunk, bs in _TIERS_MIB if gpu_mib < limit)
    chunk = chunked_prefill_size if chunked_prefill_size and chunked_prefill_size > 0 else tier_chunk
    reserved = 512 + max(chunk, 2048) * 1.5 + tp_size / 8 * 1024 + max_bs * 2 + _PREFILL_GRAPH_SIZES * 8
    return max(reserved, 10 * 1024) if gpu_mib > 60 * 1024 else reserved


def mem_fraction_static(gpu_memory_utilization: float, gpu_mib: float, tp_size: int, chunked_prefill_size: int | None) -> float:
    """--mem-fraction-static that leaves SGLang its reserve inside gpuMemoryUtilization x GPU memory:
    what vLLM would spend in total, SGLang spends too, its activations included."""
    return round(gpu_memory_utilization - sglang_reserve_mib(gpu_mib, tp_size, chunked_prefill_size) / gpu_mib, 3)
