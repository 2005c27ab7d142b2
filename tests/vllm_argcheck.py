"""Run inside the cached vLLM venv (tools/vllm-venv.sh): parse container args with the serve
parser of the pinned vLLM release and report, per arg list, the parsed values or the error.

stdin: JSON list of arg lists. stdout: JSON list of {"ok", "error", "parsed"}.
"""

import contextlib
import io
import json
import sys

from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args
from vllm.utils.argparse_utils import FlexibleArgumentParser

FIELDS = (
    "model_tag", "served_model_name", "host", "port", "max_model_len", "gpu_memory_utilization",
    "tensor_parallel_size", "dtype", "quantization", "max_num_seqs", "max_num_batched_tokens",
    "enable_prefix_caching", "enable_chunked_prefill", "kv_cache_dtype", "enable_lora", "max_lora_rank",
    "max_loras", "max_cpu_loras", "lora_modules", "speculative_config",
)  # fmt: skip


def plain(value):
    """Parsed values as JSON: dataclasses (LoRAModulePath) as dicts."""
    import dataclasses

    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def check_features(namespace) -> None:
    """What the parser alone does not check: LoRA limits through vLLM's own LoRAConfig, and that
    every --speculative-config key is a SpeculativeConfig field with a known method."""
    import typing

    from vllm.config.lora import LoRAConfig
    from vllm.config.speculative import SpeculativeConfig, SpeculativeMethod

    if namespace.enable_lora:
        LoRAConfig(max_lora_rank=namespace.max_lora_rank, max_loras=namespace.max_loras, max_cpu_loras=namespace.max_cpu_loras)
    spec = namespace.speculative_config
    if spec:
        fields = {f.name for f in __import__("dataclasses").fields(SpeculativeConfig)}
        if unknown := sorted(set(spec) - fields):
            raise ValueError(f"--speculative-config: unknown fields {unknown}")

        def flat(t):
            return [x for a in typing.get_args(t) for x in (flat(a) if typing.get_args(a) else [a])]

        if spec.get("method") not in flat(SpeculativeMethod):
            raise ValueError(f"--speculative-config: unknown method {spec.get('method')!r}")


def check(args: list[str]) -> dict:
    parser = make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            namespace = parser.parse_args(args)
        validate_parsed_serve_args(namespace)
        check_features(namespace)
    except SystemExit:
        lines = [line for line in stderr.getvalue().splitlines() if line.strip()]
        return {"ok": False, "error": lines[-1] if lines else "argument parser exited", "parsed": None}
    except (TypeError, ValueError) as err:
        return {"ok": False, "error": str(err), "parsed": None}
    return {"ok": True, "error": None, "parsed": {f: plain(getattr(namespace, f, None)) for f in FIELDS}}


if __name__ == "__main__":
    results = [check(args) for args in json.load(sys.stdin)]
    json.dump(results, sys.stdout)
