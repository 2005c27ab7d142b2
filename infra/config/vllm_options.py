"""Typed vLLM features beyond plain serving: multi-LoRA and speculative decoding, as vLLM 0.32
takes them (vllm/config/lora.py LoRAConfig, vllm/entrypoints/launchers/cli_args.py LoRAParserAction
for --lora-modules, vllm/config/speculative.py SpeculativeConfig for --speculative-config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from infra.config.base import Strict

# vllm/config/lora.py MaxLoRARanks: the ranks vLLM has kernels for.
MaxLoraRank = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]
# vllm/config/speculative.py SpeculativeMethod, the methods an operator picks here: n-gram prompt
# lookup and suffix decoding need no second model; draft_model, eagle/eagle3 name one; mtp uses
# the model's own multi-token-prediction layers (DeepSeek-V3, Qwen3-Next, ...).
SpeculativeMethodName = Literal["ngram", "suffix", "draft_model", "eagle", "eagle3", "mtp"]
NEEDS_DRAFT = ("draft_model", "eagle", "eagle3")
ADAPTER_SOURCE = r"^(hf://[A-Za-z0-9][\w.-]*/[\w.-]+|/[\w./-]+)$"


class LoraAdapter(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][\w.:-]*$")
    """Served model name clients ask for (listed by /v1/models next to the base model)."""
    source: str = Field(pattern=ADAPTER_SOURCE, examples=["hf://org/sql-lora", "/mnt/models/adapters/sql"])
    """hf://org/repo (vLLM downloads it at start, with the model's HF token) or an absolute path
    in the container (e.g. on the model's PVC)."""

    @property
    def path(self) -> str:
        return self.source.removeprefix("hf://")


class Lora(Strict):
    """Serve fine-tuned adapters on one base model (--enable-lora --lora-modules ...)."""

    adapters: list[LoraAdapter] = Field(min_length=1)
    max_lora_rank: MaxLoraRank = 16
    """Largest adapter rank (--max-lora-rank); vLLM reserves GPU memory for this rank."""
    max_loras: int = Field(default=1, ge=1)
    """Adapters in one batch (--max-loras); GPU memory is reserved for this many."""
    max_cpu_loras: int | None = Field(default=None, ge=1)
    """Adapters cached in host memory (--max-cpu-loras, >= maxLoras; default maxLoras)."""

    @model_validator(mode="after")
    def _consistent(self) -> Lora:
        names = [a.name for a in self.adapters]
        if len(set(names)) != len(names):
            raise ValueError(f"adapters: names must be unique, got {names}")
        if self.max_cpu_loras is not None and self.max_cpu_loras < self.max_loras:
            raise ValueError(f"maxCpuLoras: must be >= maxLoras ({self.max_loras}), got {self.max_cpu_loras}")
        return self


class Speculative(Strict):
    """Speculative decoding (--speculative-config): a cheap proposer guesses numSpeculativeTokens
    tokens, the model verifies them in one step. Lower latency at low load; at high load the
    rejected guesses cost throughput."""

    method: SpeculativeMethodName
    num_speculative_tokens: int = Field(ge=1, le=16)
    model: str | None = Field(default=None, pattern=r"^hf://[A-Za-z0-9][\w.-]*/[\w.-]+$")
    """draft_model, eagle, eagle3: the proposer's hf:// repository (vLLM downloads it)."""
    prompt_lookup_max: int | None = Field(default=None, ge=1)
    """ngram: longest n-gram matched in the prompt."""
    prompt_lookup_min: int | None = Field(default=None, ge=1)
    """ngram: shortest n-gram matched in the prompt."""
    draft_tensor_parallel_size: int | None = Field(default=None, ge=1)
    """Tensor parallel size of the draft model (default: the model's)."""

    @model_validator(mode="after")
    def _consistent(self) -> Speculative:
        if self.method in NEEDS_DRAFT and self.model is None:
            raise ValueError(f"model: method {self.method} needs a draft model (hf://org/repo), got none")
        if self.method not in NEEDS_DRAFT and self.model is not None:
            raise ValueError(f"model: method {self.method} takes no draft model, got {self.model!r}")
        lookup = self.prompt_lookup_max is not None or self.prompt_lookup_min is not None
        if lookup and self.method != "ngram":
            raise ValueError(f"promptLookupMax/promptLookupMin: only for method ngram, got method {self.method}")
        if self.method == "ngram" and (self.prompt_lookup_max or 0) < (self.prompt_lookup_min or 0):
            raise ValueError(f"promptLookupMin: must be <= promptLookupMax ({self.prompt_lookup_max}), got {self.prompt_lookup_min}")
        return self
