"""Latency/throughput bench for an OpenAI-compatible server (vLLM or llama-server).

    python -m smoke.bench --base-url URL --model NAME --concurrency 1,2,4,8 --requests N \
        --input-tokens I --output-tokens O [--api-key K] [--json out.json] [--plot out.png]
    python -m smoke.bench --compare fp16.json awq.json

Closed loop per concurrency level: C workers each send streaming completions until N are done.
Per request: TTFT (first streamed text), TPOT ((e2e - TTFT) / (tokens - 1)), inter-token
latencies, end-to-end latency; per level p50/p90/p99, requests/s, output tokens/s and errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from smoke.client import not_found_hint, openai_base_url, sse_data

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
    if first is None:
        return RequestResult(False, error="stream carried no tokens")
    return RequestResult(
        True, ttft=first - start, e2e=end - start, output_tokens=usage.get("completion_tokens") or chunks,
        prompt_tokens=usage.get("prompt_tokens"), itl=itl,
    )  # fmt: skip


async def _adata(response: httpx.Response):
    async for line in response.aiter_lines():
        for data in sse_data(iter([line])):
            yield data


async def run_level(args: argparse.Namespace, concurrency: int, progress: tqdm) -> dict[str, Any]:
    url = f"{args.base_url.rstrip('/')}/completions"
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    body = {
        "model": args.model,
        "prompt": " the" * args.input_tokens,  # one token per word in common vocabularies
        "max_tokens": args.output_tokens,
        "temperature": 0,
        "stream": True,
        "ignore_eos": True,  # vLLM and llama-server both honour it: fixed output length
        "stream_options": {"include_usage": True},
    }
    results: list[RequestResult] = []
    remaining = args.requests
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(args.timeout)

    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                results.append(await one_request(client, url, body, headers, getattr(args, "given_base_url", "")))
                progress.update(1)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start

    ok = [r for r in results if r.ok]
    return {
        "concurrency": concurrency,
        "requests": len(results),
        "errors": len(results) - len(ok),
        "error_samples": sorted({r.error for r in results if not r.ok})[:3],
        "wall_s": wall,
        "requests_per_s": len(ok) / wall,
        "output_tokens_per_s": sum(r.output_tokens for r in ok) / wall,
        # What the server counted: --input-tokens is approximate (" the" x N) per tokenizer.
        "mean_prompt_tokens": statistics.fmean(p) if (p := [r.prompt_tokens for r in ok if r.prompt_tokens]) else None,
        "ttft_s": summarize([r.ttft for r in ok]),
        "tpot_s": summarize([r.tpot for r in ok if r.tpot is not None]),
        "itl_s": summarize([x for r in ok for x in r.itl]),
        "e2e_s": summarize([r.e2e for r in ok]),
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def markdown(levels: list[dict[str, Any]]) -> str:
    head = ("| conc. | req | err | req/s | out tok/s | TTFT p50/p90/p99 ms | TPOT p50/p90/p99 ms "
            "| ITL p50/p99 ms | E2E p50/p99 ms |")  # fmt: skip
    lines = [head, "|" + "---|" * 9]
    for lv in levels:
        t, p, i, e = lv["ttft_s"], lv["tpot_s"], lv["itl_s"], lv["e2e_s"]
        lines.append(
            f"| {lv['concurrency']} | {lv['requests']} | {lv['errors']} | {lv['requests_per_s']:.2f} "
            f"| {lv['output_tokens_per_s']:.1f} | {_ms(t['p50'])}/{_ms(t['p90'])}/{_ms(t['p99'])} "
            f"| {_ms(p['p50'])}/{_ms(p['p90'])}/{_ms(p['p99'])} | {_ms(i['p50'])}/{_ms(i['p99'])} "
            f"| {_ms(e['p50'])}/{_ms(e['p99'])} |"
        )
    return "\n".join(lines)


def plot(levels: list[dict[str, Any]], path: Path, title: str) -> None:
    """Latency (TTFT/TPOT p50 and p99) and throughput (tokens/s, requests/s) versus concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    conc = [lv["concurrency"] for lv in levels]
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT")):
        for p, style in (("p50", "-o"), ("p99", "--x")):
            lat.plot(conc, [(lv[key][p] or 0) * 1000 for lv in levels], style, label=f"{label} {p}")
    tokens = thr.plot(conc, [lv["output_tokens_per_s"] for lv in levels], "-o", label="output tokens/s")
    req_axis = thr.twinx()
    requests = req_axis.plot(conc, [lv["requests_per_s"] for lv in levels], "--s", color="tab:orange", label="requests/s")
    for ax, name, unit in ((lat, "latency", "ms"), (thr, "throughput", "output tokens/s")):
        ax.set(xlabel="concurrent streams", ylabel=unit, title=name, xscale="log")
        ax.set_xticks(conc, [str(c) for c in conc])
        ax.xaxis.set_minor_formatter(NullFormatter())
    req_axis.set_ylabel("requests/s")
    lat.legend(loc="upper left")
    thr.legend(tokens + requests, [line.get_label() for line in tokens + requests], loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def compare(a_path: Path, b_path: Path) -> str:
    """Ratios b / a per concurrency level (e.g. AWQ over FP16): > 1 means b is larger."""
    a, b = (json.loads(p.read_text()) for p in (a_path, b_path))
    b_levels = {lv["concurrency"]: lv for lv in b["levels"]}
    lines = [f"ratios {b_path.name} / {a_path.name}", "| conc. | out tok/s | req/s | TTFT p50 | TPOT p50 | E2E p99 |", "|---|---|---|---|---|---|"]

    def ratio(x: float | None, y: float | None) -> str:
        return "-" if not x or y is None else f"{y / x:.2f}x"

    for lv in a["levels"]:
        other = b_levels.get(lv["concurrency"])
        if other is None:
            continue
        lines.append(
            f"| {lv['concurrency']} | {ratio(lv['output_tokens_per_s'], other['output_tokens_per_s'])} "
            f"| {ratio(lv['requests_per_s'], other['requests_per_s'])} "
            f"| {ratio(lv['ttft_s']['p50'], other['ttft_s']['p50'])} "
            f"| {ratio(lv['tpot_s']['p50'], other['tpot_s']['p50'])} "
            f"| {ratio(lv['e2e_s']['p99'], other['e2e_s']['p99'])} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m smoke.bench", description=" ".join(__doc__.split("\n\n")[0].split()),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"), help="compare two --json reports")
    parser.add_argument("--base-url", help="server URL, http://host:port or http://host:port/v1 (OpenAI routes under /v1)")
    parser.add_argument("--model", help="served model name")
    parser.add_argument("--concurrency", default="1,2,4,8", help="comma-separated concurrent streams per level")
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--input-tokens", type=int, default=128, help="requested prompt length (the server's count is reported)")
    parser.add_argument("--output-tokens", type=int, default=64, help="max_tokens per request")
    parser.add_argument("--api-key", help="bearer key, if the server requires one")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    parser.add_argument("--json", type=Path, dest="json_out", help="write the full report here")
    parser.add_argument("--plot", type=Path, help="write a latency/throughput PNG here")
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
    if any(c < 1 for c in args.levels) or args.requests < 1 or args.output_tokens < 1 or args.input_tokens < 1:
        parser.error("--concurrency levels, --requests, --input-tokens and --output-tokens must be >= 1")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    total = args.requests * len(args.levels)
    with tqdm(total=total, desc="requests", disable=args.quiet, file=sys.stderr) as progress:
        levels = [asyncio.run(run_level(args, c, progress)) for c in args.levels]
    config = {k: getattr(args, k) for k in ("base_url", "model", "requests", "input_tokens", "output_tokens")}
    return {"config": {**config, "concurrency": args.levels}, "levels": levels}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare:
        print(compare(*args.compare))
        return 0
    report = run(args)
    print(markdown(report["levels"]))
    for lv in report["levels"]:
        for sample in lv["error_samples"]:
            print(f"error at concurrency {lv['concurrency']}: {sample}", file=sys.stderr)
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2))
    if args.plot:
        plot(report["levels"], args.plot, plot_title(args, report["levels"]))
    return 1 if any(lv["errors"] for lv in report["levels"]) else 0


def plot_title(args: argparse.Namespace, levels: list[dict[str, Any]]) -> str:
    """Prompt length as the server counted it (what was measured), not the requested number."""
    measured = [lv["mean_prompt_tokens"] for lv in levels if lv.get("mean_prompt_tokens")]
    prompt = f"{statistics.fmean(measured):.0f} prompt tokens (measured)" if measured else f"~{args.input_tokens} prompt tokens (requested; server reported none)"
    return f"{args.model}: {prompt} / {args.output_tokens} out"


if __name__ == "__main__":
    raise SystemExit(main())
