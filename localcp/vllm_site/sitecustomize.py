"""Loaded by every Python process of the harness's vLLM (localcp/vllm.py puts this directory first
on PYTHONPATH): vLLM's CPU build is run on its generic x86 kernels, not its AMX ones.

Why: vLLM picks its AMX kernels from torch.cpu._is_amx_tile_supported() (CPUID only):
vllm/platforms/cpu.py get_attn_backend_cls (AMX_MLA), vllm/v1/attention/backends/cpu_attn.py,
vllm/model_executor/layers/fused_moe/experts/cpu_moe.py. On a host with AMX (measured 2026-12-05)
the worker of a MoE and of a sliding-window model died with SIGILL on its first request: Linux
refuses AMX tile data to a process that has not asked for it (arch_prctl ARCH_REQ_XCOMP_PERM), and
on those paths nothing had asked. The AMX MLA backend also rounds the KV cache to 32-token blocks,
so its token count is not the one the planner computes for GPUs. The generic kernels behave the same
on every x86 host the harness runs on. LLM_PLATFORM_VLLM_CPU_AMX=on keeps vLLM's choice (and asks
for the permission first, which made both models serve)."""

import ctypes
import os

_ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA, _SYS_ARCH_PRCTL = 0x1023, 18, 158  # asm/prctl.h, x86_64

if os.environ.get("LLM_PLATFORM_VLLM_CPU_AMX") == "on":
    ctypes.CDLL(None, use_errno=True).syscall(_SYS_ARCH_PRCTL, _ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA)
else:
    import torch.cpu

    torch.cpu._is_amx_tile_supported = lambda: False
