"""Open-loop arrivals, goodput and the saturation point of a sweep (smoke/load_shapes.py), on
constructed numbers; and the open-loop bench against the instant fake server."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from smoke.load_shapes import Slo, arrival_times, parse_goodput, parse_rates, saturation, within


def _gaps(rate: float, burstiness: float) -> list[float]:
    times = arrival_times(rate, 4000, burstiness, seed=7)
    return [b - a for a, b in zip(times, times[1:])]


def test_poisson_arrivals_average_the_requested_rate() -> None:
    gaps = _gaps(5.0, 1.0)
    assert statistics.fmean(gaps) == pytest.approx(0.2, rel=0.05)
    assert statistics.stdev(gaps) / statistics.fmean(gaps) == pytest.approx(1.0, rel=0.1)  # exponential: CV 1


def test_burstiness_below_one_clusters_arrivals_at_the_same_mean_rate() -> None:
    bursty, regular = _gaps(5.0, 0.25), _gaps(5.0, 4.0)
    assert statistics.fmean(bursty) == pytest.approx(0.2, rel=0.1) == statistics.fmean(regular)
    assert statistics.stdev(bursty) > 3 * statistics.stdev(regular)


def test_infinite_rate_sends_everything_at_once_and_seed_repeats() -> None:
    assert arrival_times(math.inf, 5) == [0.0] * 5
    assert arrival_times(2.0, 10, seed=3) == arrival_times(2.0, 10, seed=3) != arrival_times(2.0, 10, seed=4)


def test_bad_rates_and_slos_name_the_flag() -> None:
    assert parse_rates("1,2.5,inf") == [1.0, 2.5, math.inf]
    for text in ("0", "fast", "-1"):
        with pytest.raises(ValueError, match="--request-rate"):
            parse_rates(text)
    assert parse_goodput(["ttft:200", "e2el:5000"]) == Slo(ttft_ms=200, e2el_ms=5000)
    with pytest.raises(ValueError, match="--goodput: expected ttft:MS"):
        parse_goodput(["latency:5"])


def test_goodput_needs_every_slo() -> None:
    slo = Slo(ttft_ms=200, tpot_ms=50, e2el_ms=3000)
    assert within(slo, ttft=0.15, tpot=0.04, e2e=2.0)
    assert not within(slo, ttft=0.25, tpot=0.04, e2e=2.0) and not within(slo, ttft=0.15, tpot=0.06, e2e=2.0)
    assert not within(slo, ttft=0.15, tpot=0.04, e2e=3.5)


def _level(rate: float, tok_s: float, ttft_p99: float) -> dict:
    return {"request_rate": rate, "output_tokens_per_s": tok_s, "ttft_s": {"p99": ttft_p99}}


def test_saturation_is_the_last_level_before_throughput_flattens_and_ttft_climbs() -> None:
    levels = [_level(1, 100, 0.1), _level(2, 200, 0.1), _level(4, 390, 0.12), _level(8, 400, 0.9), _level(16, 405, 3.0)]
    assert saturation(levels)["request_rate"] == 4
    assert saturation(levels[:3]) is None  # still rising


def test_open_loop_bench_reports_a_row_per_rate_with_goodput(fake_server, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from smoke.bench import main as bench

    server = fake_server("healthy")
    out = tmp_path / "open.json"
    rc = bench(["--base-url", server.base_url, "--model", "fake-model", "--request-rate", "20,inf", "--requests", "10",
                "--max-concurrency", "4", "--goodput", "ttft:5000", "e2el:10000", "--quiet", "--json", str(out)])  # fmt: skip
    assert rc == 0
    report = json.loads(out.read_text())
    assert [lv["request_rate"] for lv in report["levels"]] == [20.0, "inf"]
    assert all(lv["requests"] == 10 and lv["goodput_share"] == 1.0 and lv["max_concurrency"] == 4 for lv in report["levels"])
    assert "| 20.0 req/s (max 4) |" in capsys.readouterr().out


def test_bench_fails_when_the_server_counters_disagree(fake_server, capsys: pytest.CaptureFixture[str]) -> None:
    from smoke.bench import main as bench
    from smoke.fake_server import FakeServer

    server = fake_server("healthy")
    server.count = lambda tokens: FakeServer.count(server, 2 * tokens)  # a server that double-counts
    assert bench(["--base-url", server.base_url, "--model", "fake-model", "--concurrency", "1", "--requests", "3", "--quiet"]) == 1
    assert "llamacpp:tokens_predicted_total: server counted 48, bench 24 (DISAGREE within 2%)" in capsys.readouterr().out


@pytest.mark.parametrize("runtime, tokens, requests", [
    ("vllm", "vllm:generation_tokens_total", "vllm:request_success_total"),
    ("sglang", "sglang:generation_tokens_total", "sglang:num_requests_total"),
])  # fmt: skip
def test_bench_checks_token_and_request_counters(fake_server, tmp_path: Path, runtime: str, tokens: str, requests: str) -> None:
    from smoke.bench import main as bench

    server = fake_server("healthy", runtime=runtime)
    out = tmp_path / f"{runtime}.json"
    assert bench(["--base-url", server.base_url, "--model", "fake-model", "--concurrency", "2", "--requests", "4",
                  "--quiet", "--json", str(out)]) == 0  # fmt: skip
    checks = {c["counter"]: (c["server"], c["bench"]) for c in json.loads(out.read_text())["levels"][0]["server_counters"]}
    assert checks == {tokens: (32, 32), requests: (4, 4)}


def test_workload_repeats_with_its_seed_and_keeps_lengths_in_range() -> None:
    from smoke.workload import requests

    batch = requests(200, 100, 40, range_ratio=0.5, seed=11)
    assert batch == requests(200, 100, 40, range_ratio=0.5, seed=11) != requests(200, 100, 40, range_ratio=0.5, seed=12)
    assert all(50 <= len(r.prompt.split()) <= 150 and 20 <= r.max_tokens <= 60 for r in batch)
    assert len({r.max_tokens for r in batch}) > 10


def test_shared_prefix_workload_shares_exactly_the_prefix() -> None:
    from smoke.workload import requests

    a, b = requests(2, 10, 8, shared_prefix_tokens=300, seed=1)
    assert a.prompt.split()[:300] == b.prompt.split()[:300] and a.prompt != b.prompt
    with pytest.raises(ValueError, match="--random-range-ratio"):
        requests(1, 10, 8, range_ratio=1.5)


def test_bench_refuses_a_model_the_server_does_not_serve(fake_server, capsys: pytest.CaptureFixture[str]) -> None:
    from smoke.bench import main as bench

    server = fake_server("healthy")
    assert bench(["--base-url", server.base_url, "--model", "qwen-typo", "--requests", "1", "--quiet"]) == 2
    assert f"--model 'qwen-typo' is not served at {server.base_url} (served: ['fake-model'])" in capsys.readouterr().err
