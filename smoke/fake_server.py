"""A small OpenAI-compatible test server with injectable faults, to prove the smoke suite catches
each one, and (mode `healthy`) an instant server to measure the bench client's own overhead.

    python -m smoke.fake_server --mode MODE [--port P] [--api-key K] [--runtime llamacpp|vllm|sglang]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from smoke.metrics import KEY_SERIES

FAULTS = ("wrong-model", "server-error", "missing-metrics", "no-done", "slow-first-token", "ignores-api-key")
MODES = ("healthy", *FAULTS)
SLOW_FIRST_TOKEN_SECONDS = 3.0


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 stalls concurrent clients for 1 s (SYN retry)


class FakeServer:
    """Runs in a background thread; `base_url` ends in /v1."""

    def __init__(self, mode: str = "healthy", api_key: str | None = None, runtime: str = "llamacpp",
                 model: str = "fake-model", port: int = 0, output_tokens: int = 8, host: str = "127.0.0.1",
                 adapters: tuple[str, ...] = ()):  # fmt: skip
        if mode not in MODES:
            raise ValueError(f"mode: one of {', '.join(MODES)}, got {mode!r}")
        self.mode, self.api_key, self.runtime, self.model, self.output_tokens = mode, api_key, runtime, model, output_tokens
        self.adapters = adapters
        """LoRA adapter names listed by /v1/models next to the model (as vLLM lists --lora-modules)."""
        self.gauges: dict[str, float] = {}
        """Values /metrics reports for named series (others read 0): a recorded queue, the counters
        count() moves."""
        self.lock = threading.Lock()
        self.httpd = _Server((host, port), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def count(self, tokens: int) -> None:
        """Move the runtime's own counters as a real server does for one finished request."""
        from smoke.server_counters import COUNTERS

        with self.lock:
            for kind, name in COUNTERS[self.runtime].items():
                self.gauges[name] = self.gauges.get(name, 0) + (tokens if kind == "tokens" else 1)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: str | dict, content_type: str = "application/json") -> None:
                data = (json.dumps(body) if isinstance(body, dict) else body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if not server.api_key or server.mode == "ignores-api-key":
                    return True
                return self.headers.get("Authorization") == f"Bearer {server.api_key}"

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                if self.path == "/health":
                    return self._send(200, {"status": "ok"})
                if self.path == "/metrics":
                    names = [] if server.mode == "missing-metrics" else list(KEY_SERIES[server.runtime])
                    if names:  # a server with metrics also shows the series a test set or counted
                        names += [n for n in server.gauges if n not in names]
                    lines = "".join(f"{n} {server.gauges.get(n, 0)}\n" for n in names)
                    return self._send(200, lines + "process_up 1\n", "text/plain")
                if not self._authorized():
                    return self._send(401, {"error": {"message": "Invalid API Key", "code": 401}})
                if self.path == "/v1/models":
                    name = "other-model" if server.mode == "wrong-model" else server.model
                    names = [name, *server.adapters]
                    return self._send(200, {"object": "list", "data": [{"id": n, "object": "model"} for n in names]})
                self._send(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self._authorized():
                    return self._send(401, {"error": {"message": "Invalid API Key", "code": 401}})
                if server.mode == "server-error":
                    return self._send(500, {"error": {"message": "CUDA error: out of memory"}})
                n = min(int(body.get("max_tokens", server.output_tokens)), server.output_tokens)
                usage = {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n}
                server.count(n)
                if self.path in ("/v1/completions", "/v1/chat/completions") and body.get("stream"):
                    return self._stream(n, chat=self.path.endswith("chat/completions"))
                if self.path == "/v1/completions":
                    choice = {"index": 0, "text": " tok" * n, "finish_reason": "length"}
                    return self._send(200, {"object": "text_completion", "model": server.model, "choices": [choice], "usage": usage})
                if self.path == "/v1/chat/completions":
                    choice = {"index": 0, "message": {"role": "assistant", "content": " tok" * n}, "finish_reason": "length"}
                    return self._send(200, {"object": "chat.completion", "model": server.model, "choices": [choice], "usage": usage})
                self._send(404, {"error": "not found"})

            def _stream(self, n: int, chat: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                if server.mode == "slow-first-token":
                    time.sleep(SLOW_FIRST_TOKEN_SECONDS)
                for i in range(n):
                    finish = "length" if i == n - 1 else None
                    if chat:
                        delta = {"role": "assistant", "content": " tok"} if i == 0 else {"content": " tok"}
                        choice = {"index": 0, "delta": delta, "finish_reason": finish}
                    else:
                        choice = {"index": 0, "text": " tok", "finish_reason": finish}
                    kind = "chat.completion.chunk" if chat else "text_completion"
                    chunk = {"object": kind, "model": server.model, "choices": [choice]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                if server.mode != "no-done":
                    self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--mode", choices=MODES, default="healthy")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--api-key")
    parser.add_argument("--runtime", choices=["llamacpp", "vllm", "sglang"], default="llamacpp")
    parser.add_argument("--output-tokens", type=int, default=8, help="chunks streamed per request (at most)")
    args = parser.parse_args()
    with FakeServer(args.mode, args.api_key, args.runtime, port=args.port, output_tokens=args.output_tokens) as server:
        print(f"serving {args.mode} on {server.base_url}", flush=True)
        server.thread.join()


if __name__ == "__main__":
    main()
