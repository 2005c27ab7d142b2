"""Open-loop load for the bench, as `vllm bench serve` drives it: requests arrive at a rate whatever
the server's state (gamma-distributed gaps: shape 1 = Poisson, < 1 burstier, > 1 more regular;
rate `inf` = all at once), optionally capped at a number in flight. Also goodput against SLOs and
the saturation point of a sweep."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any


def parse_rates(text: str) -> list[float]:
    """`--request-rate 1,2,4,inf` -> [1.0, 2.0, 4.0, inf]; each rate > 0."""
    try:
        rates = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--request-rate: comma-separated numbers or inf, got {text!r}") from None
    if any(not rate > 0 for rate in rates):
        raise ValueError(f"--request-rate: rates must be > 0 (or inf), got {text!r}")
    return rates


def arrival_times(rate: float, count: int, burstiness: float = 1.0, seed: int = 0) -> list[float]:
    """Start offsets in seconds of `count` requests at `rate` per second: gaps drawn from a gamma
    distribution with shape `burstiness` and mean 1 / rate (vllm bench serve's --burstiness)."""
    if burstiness <= 0:
        raise ValueError(f"--burstiness: must be > 0, got {burstiness}")
    if math.isinf(rate):
        return [0.0] * count
    rng, t, offsets = random.Random(seed), 0.0, []
    for _ in range(count):
        offsets.append(t)
        t += rng.gammavariate(burstiness, 1.0 / (rate * burstiness))
    return offsets


@dataclass(frozen=True)
class Slo:
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2el_ms: float | None = None


def parse_goodput(items: list[str]) -> Slo:
    """`--goodput ttft:200 tpot:50 e2el:5000` (milliseconds, as vllm bench serve takes them)."""
    limits: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition(":")
        if not sep or key not in ("ttft", "tpot", "e2el"):
            raise ValueError(f"--goodput: expected ttft:MS, tpot:MS or e2el:MS, got {item!r}")
        try:
            limits[key] = float(value)
        except ValueError:
            raise ValueError(f"--goodput: {key} needs milliseconds, got {value!r}") from None
    return Slo(limits.get("ttft"), limits.get("tpot"), limits.get("e2el"))


def within(slo: Slo, ttft: float, tpot: float | None, e2e: float) -> bool:
    """One successful request (seconds) meets every SLO that is set."""
    return ((slo.ttft_ms is None or ttft * 1000 <= slo.ttft_ms)
            and (slo.tpot_ms is None or tpot is None or tpot * 1000 <= slo.tpot_ms)
            and (slo.e2el_ms is None or e2e * 1000 <= slo.e2el_ms))  # fmt: skip


def saturation(levels: list[dict[str, Any]], gain: float = 1.05, climb: float = 1.5) -> dict[str, Any] | None:
    """The last level before throughput stops rising (less than `gain` x the level before) while
    TTFT p99 climbs (more than `climb` x): the load the server sustains. None if no level shows it."""
    for before, after in zip(levels, levels[1:]):
        rising = after["output_tokens_per_s"] >= gain * before["output_tokens_per_s"]
        ttft_before, ttft_after = before["ttft_s"]["p99"], after["ttft_s"]["p99"]
        if not rising and ttft_before and ttft_after and ttft_after > climb * ttft_before:
            return before
    return None
