"""`python -m infra diagnose`: read a vLLM or llama.cpp /metrics exposition (one scrape, or two over
an interval), decide among the known causes of slow or poor serving with the numbers used, and
name the runbook to follow. Exit 0 healthy, 1 degraded, 2 usage error.

    python -m infra diagnose --metrics-url http://POD:8080/metrics [--interval 30] [--model NAME]
    python -m infra diagnose --metrics-file before.txt [--metrics-file after.txt --interval 30]
        [--max-num-seqs N] [--expected-kv-tokens N | --stack STACK] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_exposition(text: str) -> list[Sample]:
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or line.startswith("#"):
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        samples.append(Sample(match["name"], dict(_LABEL.findall(match["labels"] or "")), value))
    return samples


@dataclass
class Scrape:
    samples: list[Sample]
    model: str | None = None

    def _match(self, s: Sample, name: str) -> bool:
        return s.name == name and (self.model is None or s.labels.get("model_name", self.model) == self.model)

    def total(self, name: str) -> float | None:
        values = [s.value for s in self.samples if self._match(s, name)]
        return sum(values) if values else None

    def mean(self, name: str) -> float | None:
        values = [s.value for s in self.samples if self._match(s, name)]
        return sum(values) / len(values) if values else None

    def label(self, name: str, key: str) -> str | None:
        return next((s.labels.get(key) for s in self.samples if self._match(s, name) and key in s.labels), None)

    @property
    def runtime(self) -> str:
        names = {s.name for s in self.samples}
        if any(n.startswith("vllm:") for n in names):
            return "vllm"
        if any(n.startswith("llamacpp:") for n in names):
            return "llamacpp"
        raise ValueError("no vllm: or llamacpp: series in the exposition; is this a model server's /metrics?")


@dataclass
class Finding:
    cause: str
    evidence: dict[str, float | str | None]
    runbook: str
    advice: str


@dataclass
class Report:
    runtime: str
    healthy: bool
    findings: list[Finding] = field(default_factory=list)
    observed: dict[str, float | None] = field(default_factory=dict)


def _rate(before: Scrape, after: Scrape | None, name: str, interval: float) -> float | None:
    if after is None or interval <= 0:
        return None
    a, b = before.total(name), after.total(name)
    return None if a is None or b is None else max(0.0, (b - a) / interval)


def diagnose_vllm(
    before: Scrape, after: Scrape | None, interval: float, max_num_seqs: int | None, expected_kv_tokens: int | None
) -> Report:
    now = after or before
    running = now.total("vllm:num_requests_running") or 0.0
    waiting = now.total("vllm:num_requests_waiting") or 0.0
    kv = now.mean("vllm:kv_cache_usage_perc") or 0.0
    preempt_rate = _rate(before, after, "vllm:num_preemptions_total", interval)
    preempted = (preempt_rate or 0) > 0 if after else (now.total("vllm:num_preemptions_total") or 0) > 0
    tokens_rate = _rate(before, after, "vllm:generation_tokens_total", interval)
    blocks, block_size = now.label("vllm:cache_config_info", "num_gpu_blocks"), now.label("vllm:cache_config_info", "block_size")
    kv_tokens = int(blocks) * int(block_size) if blocks and block_size and blocks.isdigit() and block_size.isdigit() else None
    observed = {"running": running, "waiting": waiting, "kv_cache_usage": kv, "preemptions_per_s": preempt_rate,
                "generation_tokens_per_s": tokens_rate, "kv_cache_tokens": kv_tokens}  # fmt: skip
    findings: list[Finding] = []
    if kv >= 0.9 and preempted:
        findings.append(Finding("kv-cache-thrashing", {"kv_cache_usage": kv, "preemptions_per_s": preempt_rate},
                                "runbooks/kv-cache-thrashing.md",
                                "lower maxNumSeqs, use kvCacheDtype fp8 or AWQ weights, or add replicas"))  # fmt: skip
    ceiling = max_num_seqs if max_num_seqs else None
    at_ceiling = running >= ceiling if ceiling else (after is not None and running == before.total("vllm:num_requests_running"))
    if waiting > 0 and at_ceiling and kv < 0.9:
        findings.append(Finding("small-batch-ceiling", {"running": running, "waiting": waiting, "max_num_seqs": ceiling, "kv_cache_usage": kv},
                                "runbooks/batch-saturation.md",
                                "the KV cache has room: raise maxNumSeqs (see `python -m infra plan`)"))  # fmt: skip
    if expected_kv_tokens and kv_tokens and not 0.6 <= kv_tokens / expected_kv_tokens <= 1.6:
        findings.append(Finding("quantization-mismatch", {"kv_cache_tokens": kv_tokens, "planned_kv_cache_tokens": expected_kv_tokens,
                                                          "ratio": round(kv_tokens / expected_kv_tokens, 2)},
                                "runbooks/throughput-low.md",
                                "the KV cache is far from plan: weights are not the size planned (quantization flag vs checkpoint)"))  # fmt: skip
    low = max(2.0, 0.25 * ceiling) if ceiling else 2.0
    if waiting == 0 and running < low and not findings:
        findings.append(Finding("gpu-underutilised", {"running": running, "waiting": waiting, "generation_tokens_per_s": tokens_rate},
                                "runbooks/throughput-low.md",
                                "too few concurrent requests reach the server: raise client concurrency (bench with --concurrency)"))  # fmt: skip
    # Idle is healthy: nothing running or waiting means no demand, not a fault.
    if findings and findings[-1].cause == "gpu-underutilised" and running == 0:
        findings.pop()
    return Report("vllm", not findings, findings, observed)


def diagnose_llamacpp(before: Scrape, after: Scrape | None, interval: float) -> Report:
    now = after or before
    deferred = now.total("llamacpp:requests_deferred") or 0.0
    processing = now.total("llamacpp:requests_processing") or 0.0
    tokens_rate = _rate(before, after, "llamacpp:tokens_predicted_total", interval)
    observed = {"requests_processing": processing, "requests_deferred": deferred, "tokens_predicted_per_s": tokens_rate}
    findings = []
    if deferred > 0:
        findings.append(Finding("slots-saturated", {"requests_deferred": deferred, "requests_processing": processing},
                                "runbooks/llamacpp-requests-deferred.md",
                                "every slot is busy: raise maxNumSeqs (memory permitting), CPU, or replicas"))  # fmt: skip
    return Report("llamacpp", not findings, findings, observed)


def _scrape(url: str) -> str:
    try:
        response = httpx.get(url, timeout=15)
        response.raise_for_status()
    except httpx.HTTPStatusError as err:
        raise ValueError(f"{url}: HTTP {err.response.status_code} from the metrics endpoint") from None
    except httpx.HTTPError as err:
        raise ValueError(f"{url}: cannot scrape metrics: {err or type(err).__name__}") from None
    return response.text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra diagnose", description=" ".join(__doc__.split("\n\n")[0].split()))
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--metrics-url", help="a model server's /metrics URL (scraped once, or twice with --interval)")
    source.add_argument("--metrics-file", action="append", type=Path, help="saved exposition; give twice for before/after")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between the two scrapes")
    parser.add_argument("--model", help="served model name (vLLM model_name label) when several share an endpoint")
    parser.add_argument("--max-num-seqs", type=int, help="the server's --max-num-seqs")
    parser.add_argument("--expected-kv-tokens", type=int, help="planned KV cache tokens (python -m infra plan)")
    parser.add_argument("--stack", help="take --max-num-seqs and the planned KV tokens of --model from this stack's plan")
    parser.add_argument("--json", action="store_true")
    return parser


def _from_stack(stack: str, model: str | None) -> tuple[int | None, int | None]:
    from infra.planner import plan_stack
    from infra.stack import load_stack_file, stack_file

    plan = plan_stack(load_stack_file(stack_file(stack)))
    for m, p in zip(plan.config.models, plan.models):
        if model in (m.name, m.served_name):
            return getattr(p.plan, "max_num_seqs", None), getattr(p.plan, "kv_cache_tokens", None)
    raise ValueError(f"--model: {model!r} is not a model of stack {stack!r}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.metrics_url:
            texts = [_scrape(args.metrics_url)]
            if args.interval > 0:
                time.sleep(args.interval)
                texts.append(_scrape(args.metrics_url))
        else:
            if len(args.metrics_file) > 2:
                raise ValueError("--metrics-file: at most two (before, after)")
            texts = [p.read_text() for p in args.metrics_file]
        max_seqs, expected = args.max_num_seqs, args.expected_kv_tokens
        if args.stack:
            max_seqs, expected = _from_stack(args.stack, args.model)
        before = Scrape(parse_exposition(texts[0]), args.model)
        after = Scrape(parse_exposition(texts[1]), args.model) if len(texts) > 1 else None
        if before.runtime == "vllm":
            report = diagnose_vllm(before, after, args.interval, max_seqs, expected)
        else:
            report = diagnose_llamacpp(before, after, args.interval)
    except (OSError, ValueError, httpx.HTTPError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print(f"runtime: {report.runtime}  status: {'healthy' if report.healthy else 'degraded'}")
        print("observed: " + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in report.observed.items()))
        for f in report.findings:
            evidence = ", ".join(f"{k}={v}" for k, v in f.evidence.items())
            print(f"- {f.cause}: {evidence}\n  follow {f.runbook}: {f.advice}")
    return 0 if report.healthy else 1
