"""Trust check for the bench: after a level, the server's own Prometheus counters must have moved by
what the bench counted. Generated tokens: llama.cpp `llamacpp:tokens_predicted_total`, vLLM
`vllm:generation_tokens_total`; finished requests: vLLM `vllm:request_success_total` (llama.cpp
exports no request counter). Prompt tokens are not compared: servers count only the tokens they
computed, and prefix caching skips the rest."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import httpx

from infra.diagnose import parse_exposition

COUNTERS = {
    "llamacpp": {"tokens": "llamacpp:tokens_predicted_total"},
    "vllm": {"tokens": "vllm:generation_tokens_total", "requests": "vllm:request_success_total"},
    # SGLang 0.5.23 sglang/srt/observability/metrics_collector.py: "Number of requests processed."
    "sglang": {"tokens": "sglang:generation_tokens_total", "requests": "sglang:num_requests_total"},
}


def read(root_url: str, headers: dict[str, str], model: str) -> dict[str, float] | None:
    """The compared counters from `<root>/metrics` (vLLM series filtered to `model_name`), or None
    when the endpoint serves no metrics (a gateway, say)."""
    try:
        response = httpx.get(f"{root_url}/metrics", headers=headers, timeout=10)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    totals: dict[str, float] = {}
    for sample in parse_exposition(response.text):
        if sample.labels.get("model_name", model) == model:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


@dataclass(frozen=True)
class Agreement:
    runtime: str
    counter: str
    server: float
    bench: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return abs(self.server - self.bench) <= self.tolerance * max(self.bench, 1)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def describe(self) -> str:
        return (f"{self.counter}: server counted {self.server:.0f}, bench {self.bench:.0f} "
                f"({'agree' if self.ok else 'DISAGREE'} within {self.tolerance:.0%})")  # fmt: skip


def compare(before: dict[str, float] | None, after: dict[str, float] | None, tokens: int, requests: int,
            tolerance: float) -> list[Agreement]:  # fmt: skip
    """One Agreement per counter the server exports; none without metrics on both sides."""
    if not before or not after:
        return []
    runtime = next((r for r, names in COUNTERS.items() if names["tokens"] in after), None)
    if runtime is None:
        return []
    counted = {"tokens": tokens, "requests": requests}
    return [Agreement(runtime, name, after.get(name, 0.0) - before.get(name, 0.0), counted[kind], tolerance)
            for kind, name in COUNTERS[runtime].items()]  # fmt: skip
