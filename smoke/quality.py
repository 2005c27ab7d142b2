"""Quality next to speed: compare two endpoints that serve the same model (FP16 vs AWQ, F16 vs Q4
GGUF) on the evaluation set shipped in smoke/quality_eval.json, in one table:

- perplexity of the set's text, from the log-probability each endpoint gives every token of it;
- greedy-output agreement: each prompt completed at temperature 0 by both; the share of prompts
  whose outputs are identical, and the mean share of the longer output the two have in common
  from the start;
- throughput of the same run: smoke.bench at the given concurrency levels on each endpoint.

    python -m smoke.quality --a-url http://A:8000 --a-model M [--a-label fp16] \\
        --b-url http://B:8000 --b-model M [--b-label awq] [--concurrency 1,4] [--json out.json]

How log-probabilities are read, per server (detected from its /props, which only llama-server has):
- vLLM: /v1/completions with `echo: true`, `logprobs: 0`, `max_tokens: 1` returns the prompt's
  token log-probabilities (vllm/entrypoints/openai: echo + logprobs requests prompt_logprobs).
- llama-server returns no prompt log-probabilities: the text is tokenized (/tokenize) and scored
  by teacher forcing, one /completion per token with the prefix as token IDs, `n_predict: 1`,
  `n_probs: 1` and a `logit_bias` that makes the true next token the one sampled. The log-probability
  llama-server reports for the sampled token is computed from the raw logits, before the sampler
  chain applies the bias (server: populate_token_probs with post_sampling_probs off), so it is the
  model's own, exact for every token (checked: it equals the same token's entry in an unbiased
  top-k list). Forcing the true token also keeps the output valid UTF-8, which llama-server needs
  before it sends a token's probabilities.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from smoke.client import request_headers

EVAL_SET = Path(__file__).with_name("quality_eval.json")


@dataclass(frozen=True)
class Endpoint:
    label: str
    root: str
    """http://host:port (without /v1)."""
    model: str
    api_key: str | None = None
    host_header: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return request_headers(self.api_key, self.host_header)

    def post(self, path: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        response = httpx.post(f"{self.root}{path}", json=body, headers=self.headers, timeout=timeout)
        if response.status_code != 200:
            raise QualityError(f"{self.label}: POST {path}: HTTP {response.status_code}: {response.text[:200]}")
        return response.json()

    def runtime(self, timeout: float) -> str:
        try:
            response = httpx.get(f"{self.root}/props", headers=self.headers, timeout=timeout)
            return "llamacpp" if response.status_code == 200 and "build_info" in response.json() else "vllm"
        except (httpx.HTTPError, ValueError):
            return "vllm"


class QualityError(RuntimeError):
    """An endpoint did not answer as the evaluation needs; the message names it."""


def load_eval_set(path: Path = EVAL_SET) -> dict[str, Any]:
    data = json.loads(path.read_text())
    return {**data, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


# ---- log-probabilities of the text -----------------------------------------------------------
def token_logprobs_vllm(ep: Endpoint, text: str, timeout: float) -> list[float]:
    body = {"model": ep.model, "prompt": text, "max_tokens": 1, "echo": True, "logprobs": 0, "temperature": 0}
    choice = ep.post("/v1/completions", body, timeout)["choices"][0]
    values = (choice.get("logprobs") or {}).get("token_logprobs") or []
    prompt = values[: len(values) - 1]  # the last one is the generated token
    scored = [v for v in prompt[1:] if v is not None]  # the first token has no context
    if not scored:
        raise QualityError(f"{ep.label}: /v1/completions with echo returned no prompt log-probabilities")
    return scored


def token_logprobs_llamacpp(ep: Endpoint, text: str, max_tokens: int, timeout: float) -> list[float]:
    tokens = ep.post("/tokenize", {"content": text, "add_special": True}, timeout)["tokens"][: max_tokens + 1]
    scored = []
    for i in range(1, len(tokens)):
        body = {"prompt": tokens[:i], "n_predict": 1, "n_probs": 1, "temperature": 0, "cache_prompt": True,
                "logit_bias": [[tokens[i], 1000]]}  # fmt: skip
        probs = ep.post("/completion", body, timeout).get("completion_probabilities") or []
        if not probs or probs[0].get("id") != tokens[i]:
            raise QualityError(f"{ep.label}: /completion did not score token {tokens[i]} at position {i}: {probs[:1]}")
        scored.append(probs[0]["logprob"])
    return scored


def perplexity(logprobs: list[float]) -> float:
    return math.exp(-sum(logprobs) / len(logprobs))


# ---- greedy agreement -----------------------------------------------------------------------
def greedy(ep: Endpoint, prompts: list[str], max_tokens: int, timeout: float) -> list[str]:
    outputs = []
    for prompt in prompts:
        body = {"model": ep.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "seed": 0}
        outputs.append(ep.post("/v1/completions", body, timeout)["choices"][0]["text"])
    return outputs


def agreement(a: list[str], b: list[str]) -> dict[str, float]:
    def common(x: str, y: str) -> float:
        n = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
        return n / max(len(x), len(y), 1)

    return {"identical_share": sum(x == y for x, y in zip(a, b)) / len(a),
            "common_prefix_share": sum(common(x, y) for x, y in zip(a, b)) / len(a)}  # fmt: skip


# ---- throughput of the same run ---------------------------------------------------------------
def throughput(ep: Endpoint, concurrency: str, requests: int, output_tokens: int) -> list[dict[str, Any]]:
    from smoke.bench import main as bench

    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):  # stdout: the quality table
        out = Path(tmp) / "bench.json"
        argv = ["--base-url", ep.root, "--model", ep.model, "--concurrency", concurrency, "--requests", str(requests),
                "--output-tokens", str(output_tokens), "--quiet", "--json", str(out)]  # fmt: skip
        argv += ["--api-key", ep.api_key] if ep.api_key else []
        argv += ["--host-header", ep.host_header] if ep.host_header else []
        if bench(argv) != 0:
            raise QualityError(f"{ep.label}: the throughput run failed (see its output above)")
        return json.loads(out.read_text())["levels"]


def evaluate(a: Endpoint, b: Endpoint, *, max_text_tokens: int = 256, max_output_tokens: int = 32,
             concurrency: str = "1,4", requests: int = 16, timeout: float = 120) -> dict[str, Any]:  # fmt: skip
    data = load_eval_set()
    report: dict[str, Any] = {"eval_set_sha256": data["sha256"], "endpoints": {}}
    outputs = {}
    for ep in (a, b):
        runtime = ep.runtime(timeout)
        if runtime == "llamacpp":
            logprobs = token_logprobs_llamacpp(ep, data["text"], max_text_tokens, timeout)
        else:
            logprobs = token_logprobs_vllm(ep, data["text"], timeout)
        outputs[ep.label] = greedy(ep, data["prompts"], max_output_tokens, timeout)
        report["endpoints"][ep.label] = {
            "runtime": runtime, "model": ep.model, "perplexity": perplexity(logprobs), "scored_tokens": len(logprobs),
            "levels": throughput(ep, concurrency, requests, max_output_tokens),
        }  # fmt: skip
    report["greedy"] = agreement(outputs[a.label], outputs[b.label])
    report["outputs"] = outputs
    return report


def markdown(report: dict[str, Any]) -> str:
    labels = list(report["endpoints"])
    levels = [lv["concurrency"] for lv in report["endpoints"][labels[0]]["levels"]]
    head = "| endpoint | perplexity | tokens scored | " + " | ".join(f"out tok/s @{c}" for c in levels) + " |"
    lines = [head, "|" + "---|" * (3 + len(levels))]
    for label, ep in report["endpoints"].items():
        speed = " | ".join(f"{lv['output_tokens_per_s']:.1f}" for lv in ep["levels"])
        lines.append(f"| {label} | {ep['perplexity']:.3f} | {ep['scored_tokens']} | {speed} |")
    g = report["greedy"]
    lines.append(f"\ngreedy outputs, {labels[1]} vs {labels[0]}: {g['identical_share']:.0%} identical, "
                 f"{g['common_prefix_share']:.0%} common prefix (eval set sha256 {report['eval_set_sha256'][:12]})")  # fmt: skip
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m smoke.quality", description=__doc__.split("\n\n")[0])
    for side in ("a", "b"):
        parser.add_argument(f"--{side}-url", required=True, help=f"endpoint {side.upper()}: http://host:port (or .../v1)")
        parser.add_argument(f"--{side}-model", required=True, help=f"served model name at endpoint {side.upper()}")
        parser.add_argument(f"--{side}-label", default=side.upper(), help="name in the report")
        parser.add_argument(f"--{side}-api-key", help="bearer key, if that server requires one")
        parser.add_argument(f"--{side}-host-header", help="Host header (behind the KEDA HTTP add-on's interceptor)")
    parser.add_argument("--max-text-tokens", type=int, default=256, help="llama-server: score at most this many tokens")
    parser.add_argument("--max-output-tokens", type=int, default=32, help="greedy completion length (and bench max_tokens)")
    parser.add_argument("--concurrency", default="1,4", help="bench levels of the throughput columns")
    parser.add_argument("--requests", type=int, default=16, help="bench requests per level")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument("--json", type=Path, dest="json_out", help="write the full report (outputs included)")
    args = parser.parse_args(argv)
    if args.max_text_tokens < 2:
        parser.error(f"--max-text-tokens must be >= 2, got {args.max_text_tokens}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    a, b = (Endpoint(getattr(args, f"{s}_label"), getattr(args, f"{s}_url").rstrip("/").removesuffix("/v1"),
                     getattr(args, f"{s}_model"), getattr(args, f"{s}_api_key"), getattr(args, f"{s}_host_header"))
            for s in ("a", "b"))  # fmt: skip
    if a.label == b.label:
        print("quality: --a-label and --b-label must differ", file=sys.stderr)
        return 2
    try:
        report = evaluate(a, b, max_text_tokens=args.max_text_tokens, max_output_tokens=args.max_output_tokens,
                          concurrency=args.concurrency, requests=args.requests, timeout=args.timeout)  # fmt: skip
    except (QualityError, httpx.HTTPError) as err:
        print(f"quality: {err}", file=sys.stderr)
        return 1
    print(markdown(report))
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
