"""Routing bench: the same chat workload sent three ways to real servers, with the prefix-cache hit
rate each replica itself reports.

    python -m smoke.routing_bench [--replicas 3] [--system-prompts 4] [--users 12] [--turns 4] [--json out.json] [--plot out.png]

A local cluster (pods on loopback IPs) runs the chart's objects for a llama.cpp model with N
replicas and prefix-aware routing; a real llama-server listens on each replica's pod IP; the real
endpoint picker (GIE v1.5.0) and the stand-in gateway sit in front (localcp/routed_model.py).
Workload: a few long system prompts shared by many users; each user holds a multi-turn
conversation (turn k's prompt = system prompt + the whole conversation so far), users run
concurrently. Modes, each with its own fresh prompts (so no mode warms another's cache):

  picker       through the gateway: the picker chooses the replica
  round-robin  straight to the replicas in turn (what a Service does: no affinity)
  ideal        every request to one replica (the hit rate one replica gets on this workload)

Per mode: hit rate = cached prompt tokens / prompt tokens, from llama-server's own per-request
`timings` (cache_n reused, prompt_n computed), prompt tokens computed, TTFT p50/p99 (streamed),
output tokens/s from the servers' llamacpp:tokens_predicted_total, and hit rate / ideal.
Numbers depend on the machine; nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from smoke.server_counters import COUNTERS, read

MODEL = "tiny"
WORDS = ("policy manual section answer customer order refund shipping account invoice warranty "
         "support ticket escalation priority region latency token cache replica gateway").split()  # fmt: skip


@dataclass
class ModeResult:
    mode: str
    requests: int = 0
    errors: int = 0
    first_error: str | None = None
    prompt_computed: int = 0
    prompt_cached: int = 0
    ttft: list[float] = field(default_factory=list)
    output_tokens: float = 0
    wall: float = 0
    replicas_used: dict[str, int] = field(default_factory=dict)

    @property
    def hit_rate(self) -> float:
        total = self.prompt_computed + self.prompt_cached
        return self.prompt_cached / total if total else 0.0

    def as_dict(self, ideal: float | None) -> dict[str, Any]:
        return {"mode": self.mode, "requests": self.requests, "errors": self.errors, "hit_rate": round(self.hit_rate, 4),
                "prompt_tokens_computed": self.prompt_computed, "prompt_tokens_cached": self.prompt_cached,
                "ttft_p50_s": _pct(self.ttft, 50), "ttft_p99_s": _pct(self.ttft, 99),
                "output_tokens_per_s": round(self.output_tokens / self.wall, 2) if self.wall else None,
                "hit_rate_vs_ideal": round(self.hit_rate / ideal, 3) if ideal else None, "replicas_used": self.replicas_used}  # fmt: skip


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))], 4)


def system_prompts(count: int, words: int, rng: random.Random) -> list[str]:
    return [f"System {i}: " + " ".join(rng.choice(WORDS) for _ in range(words)) for i in range(count)]


def _stream(url: str, prompt: str, max_tokens: int) -> tuple[str, float | None, dict[str, Any], str | None]:
    """One streamed completion: (text, TTFT, llama-server timings, the replica that served it)."""
    body = {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True}
    start, ttft, text, timings = time.monotonic(), None, [], {}
    with httpx.stream("POST", f"{url}/completions", json=body, timeout=120) as response:
        response.raise_for_status()
        served = response.headers.get("x-gateway-destination-endpoint-served")
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            timings = chunk.get("timings") or timings
            piece = (chunk.get("choices") or [{}])[0].get("text") or ""
            if piece and ttft is None:
                ttft = time.monotonic() - start
            text.append(piece)
    return "".join(text), ttft, timings, served


def run_mode(mode: str, urls: list[str], systems: list[str], users: int, turns: int, concurrency: int,
             max_tokens: int, rng: random.Random, counters, user_words: int = 6) -> ModeResult:  # fmt: skip
    """Users in parallel (at most `concurrency`), each user's turns in order."""
    result, lock, rr = ModeResult(mode), threading.Lock(), [0]
    queue = list(range(users))
    rng.shuffle(queue)
    before = counters()

    def pick_url() -> str:
        with lock:
            rr[0] += 1
            return urls[rr[0] % len(urls)]

    def user(u: int) -> None:
        history = systems[u % len(systems)] + "\n"
        for turn in range(turns):
            history += f"User {u}: " + " ".join(rng.choice(WORDS) for _ in range(user_words)) + "\nAssistant:"
            try:
                text, ttft, timings, served = _stream(pick_url(), history, max_tokens)
            except httpx.HTTPError as err:
                with lock:
                    result.errors += 1
                    result.first_error = result.first_error or f"{type(err).__name__}: {err}"
                return
            history += text + "\n"
            with lock:
                result.requests += 1
                result.prompt_computed += int(timings.get("prompt_n", 0))
                result.prompt_cached += int(timings.get("cache_n", 0))
                if ttft is not None:
                    result.ttft.append(ttft)
                if served:
                    result.replicas_used[served] = result.replicas_used.get(served, 0) + 1

    start = time.monotonic()
    threads: list[threading.Thread] = []
    while queue or threads:
        threads = [t for t in threads if t.is_alive()]
        while queue and len(threads) < concurrency:
            t = threading.Thread(target=user, args=(queue.pop(),))
            t.start()
            threads.append(t)
        time.sleep(0.02)
    result.wall = time.monotonic() - start
    result.output_tokens = counters() - before
    return result


