"""Bench statistics and the FP16-vs-AWQ comparison, on constructed numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def test_bench_prints_error_samples_when_requests_fail(fake_server, capsys) -> None:
    from smoke.bench import main as bench

    server = fake_server("server-error")
    code = bench(["--base-url", server.base_url, "--model", server.model, "--concurrency", "1", "--requests", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "error at concurrency 1: HTTP 500" in err and "out of memory" in err


def test_plot_title_gives_the_measured_prompt_length() -> None:
    from argparse import Namespace

    from smoke.bench import plot_title

    args = Namespace(model="m", input_tokens=128, output_tokens=64)
    assert plot_title(args, [{"mean_prompt_tokens": 131.0}, {"mean_prompt_tokens": 133.0}]) == "m: 132 prompt tokens (measured) / 64 out"
    assert "requested" in plot_title(args, [{"mean_prompt_tokens": None}])


def test_bench_help_shows_the_defaults(capsys) -> None:
    from smoke.bench import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 1,2,4,8)", "(default: 32)", "(default: 128)", "(default: 64)", "(default: 300.0)"):
        assert default in out
