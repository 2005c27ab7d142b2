"""The flags each pinned server accepts, so `extraArgs` typos fail in config validation instead of
at pod start. infra/server_flags.json is generated from the pinned releases themselves:

    python -m infra.server_flags --write    # vLLM's and SGLang's parsers (cached venvs) + llama-server --help

and a test (vllm_parser tier) fails when it is stale.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

FLAGS_FILE = Path(__file__).resolve().parent / "server_flags.json"
REPO_ROOT = FLAGS_FILE.parent.parent


@cache
def known_flags() -> dict[str, frozenset[str]]:
    return {runtime: frozenset(flags) for runtime, flags in json.loads(FLAGS_FILE.read_text()).items()}


# vLLM flags operators carry over, and what SGLang has instead (the typed keys set most of them).
SGLANG_EQUIVALENTS = {
    "--max-num-seqs": "the typed maxNumSeqs sets SGLang's --max-running-requests",
    "--max-model-len": "the typed maxModelLen sets SGLang's --context-length",
    "--gpu-memory-utilization": "the typed gpuMemoryUtilization sets SGLang's --mem-fraction-static",
    "--max-num-batched-tokens": "the typed maxNumBatchedTokens sets SGLang's --chunked-prefill-size",
    "--enable-prefix-caching": "SGLang's radix cache is on unless enablePrefixCaching is false",
}


def unknown_flag(arg: str, runtime: str) -> str | None:
    """An error message if ARG's flag is not one the pinned server accepts; None if it is (or ARG is
    a value, not a flag)."""
    if not arg.startswith("-") or re.fullmatch(r"-?\d+(\.\d+)?", arg):
        return None
    flag = arg.split("=", 1)[0]
    known = known_flags()[runtime]
    # vLLM's FlexibleArgumentParser also takes --snake_case spellings of every --kebab-case flag.
    if flag in known or (runtime == "vllm" and flag.replace("_", "-") in known):
        return None
    close = difflib.get_close_matches(flag, sorted(known), n=1)
    hint = f"did you mean {close[0]}?" if close else "see the server's --help"
    if runtime == "sglang" and flag in known_flags()["vllm"]:
        hint = f"{flag} is vLLM's; " + SGLANG_EQUIVALENTS.get(flag, "see SGLang's --help for its own flag")
    server = {"vllm": "vLLM's serve parser", "sglang": "SGLang's server parser", "llamacpp": "llama-server"}[runtime]
    return f"{flag} is not a flag of {server} at the pinned release ({hint}), got {arg!r}"


def llamacpp_flags(help_text: str) -> list[str]:
    """Option strings from `llama-server --help` (lines like `-c,    --ctx-size N   ...`)."""
    flags = set()
    for line in help_text.splitlines():
        head = re.match(r"^((?:-{1,2}[A-Za-z0-9][\w.-]*(?:,\s*)?)+)", line.strip())
        if head:
            flags.update(f for f in re.split(r",\s*", head.group(1)) if f)
    return sorted(flags)


def generate() -> dict[str, list[str]]:
    vllm_python = subprocess.run(["bash", str(REPO_ROOT / "tools" / "vllm-venv.sh")], capture_output=True, text=True, check=True).stdout.split()[-1]
    vllm = subprocess.run([vllm_python, str(REPO_ROOT / "tests" / "vllm_flags.py")], capture_output=True, text=True, check=True,
                          env={"VLLM_TARGET_DEVICE": "cpu", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}).stdout  # fmt: skip
    llama_bin = subprocess.run(["bash", str(REPO_ROOT / "tools" / "llama-server.sh")], capture_output=True, text=True, check=True).stdout.split()[-1]
    help_text = subprocess.run([f"{llama_bin}/llama-server", "--help"], capture_output=True, text=True).stdout
    sglang_python = subprocess.run(["bash", str(REPO_ROOT / "tools" / "sglang-venv.sh")], capture_output=True, text=True, check=True).stdout.split()[-1]
    sglang = subprocess.run([sglang_python, str(REPO_ROOT / "tests" / "sglang_argcheck.py"), "--flags"], capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    return {"vllm": json.loads(vllm), "sglang": json.loads(sglang), "llamacpp": llamacpp_flags(help_text)}


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python -m infra.server_flags --write")
    FLAGS_FILE.write_text(json.dumps(generate(), indent=1) + "\n")
    print(f"wrote {FLAGS_FILE}")