def predicted_tokens(server_roots: list[str]) -> float:
    """Tokens the replicas generated, from their own counters (the bench's trust check reads the same)."""
    counter = COUNTERS["llamacpp"]["tokens"]
    return sum((read(root, {}, MODEL) or {}).get(counter, 0.0) for root in server_roots)


def table(rows: list[dict[str, Any]]) -> str:
    head = f"{'mode':<12} {'reqs':>5} {'err':>4} {'hit rate':>9} {'computed':>9} {'cached':>8} {'TTFT p50':>9} {'TTFT p99':>9} {'out tok/s':>10} {'vs ideal':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['mode']:<12} {r['requests']:>5} {r['errors']:>4} {r['hit_rate']:>9.1%} {r['prompt_tokens_computed']:>9} "
                     f"{r['prompt_tokens_cached']:>8} {r['ttft_p50_s'] or 0:>8.3f}s {r['ttft_p99_s'] or 0:>8.3f}s "
                     f"{r['output_tokens_per_s'] or 0:>10.1f} {r['hit_rate_vs_ideal'] or 0:>9.2f}")  # fmt: skip
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    modes = [r["mode"] for r in rows]
    a.bar(modes, [100 * r["hit_rate"] for r in rows], color=["#2a7", "#c84", "#59c"][: len(rows)])
    a.set_ylabel("prefix-cache hit rate (%)")
    a.set_ylim(0, 100)
    b.bar(modes, [r["prompt_tokens_computed"] for r in rows], color=["#2a7", "#c84", "#59c"][: len(rows)])
    b.set_ylabel("prompt tokens computed")
    fig.suptitle("Same chat workload, three ways: 3 llama-server replicas (hit rate from their own per-request timings)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--slots", type=int, default=2, help="llama-server --parallel per replica")
    p.add_argument("--system-prompts", type=int, default=4)
    p.add_argument("--system-words", type=int, default=40, help="words per system prompt (the tiny GGUF's vocabulary: ~7 tokens a word)")
    p.add_argument("--user-words", type=int, default=6, help="words per user turn")
    p.add_argument("--users", type=int, default=12)
    p.add_argument("--turns", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path)
    p.add_argument("--plot", type=Path)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from infra.chart import render
    from infra.planner import plan_stack
    from infra.program import MODEL_NAMESPACE_LABELS
    from infra.stack import parse
    from localcp.cluster import LOOPBACK_POD_CIDR, LocalCluster
    from localcp.process import reap_on_exit
    from localcp.routed_model import RoutedModel
    from smoke.local_server import SLOT_CONTEXT, llama_bin_dir, make_models, serve

    context = SLOT_CONTEXT

    reap_on_exit()

    raw = {"namespace": "llm-bench", "platform": {"inferenceGateway": {"enabled": True}},
           # The chart's objects for the replicas the servers stand for (hf:// so no claim is needed).
           "models": [{"name": MODEL, "runtime": "llamacpp", "source": {"uri": "hf://TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"},
                       "ggufFile": "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", "maxModelLen": context, "maxNumSeqs": args.slots,
                       "replicas": args.replicas, "resources": {"cpu": "2500m", "memory": "2Gi"}}]}  # fmt: skip
    config = plan_stack(parse(raw)).config
    objects = render(config.chart_values(), release="llm", namespace="llm-bench")
    llama = llama_bin_dir()
    with tempfile.TemporaryDirectory(prefix="routing-bench-") as tmp:
        work = Path(tmp)
        (work / "gguf").mkdir()
        model = make_models(llama, work / "gguf")["tiny-f16"]
        cluster = LocalCluster(work / "cluster", pod_cidr=LOOPBACK_POD_CIDR).start()
        try:
            def serve_replica(ip: str, port: int, index: int):
                return serve(llama, model, MODEL, slots=args.slots, host=ip, port=port)

            routed = RoutedModel(cluster, work / "routed", objects, MODEL, serve_replica, MODEL_NAMESPACE_LABELS).start()
            try:
                direct = [s.base_url for s in routed.servers]
                roots = [s.base_url.removesuffix("/v1") for s in routed.servers]
                rng = random.Random(args.seed)
                rows: list[ModeResult] = []
                for mode, urls in (("ideal", direct[:1]), ("round-robin", direct), ("picker", [routed.route_url])):
                    systems = system_prompts(args.system_prompts, args.system_words, rng)
                    print(f"== {mode}: {args.users} users x {args.turns} turns over {len(systems)} system prompts", flush=True)
                    rows.append(run_mode(mode, urls, systems, args.users, args.turns, args.concurrency, args.max_tokens,
                                         rng, lambda: predicted_tokens(roots), args.user_words))  # fmt: skip
                    if rows[-1].first_error:
                        print(f"   {rows[-1].errors} failed, first: {rows[-1].first_error}", flush=True)
            finally:
                routed.stop()
        finally:
            cluster.stop()
    ideal = rows[0].hit_rate
    report = [r.as_dict(ideal) for r in rows]
    print(table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "modes": report}, indent=2))
    if args.plot:
        plot(report, args.plot)
    return 1 if any(r.errors for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
