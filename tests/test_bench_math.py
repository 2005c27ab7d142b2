"""Bench statistics and the FP16-vs-AWQ comparison, on constructed numbers."""

from __future__ import annotations

import json
from pathlib import Path

from smoke.bench import compare, percentile, summarize


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 90) == 90.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 50) is None
    assert summarize([]) == {"p50": None, "p90": None, "p99": None, "mean": None}


def _report(path: Path, tok_s: float, ttft: float) -> Path:
    stats = {"p50": ttft, "p90": ttft, "p99": ttft, "mean": ttft}
    level = {"concurrency": 4, "requests_per_s": tok_s / 100, "output_tokens_per_s": tok_s,
             "ttft_s": stats, "tpot_s": stats, "e2e_s": stats}  # fmt: skip
    path.write_text(json.dumps({"levels": [level]}))
    return path


def test_compare_prints_ratios_of_b_over_a(tmp_path: Path) -> None:
    fp16 = _report(tmp_path / "fp16.json", tok_s=1000, ttft=0.2)
    awq = _report(tmp_path / "awq.json", tok_s=1500, ttft=0.1)
    table = compare(fp16, awq)
    assert "| 4 | 1.50x | 1.50x | 0.50x | 0.50x | 0.50x |" in table
