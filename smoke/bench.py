"""Latency/throughput bench for an OpenAI-compatible server (vLLM or llama-server).

    python -m smoke.bench --base-url URL --model NAME --concurrency 1,2,4,8 --requests N \
        --input-tokens I --output-tokens O [--api-key K] [--json out.json] [--plot out.png]
    python -m smoke.bench --base-url URL --model NAME --request-rate 1,2,4,inf [--goodput ttft:MS tpot:MS e2el:MS]
    python -m smoke.bench --compare fp16.json awq.json

Closed loop per concurrency level (C workers each send streaming completions until N are done), or
open loop per request rate (--request-rate: Poisson or --burstiness arrivals, as vllm bench serve).
Per request: TTFT (first streamed text), TPOT ((e2e - TTFT) / (tokens - 1)), inter-token
latencies, end-to-end latency; per level p50/p90/p99, requests/s, output tokens/s and errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from smoke import server_counters, workload
from smoke.bench_report import compare, compare_plot, label, markdown, plot, plot_title
from smoke.client import not_found_hint, openai_base_url, request_headers, sse_data
from smoke.load_shapes import arrival_times, parse_goodput, parse_rates, saturation, within

PERCENTILES = (50, 90, 99)


@dataclass
class RequestResult:
    ok: bool
    ttft: float = 0.0
    e2e: float = 0.0
    output_tokens: int = 0
    prompt_tokens: int | None = None
    itl: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def tpot(self) -> float | None:
        return (self.e2e - self.ttft) / (self.output_tokens - 1) if self.output_tokens > 1 else None


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (no interpolation): a value that was actually observed."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100)
    return ordered[int(rank) - 1]


def summarize(values: list[float]) -> dict[str, float | None]:
    out: dict[str, float | None] = {f"p{p}": percentile(values, p) for p in PERCENTILES}
    out["mean"] = statistics.fmean(values) if values else None
    return out


async def one_request(client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str],
                      given_base_url: str = "") -> RequestResult:  # fmt: skip
    start = time.perf_counter()
    first = last = None
    itl: list[float] = []
    chunks = 0
    usage: dict[str, Any] = {}
    try:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                await response.aread()
                if response.status_code == 404:
                    return RequestResult(False, error=not_found_hint(url, given_base_url or url))
                return RequestResult(False, error=f"HTTP {response.status_code}: {response.text[:120]}")
            async for data in _adata(response):
                if data == "[DONE]":
                    break
                payload = json.loads(data)
                usage = payload.get("usage") or usage
                choices = payload.get("choices") or []
                if not choices or not (choices[0].get("text") or (choices[0].get("delta") or {}).get("content")):
                    continue
                now = time.perf_counter()
                if first is None:
                    first = now
                else:
                    itl.append(now - last)  # type: ignore[operator]
                last = now
                chunks += 1
    except (httpx.HTTPError, json.JSONDecodeError) as err:
        return RequestResult(False, error=f"{type(err).__name__}: {err}")
    end = time.perf_counter()
    if first is None:  # e.g. only byte tokens that never complete a UTF-8 character (random weights)
        generated = usage.get("completion_tokens") or 0
        return RequestResult(False, error=f"stream carried no text ({generated} tokens generated)", output_tokens=generated)
    return RequestResult(
        True, ttft=first - start, e2e=end - start, output_tokens=usage.get("completion_tokens") or chunks,
        prompt_tokens=usage.get("prompt_tokens"), itl=itl,
    )  # fmt: skip


async def _adata(response: httpx.Response):
    async for line in response.aiter_lines():
        for data in sse_data(iter([line])):
            yield data


def request_bodies(args: argparse.Namespace, count: int, seed_offset: int = 0) -> tuple[str, list[dict[str, Any]], dict[str, str]]:
    """URL, `count` bodies (smoke/workload.py) and headers: streaming completions, fixed lengths."""
    url = f"{args.base_url.rstrip('/')}/completions"
    headers = request_headers(args.api_key, args.host_header)
    shape = workload.requests(count, args.input_tokens, args.output_tokens, range_ratio=args.random_range_ratio,
                              shared_prefix_tokens=args.shared_prefix_tokens, seed=args.seed + seed_offset)  # fmt: skip
    bodies = [{
        "model": args.model,
        "prompt": request.prompt,
        "max_tokens": request.max_tokens,
        "temperature": 0,
        "stream": True,
        "ignore_eos": True,  # vLLM and llama-server both honour it: the requested output length
        "stream_options": {"include_usage": True},
    } for request in shape]  # fmt: skip
    return url, bodies, headers


async def warm_up(args: argparse.Namespace) -> None:
    """--warmup requests, one at a time, before any level; their figures are not kept."""
    url, bodies, headers = request_bodies(args, args.warmup, seed_offset=-1)
    async with httpx.AsyncClient(timeout=httpx.Timeout(args.timeout)) as client:
        for body in bodies:
            await one_request(client, url, body, headers, args.given_base_url)


async def run_level(args: argparse.Namespace, concurrency: int, progress: tqdm) -> dict[str, Any]:
    """Closed loop: `concurrency` workers each send the next request when their last one ends."""
    url, bodies, headers = request_bodies(args, args.requests)
    results: list[RequestResult] = []
    pending = list(reversed(bodies))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(args.timeout)) as client:

        async def worker() -> None:
            while pending:
                results.append(await one_request(client, url, pending.pop(), headers, args.given_base_url))
                progress.update(1)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return {"concurrency": concurrency, **level_stats(results, wall, args)}


async def run_rate(args: argparse.Namespace, rate: float, progress: tqdm) -> dict[str, Any]:
    """Open loop: requests start at their arrival times (smoke/load_shapes.py) whatever is still
    running, at most --max-concurrency in flight."""
    url, bodies, headers = request_bodies(args, args.requests)
    offsets = arrival_times(rate, args.requests, args.burstiness, args.seed)
    cap = args.max_concurrency or args.requests
    gate = asyncio.Semaphore(cap)
    limits = httpx.Limits(max_connections=cap, max_keepalive_connections=cap)

    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(args.timeout)) as client:

        async def arrival(offset: float, body: dict[str, Any]) -> RequestResult:
            await asyncio.sleep(max(0.0, start + offset - time.perf_counter()))
            async with gate:
                result = await one_request(client, url, body, headers, args.given_base_url)
            progress.update(1)
            return result

        start = time.perf_counter()
        results = list(await asyncio.gather(*(arrival(o, b) for o, b in zip(offsets, bodies))))
        wall = time.perf_counter() - start
    level = {"request_rate": "inf" if math.isinf(rate) else rate, "burstiness": args.burstiness}
    if args.max_concurrency:
        level["max_concurrency"] = args.max_concurrency
    return {**level, **level_stats(results, wall, args)}


def checked_against_server(args: argparse.Namespace, level: Any) -> dict[str, Any]:
    """Run one level, reading the server's counters before and after (smoke/server_counters.py)."""
    root = args.base_url.removesuffix("/v1")
    headers = request_headers(args.api_key, args.host_header)
    before = server_counters.read(root, headers, args.model)
    stats = asyncio.run(level)
    after = server_counters.read(root, headers, args.model)
    served = stats["requests"] - stats["errors"] + stats["errors_with_tokens"]
    checks = server_counters.compare(before, after, stats["generated_tokens"], served, args.counter_tolerance)
    return {**stats, "server_counters": [c.as_dict() for c in checks]}


