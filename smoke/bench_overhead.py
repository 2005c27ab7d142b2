"""Measure the bench client's own overhead: run it against the instant fake server (in its own
process, so server work does not share the client's interpreter) and print what the client
sustains, closed loop per concurrency and open loop per request rate (the sweep's saturation line
is where the client itself stops keeping up). If a real server's numbers approach these, the
client is the bottleneck.

    python -m smoke.bench_overhead [--output-tokens 64] [--requests 200] [--request-rate 50,100,200,400,800]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from smoke.bench import main as bench
from smoke.local_server import free_port


def main() -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--request-rate", default="50,100,200,400,800", help="open-loop rates (req/s) to sweep")
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "smoke.fake_server", "--mode", "healthy", "--port", str(port),
                               "--output-tokens", str(args.output_tokens)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        server.stdout.readline()  # "serving healthy on ...": the socket is listening
        start = time.perf_counter()
        common = ["--base-url", f"http://127.0.0.1:{port}", "--model", "fake-model", "--quiet",
                  "--requests", str(args.requests), "--output-tokens", str(args.output_tokens)]  # fmt: skip
        rc = bench([*common, "--concurrency", args.concurrency])
        print()
        rc |= bench([*common, "--request-rate", args.request_rate])
        print(f"\nclient overhead run: {time.perf_counter() - start:.1f}s; the fake server streams "
              f"{args.output_tokens} chunks instantly, so the numbers above are client + loopback cost")  # fmt: skip
        return rc
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
