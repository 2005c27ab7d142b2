"""The bench's report: the Markdown table, the latency/throughput plot, the comparison of two runs.
A level is one concurrency (closed loop) or one request rate (open loop); `label` says which."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any


def label(level: dict[str, Any]) -> str:
    """How a level is named in tables and comparisons: `4` (streams) or `2.0 req/s`."""
    if "request_rate" in level:
        cap = f" (max {level['max_concurrency']})" if level.get("max_concurrency") else ""
        return f"{level['request_rate']} req/s{cap}"
    return str(level["concurrency"])


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def markdown(levels: list[dict[str, Any]]) -> str:
    goodput = any("goodput_share" in lv for lv in levels)
    first = "rate" if levels and "request_rate" in levels[0] else "conc."
    head = (f"| {first} | req | err | req/s | out tok/s | TTFT p50/p90/p99 ms | TPOT p50/p90/p99 ms "
            "| ITL p50/p99 ms | E2E p50/p99 ms |" + (" goodput |" if goodput else ""))  # fmt: skip
    lines = [head, "|" + "---|" * (10 if goodput else 9)]
    for lv in levels:
        t, p, i, e = lv["ttft_s"], lv["tpot_s"], lv["itl_s"], lv["e2e_s"]
        lines.append(
            f"| {label(lv)} | {lv['requests']} | {lv['errors']} | {lv['requests_per_s']:.2f} "
            f"| {lv['output_tokens_per_s']:.1f} | {_ms(t['p50'])}/{_ms(t['p90'])}/{_ms(t['p99'])} "
            f"| {_ms(p['p50'])}/{_ms(p['p90'])}/{_ms(p['p99'])} | {_ms(i['p50'])}/{_ms(i['p99'])} "
            f"| {_ms(e['p50'])}/{_ms(e['p99'])} |"
            + (f" {lv['goodput_share']:.0%} ({lv['goodput_per_s']:.2f}/s) |" if goodput else "")
        )
    return "\n".join(lines)


def plot(levels: list[dict[str, Any]], path: Path, title: str) -> None:
    """Latency (TTFT/TPOT p50 and p99) and throughput (tokens/s, requests/s) versus concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    levels = [lv for lv in levels if lv.get("request_rate") != "inf"]  # an all-at-once level has no x
    rates = "request_rate" in levels[0]
    conc = [lv["request_rate" if rates else "concurrency"] for lv in levels]
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT")):
        for p, style in (("p50", "-o"), ("p99", "--x")):
            lat.plot(conc, [(lv[key][p] or 0) * 1000 for lv in levels], style, label=f"{label} {p}")
    tokens = thr.plot(conc, [lv["output_tokens_per_s"] for lv in levels], "-o", label="output tokens/s")
    req_axis = thr.twinx()
    requests = req_axis.plot(conc, [lv["requests_per_s"] for lv in levels], "--s", color="tab:orange", label="requests/s")
    for ax, name, unit in ((lat, "latency", "ms"), (thr, "throughput", "output tokens/s")):
        ax.set(xlabel="request rate (req/s)" if rates else "concurrent streams", ylabel=unit, title=name, xscale="log")
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
    b_levels = {label(lv): lv for lv in b["levels"]}
    lines = [f"ratios {b_path.name} / {a_path.name}", "| conc./rate | out tok/s | req/s | TTFT p50 | TPOT p50 | E2E p99 |", "|---|---|---|---|---|---|"]

    def ratio(x: float | None, y: float | None) -> str:
        return "-" if not x or y is None else f"{y / x:.2f}x"

    for lv in a["levels"]:
        other = b_levels.get(label(lv))
        if other is None:
            continue
        lines.append(
            f"| {label(lv)} | {ratio(lv['output_tokens_per_s'], other['output_tokens_per_s'])} "
            f"| {ratio(lv['requests_per_s'], other['requests_per_s'])} "
            f"| {ratio(lv['ttft_s']['p50'], other['ttft_s']['p50'])} "
            f"| {ratio(lv['tpot_s']['p50'], other['tpot_s']['p50'])} "
            f"| {ratio(lv['e2e_s']['p99'], other['e2e_s']['p99'])} |"
        )
    return "\n".join(lines)


def compare_plot(a_path: Path, b_path: Path, out: Path) -> None:
    """Latency against throughput, both runs overlaid: each point is one level, so the curve that
    stays lower further right serves more at the same latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ttft, e2e) = plt.subplots(1, 2, figsize=(11, 4))
    for path, style in ((a_path, "-o"), (b_path, "--s")):
        levels = json.loads(path.read_text())["levels"]
        x = [lv["output_tokens_per_s"] for lv in levels]
        ttft.plot(x, [(lv["ttft_s"]["p50"] or 0) * 1000 for lv in levels], style, label=path.stem)
        e2e.plot(x, [(lv["e2e_s"]["p99"] or 0) * 1000 for lv in levels], style, label=path.stem)
    for ax, name in ((ttft, "TTFT p50"), (e2e, "E2E p99")):
        ax.set(xlabel="output tokens/s", ylabel="ms", title=f"{name} vs throughput")
        ax.legend(loc="best")
    fig.suptitle(f"{a_path.stem} vs {b_path.stem}")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_title(args: argparse.Namespace, levels: list[dict[str, Any]]) -> str:
    """Prompt length as the server counted it (what was measured), not the requested number."""
    measured = [lv["mean_prompt_tokens"] for lv in levels if lv.get("mean_prompt_tokens")]
    prompt = f"{statistics.fmean(measured):.0f} prompt tokens (measured)" if measured else f"~{args.input_tokens} prompt tokens (requested; server reported none)"
    return f"{args.model}: {prompt} / {args.output_tokens} out"
