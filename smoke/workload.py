"""What the bench sends: prompts and output lengths, seeded so a run can be repeated.

- fixed (default): every prompt `input_tokens` words, every output `output_tokens`;
- `--random-range-ratio R`: lengths drawn uniformly from [L x (1 - R), L x (1 + R)] for both, as
  vllm bench serve's random dataset does;
- `--shared-prefix-tokens P`: every prompt starts with the same P-word "system prompt" and ends in
  its own words, the shape prefix caching speeds up (compare TTFT with and without).
Words are common English words (about one token each in common vocabularies); the server's `usage`
gives the real counts the report uses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

WORDS = ("the", "model", "serves", "tokens", "quickly", "while", "many", "users", "ask", "about", "weather", "code",
         "history", "music", "and", "science", "today", "please", "explain", "why", "how", "this", "works")  # fmt: skip


@dataclass(frozen=True)
class Request:
    prompt: str
    max_tokens: int


def _words(rng: random.Random, count: int) -> str:
    return " " + " ".join(rng.choice(WORDS) for _ in range(count))


def _length(rng: random.Random, length: int, ratio: float) -> int:
    return max(1, round(rng.uniform(length * (1 - ratio), length * (1 + ratio)))) if ratio else length


def requests(count: int, input_tokens: int, output_tokens: int, *, range_ratio: float = 0.0,
             shared_prefix_tokens: int = 0, seed: int = 0) -> list[Request]:  # fmt: skip
    """`count` requests; the same arguments and seed give the same list."""
    if not 0 <= range_ratio < 1:
        raise ValueError(f"--random-range-ratio: from 0 up to (not including) 1, got {range_ratio}")
    if shared_prefix_tokens < 0:
        raise ValueError(f"--shared-prefix-tokens: must be >= 0, got {shared_prefix_tokens}")
    rng = random.Random(seed)
    prefix = _words(rng, shared_prefix_tokens) if shared_prefix_tokens else ""
    out = []
    for _ in range(count):
        own = _length(rng, input_tokens, range_ratio)
        out.append(Request(prefix + _words(rng, own), _length(rng, output_tokens, range_ratio)))
    return out
