"""Run inside the cached SGLang parser venv (tools/sglang-venv.sh): parse container args with the
pinned SGLang release's own server argument parser (sglang/srt/server_args.py
ServerArgs.add_cli_args) and report, per arg list, the parsed values or the error.

stdin: JSON list of arg lists (or "--flags": print every option string). stdout: JSON.
"""

import argparse
import contextlib
import io
import json
import sys

from sglang.srt.server_args import ServerArgs

FIELDS = (
    "model_path", "served_model_name", "host", "port", "context_length", "tp_size", "mem_fraction_static",
    "max_running_requests", "quantization", "kv_cache_dtype", "chunked_prefill_size", "disable_radix_cache",
    "dist_timeout", "enable_metrics", "api_key", "dtype",
)  # fmt: skip


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sglang.launch_server")
    ServerArgs.add_cli_args(p)
    return p


def check(args: list[str]) -> dict:
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            namespace = parser().parse_args(args)
    except SystemExit:
        lines = [line for line in stderr.getvalue().splitlines() if line.strip()]
        return {"ok": False, "error": lines[-1] if lines else "argument parser exited", "parsed": None}
    return {"ok": True, "error": None, "parsed": {f: getattr(namespace, f, None) for f in FIELDS}}


if __name__ == "__main__":
    if sys.argv[1:] == ["--flags"]:
        json.dump(sorted({o for a in parser()._actions for o in a.option_strings}), sys.stdout)
    else:
        json.dump([check(args) for args in json.load(sys.stdin)], sys.stdout)
