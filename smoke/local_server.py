"""Serve the tiny random-weight GGUF with a real llama-server on 127.0.0.1, in FP16 and as a Q4_0
copy made by llama-quantize (the "quantized variant"), and run the smoke suite against both.

    python -m smoke.local_server                 # build/reuse llama-server, serve both, run smoke
    python -m smoke.local_server --bench DIR     # ... then bench both and compare (JSON, PNG)
    python -m smoke.local_server --keep          # ... and keep serving until Ctrl-C

The same functions back the test tier's fixtures.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from localcp.process import die_with_parent
from smoke.tiny_gguf import write as write_gguf

REPO_ROOT = Path(__file__).resolve().parent.parent
SLOTS, SLOT_CONTEXT = 2, 1024


def llama_bin_dir() -> Path:
    """Build (first time) or reuse the cached llama-server/llama-quantize; return their directory."""
    result = subprocess.run(["bash", str(REPO_ROOT / "tools" / "llama-server.sh")], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"tools/llama-server.sh failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def make_models(bin_dir: Path, workdir: Path) -> dict[str, Path]:
    """The FP16 GGUF and its Q4_0 quantization."""
    f16 = write_gguf(workdir / "tiny-f16.gguf")
    q4 = workdir / "tiny-q4_0.gguf"
    result = subprocess.run([str(bin_dir / "llama-quantize"), str(f16), str(q4), "Q4_0"], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"llama-quantize failed:\n{result.stderr[-2000:]}")
    return {"tiny-f16": f16, "tiny-q4": q4}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningServer:
    alias: str
    base_url: str
    process: subprocess.Popen
    log: Path


def wait_healthy(url: str, process: subprocess.Popen, timeout: float) -> None:
    """Poll /health until 200; fail early if the process exits. Bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited with {process.returncode} before becoming healthy")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"llama-server at {url} not healthy within {timeout}s")


@contextmanager
def serve(bin_dir: Path, model: Path, alias: str, api_key: str | None = None, timeout: float = 60,
          slots: int = SLOTS, host: str = "127.0.0.1", port: int | None = None) -> Iterator[RunningServer]:  # fmt: skip
    """llama-server on `host` (a loopback address) with `slots` parallel sequences (requests beyond
    them wait in its queue: llamacpp:requests_deferred)."""
    port = port or free_port()
    log = model.with_suffix(f".{alias}.log")
    command = [
        str(bin_dir / "llama-server"), "--model", str(model), "--alias", alias, "--host", host,
        "--port", str(port), "--ctx-size", str(slots * SLOT_CONTEXT), "--parallel", str(slots),
        "--threads", "1", "--metrics", *(["--api-key", api_key] if api_key else []),
    ]  # fmt: skip
    with log.open("w") as out:
        # Stopped when this block exits; and if the process running it is SIGKILLed (no block
        # exits then), the kernel sends the server SIGTERM.
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    try:
        try:
            wait_healthy(f"http://{host}:{port}", process, timeout)
        except (RuntimeError, TimeoutError) as err:
            raise RuntimeError(f"{err}; last log lines:\n{''.join(log.read_text().splitlines(True)[-20:])}") from None
        yield RunningServer(alias, f"http://{host}:{port}/v1", process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_benches(out: Path, servers: tuple[RunningServer, ...]) -> int:
    """Bench each variant at 1/2/4 concurrent streams, then print Q4 / FP16 ratios."""
    from smoke.bench import compare
    from smoke.bench import main as bench

    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for server in servers:
        print(f"== bench: {server.alias}", flush=True)
        failed += bench(["--base-url", server.base_url, "--model", server.alias, "--concurrency", "1,2,4",
                         "--requests", "16", "--input-tokens", "64", "--output-tokens", "32",
                         "--json", str(out / f"{server.alias}.json"), "--plot", str(out / f"{server.alias}.png")]) != 0  # fmt: skip
    print(compare(out / f"{servers[0].alias}.json", out / f"{servers[1].alias}.json"))
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--keep", action="store_true", help="keep serving after the smoke run")
    parser.add_argument("--bench", type=Path, metavar="DIR", help="bench both variants into DIR and compare")
    args = parser.parse_args()
    _stop_on_sigterm()
    bin_dir = llama_bin_dir()
    with tempfile.TemporaryDirectory() as tmp:
        models = make_models(bin_dir, Path(tmp))
        failures = 0
        with serve(bin_dir, models["tiny-f16"], "tiny-f16") as f16, serve(bin_dir, models["tiny-q4"], "tiny-q4") as q4:
            for server in (f16, q4):
                print(f"== smoke: {server.alias} at {server.base_url}", flush=True)
                command = [sys.executable, "-m", "pytest", "smoke", "-q", "-p", "no:cacheprovider", "--base-url",
                           server.base_url, "--model", server.alias, "--runtime", "llamacpp"]  # fmt: skip
                failures += subprocess.run(command, cwd=REPO_ROOT).returncode != 0
            if args.bench:
                failures += run_benches(args.bench, (f16, q4))
            if args.keep:
                pids = f"{f16.process.pid},{q4.process.pid}"
                print(f"serving {f16.base_url} and {q4.base_url} (llama-server pids {pids}, files in {tmp}); "
                      "Ctrl-C or SIGTERM stops both and removes the files", flush=True)  # fmt: skip
                try:
                    f16.process.wait()
                except KeyboardInterrupt:
                    pass
    return 1 if failures else 0


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the `serve` contexts stop the servers and the temporary
    directory is removed (the default SIGTERM action would orphan both)."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    raise SystemExit(main())