def level_stats(results: list[RequestResult], wall: float, args: argparse.Namespace) -> dict[str, Any]:
    ok = [r for r in results if r.ok]
    stats = {
        "requests": len(results),
        "errors": len(results) - len(ok),
        "error_samples": sorted({r.error for r in results if not r.ok})[:3],
        "wall_s": wall,
        "requests_per_s": len(ok) / wall,
        "output_tokens": sum(r.output_tokens for r in ok),
        # Every token the server reported generating, failed requests included (its counters do).
        "generated_tokens": sum(r.output_tokens for r in results),
        "errors_with_tokens": sum(1 for r in results if not r.ok and r.output_tokens),
        "output_tokens_per_s": sum(r.output_tokens for r in ok) / wall,
        # What the server counted: --input-tokens is approximate (" the" x N) per tokenizer.
        "mean_prompt_tokens": statistics.fmean(p) if (p := [r.prompt_tokens for r in ok if r.prompt_tokens]) else None,
        "ttft_s": summarize([r.ttft for r in ok]),
        "tpot_s": summarize([r.tpot for r in ok if r.tpot is not None]),
        "itl_s": summarize([x for r in ok for x in r.itl]),
        "e2e_s": summarize([r.e2e for r in ok]),
    }
    if args.slo is not None:
        good = sum(1 for r in ok if within(args.slo, r.ttft, r.tpot, r.e2e))
        stats.update(goodput_share=good / len(results), goodput_per_s=good / wall)
    return stats


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m smoke.bench", description=" ".join(__doc__.split("\n\n")[0].split()),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"), help="compare two --json reports")
    parser.add_argument("--base-url", help="server URL, http://host:port or http://host:port/v1 (OpenAI routes under /v1)")
    parser.add_argument("--model", help="served model name")
    parser.add_argument("--concurrency", default="1,2,4,8", help="closed loop: comma-separated concurrent streams per level")
    parser.add_argument("--request-rate", help="open loop instead: comma-separated request rates per second (inf: all at once)")
    parser.add_argument("--burstiness", type=float, default=1.0, help="open loop: gamma shape of the arrival gaps (1: Poisson)")
    parser.add_argument("--max-concurrency", type=int, help="open loop: at most this many requests in flight")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompts, lengths and arrival times")
    parser.add_argument("--goodput", nargs="+", metavar="SLO", help="ttft:MS tpot:MS e2el:MS: report the share within all")
    parser.add_argument("--random-range-ratio", type=float, default=0.0,
                        help="input and output lengths drawn from [L x (1-R), L x (1+R)] (0: fixed)")
    parser.add_argument("--shared-prefix-tokens", type=int, default=0,
                        help="every prompt starts with the same this-many-word prefix (shows prefix caching)")
    parser.add_argument("--warmup", type=int, default=0, help="requests sent before the first level, not reported")
    parser.add_argument("--counter-tolerance", type=float, default=0.02,
                        help="fail when the server's token/request counters differ from the bench's by more than this share")
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--input-tokens", type=int, default=128, help="requested prompt length (the server's count is reported)")
    parser.add_argument("--output-tokens", type=int, default=64, help="max_tokens per request")
    parser.add_argument("--api-key", help="bearer key, if the server requires one")
    parser.add_argument("--host-header", help="Host header to send: a model behind the KEDA HTTP add-on's interceptor (stack output models.<name>.host)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    parser.add_argument("--json", type=Path, dest="json_out", help="write the full report here")
    parser.add_argument("--plot", type=Path, help="write a latency/throughput PNG here (with --compare: both runs overlaid)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.compare and not (args.base_url and args.model):
        parser.error("--base-url and --model are required (or --compare A.json B.json)")
    if args.base_url:
        args.given_base_url, args.base_url = args.base_url, openai_base_url(args.base_url)
    try:
        args.levels = [int(c) for c in args.concurrency.split(",")]
    except ValueError:
        parser.error(f"--concurrency: comma-separated integers, got {args.concurrency!r}")
    try:  # each message names its flag
        workload.requests(0, 1, 1, range_ratio=args.random_range_ratio, shared_prefix_tokens=args.shared_prefix_tokens)
        if args.warmup < 0:
            raise ValueError(f"--warmup: must be >= 0, got {args.warmup}")
        args.rates = parse_rates(args.request_rate) if args.request_rate else []
        args.slo = parse_goodput(args.goodput) if args.goodput else None
        arrival_times(1.0, 0, args.burstiness)
    except ValueError as err:
        parser.error(str(err))
    if args.max_concurrency is not None and args.max_concurrency < 1:
        parser.error(f"--max-concurrency: must be >= 1, got {args.max_concurrency}")
    args.given_base_url = getattr(args, "given_base_url", args.base_url or "")
    if any(c < 1 for c in args.levels) or args.requests < 1 or args.output_tokens < 1 or args.input_tokens < 1:
        parser.error("--concurrency levels, --requests, --input-tokens and --output-tokens must be >= 1")
    return args


def preflight(args: argparse.Namespace) -> str | None:
    """Before any load: the server answers /v1/models and serves --model; else why not."""
    headers = request_headers(args.api_key, args.host_header)
    url = f"{args.base_url}/models"
    try:
        response = httpx.get(url, headers=headers, timeout=args.timeout)
    except httpx.HTTPError as err:
        return f"{url}: {type(err).__name__}: {err}"
    if response.status_code == 404:
        return not_found_hint(url, args.given_base_url)
    if response.status_code != 200:
        return f"{url}: HTTP {response.status_code}: {response.text[:200]}"
    served = [m.get("id") for m in response.json().get("data", [])]
    return None if args.model in served else f"--model {args.model!r} is not served at {args.base_url} (served: {served})"


def run(args: argparse.Namespace) -> dict[str, Any]:
    total = args.requests * len(args.rates or args.levels)
    if args.warmup:
        asyncio.run(warm_up(args))
    with tqdm(total=total, desc="requests", disable=args.quiet, file=sys.stderr) as progress:
        runs = [run_rate(args, r, progress) for r in args.rates] or [run_level(args, c, progress) for c in args.levels]
        levels = [checked_against_server(args, level) for level in runs]
    config = {k: getattr(args, k) for k in ("base_url", "model", "requests", "input_tokens", "output_tokens",
                                            "random_range_ratio", "shared_prefix_tokens", "warmup", "seed")}  # fmt: skip
    shape = {"request_rate": [lv["request_rate"] for lv in levels]} if args.rates else {"concurrency": args.levels}
    return {"config": {**config, **shape}, "environment": environment(args), "levels": levels}


def environment(args: argparse.Namespace) -> dict[str, Any]:
    """Where the numbers come from: the client machine and what the server says it is."""
    import datetime
    import os
    import platform

    server: Any = None
    for path in ("/version", "/props"):  # vLLM, llama-server
        try:
            response = httpx.get(args.base_url.removesuffix("/v1") + path, timeout=5)
        except httpx.HTTPError:
            continue
        if response.status_code == 200:
            body = response.json()
            server = body if path == "/version" else {k: body.get(k) for k in ("build_info", "total_slots", "model_path")}
            break
    return {"started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "client": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
            "server": server}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare:
        print(compare(*args.compare))
        if args.plot:
            compare_plot(*args.compare, args.plot)
        return 0
    problem = preflight(args)
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
        return 2
    report = run(args)
    print(markdown(report["levels"]))
    if len(report["levels"]) > 2:
        knee = saturation(report["levels"])
        print(f"saturation: throughput stops rising and TTFT p99 climbs after level {label(knee)}" if knee
              else "saturation: not reached at these levels (throughput still rises or TTFT p99 stays flat)")  # fmt: skip
    disagree = False
    for lv in report["levels"]:
        checks = lv["server_counters"]
        print(f"server counters at {label(lv)}: " + ("; ".join(server_counters.Agreement(**{k: c[k] for k in (
            "runtime", "counter", "server", "bench", "tolerance")}).describe() for c in checks) if checks else "not available"))  # fmt: skip
        disagree |= any(not c["ok"] for c in checks)
        for sample in lv["error_samples"]:
            where = f"concurrency {lv['concurrency']}" if "concurrency" in lv else label(lv)
            print(f"error at {where}: {sample}", file=sys.stderr)
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2))
    if args.plot:
        plot(report["levels"], args.plot, plot_title(args, report["levels"]))
    return 1 if disagree or any(lv["errors"] for lv in report["levels"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
