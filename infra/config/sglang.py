"""SGLang as a second GPU runtime, to compare against vLLM on the same model (docs/adr/0004). It
takes the vLLM model's keys wherever they mean the same thing, mapped to SGLang 0.5.23's flags
(sglang/srt/server_args.py ServerArgs.add_cli_args) by the chart's "llm-serving.sglang.args":

  maxModelLen -> --context-length          maxNumSeqs -> --max-running-requests
  gpu.count -> --tp-size                   memFractionStatic (planner) -> --mem-fraction-static
  quantization awq/fp8 -> --quantization   kvCacheDtype fp8 -> --kv-cache-dtype=fp8_e4m3
  maxNumBatchedTokens -> --chunked-prefill-size (enableChunkedPrefill false: -1)
  enablePrefixCaching false -> --disable-radix-cache
  nccl timeout -> --dist-timeout           metrics: --enable-metrics (sglang: series)

gpuMemoryUtilization keeps vLLM's meaning (the share of each GPU the server may use in total).
SGLang's --mem-fraction-static covers weights + KV pool only (activations and CUDA graphs live
outside it), so it is not gpuMemoryUtilization: the planner takes SGLang's own reserve off it
(infra/planner/sglang.py, from sglang/srt/arg_groups/memory_hook.py handle_gpu_memory_settings)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from infra import versions
from infra.config.models import Probes, VllmModel
from infra.config.types import Image

SGLANG_OWNED_FLAGS = frozenset(
    {
        "--model-path", "--model", "--served-model-name", "--host", "--port", "--context-length",
        "--tp-size", "--tensor-parallel-size", "--tp", "--mem-fraction-static", "--max-running-requests",
        "--quantization", "--kv-cache-dtype", "--chunked-prefill-size", "--disable-radix-cache",
        "--dist-timeout", "--enable-metrics", "--api-key", "--dtype", "--revision",
    }
)  # fmt: skip


class SglangModel(VllmModel):
    """A KServe InferenceService served by SGLang's OpenAI-compatible server on GPUs."""

    runtime: Literal["sglang"]  # type: ignore[assignment]
    """Serving engine: SGLang behind a KServe InferenceService (the comparison runtime)."""
    image: Image = Field(default_factory=lambda: Image.pinned(versions.SGLANG_IMAGE_REPOSITORY, versions.SGLANG_IMAGE_TAG))
    """Server image; the default is the SGLang release the argument-parser tests run."""

    probes: Probes = Field(default_factory=lambda: Probes(timeout_seconds=SglangModel.probe_timeout_seconds))
    """Health probe timing on the server's /health endpoint."""
    mem_fraction_static: float | None = Field(default=None, gt=0, lt=1)
    """SGLang's --mem-fraction-static: the share of GPU memory for weights + KV pool only;
    activations and CUDA graphs live outside it. Unset: the Pulumi program derives it from
    gpuMemoryUtilization minus SGLang's own reserve for those (planner, sglang_reserve_mib); when
    the GPU's memory is unknown (Helm-only installs), no flag is passed and SGLang sizes it itself."""

    owned_flags: ClassVar[frozenset[str]] = SGLANG_OWNED_FLAGS
    picker_series: ClassVar[dict[str, str]] = {"kvCacheUtilization": "sglang:token_usage"}
    flags_of: ClassVar[str] = "sglang"
    # /health runs a one-token generation (sglang/srt/entrypoints/http_server.py health_generate:
    # asyncio.sleep(1) before its first check, 503 after SGLANG_HEALTH_CHECK_TIMEOUT, 20 s).
    probe_timeout_seconds: ClassVar[int] = 25

    @model_validator(mode="before")
    @classmethod
    def _vllm_only_options(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("lora", "speculative"):
                if data.get(key) is not None:
                    raise ValueError(f"{key}: typed only for runtime vllm (SGLang takes its own flags in extraArgs), "
                                     f"got {data[key]!r}")  # fmt: skip
        return data
