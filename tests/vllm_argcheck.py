"""Run inside the cached vLLM venv (tools/vllm-venv.sh): parse container args with the serve
parser of the pinned vLLM release and report, per arg list, the parsed values or the error.

stdin: JSON list of arg lists. stdout: JSON list of {"ok", "error", "parsed"}.
"""

import contextlib
import io
import json
import sys

from vllm.entrypoints.common.cli_args import make_arg_parser, validate_parsed_serve_args
from vllm.utils.argparse_utils import FlexibleArgumentParser

FIELDS = (
    "model_tag", "served_model_name", "host", "port", "max_model_len", "gpu_memory_utilization",
    "tensor_parallel_size", "dtype", "quantization", "max_num_seqs", "max_num_batched_tokens",
    "enable_prefix_caching", "enable_chunked_prefill", "kv_cache_dtype",
)  # fmt: skip


def check(args: list[str]) -> dict:
    parser = make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            namespace = parser.parse_args(args)
        validate_parsed_serve_args(namespace)
    except SystemExit:
        lines = [line for line in stderr.getvalue().splitlines() if line.strip()]
        return {"ok": False, "error": lines[-1] if lines else "argument parser exited", "parsed": None}
    except (TypeError, ValueError) as err:
        return {"ok": False, "error": str(err), "parsed": None}
    return {"ok": True, "error": None, "parsed": {f: getattr(namespace, f, None) for f in FIELDS}}


if __name__ == "__main__":
    results = [check(args) for args in json.load(sys.stdin)]
    json.dump(results, sys.stdout)
