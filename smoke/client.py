"""HTTP helpers for the smoke suite: explicit per-request timeouts, bounded retries on connection
errors and 502/503/504, and SSE parsing. Failures say what was asked and what came back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

RETRYABLE_STATUS = {502, 503, 504}


@dataclass
class StreamResult:
    chunks: list[dict[str, Any]]
    done: bool
    """The stream ended with `data: [DONE]`."""
    first_chunk_seconds: float | None
    total_seconds: float


def openai_base_url(url: str) -> str:
    """The OpenAI base URL (ending in /v1) from either form operators pass: `http://host:port`, as
    `vllm bench serve` and guidellm take it, or `http://host:port/v1`."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


def not_found_hint(url: str, given: str) -> str:
    """What a 404 on the first OpenAI route means: the server has no OpenAI API under that prefix."""
    return f"HTTP 404 from {url}: no OpenAI API there (--base-url {given!r}); check the host, port and any path prefix"


def request_headers(api_key: str | None, host: str | None) -> dict[str, str]:
    """Authorization for an API key, and the Host header a model behind the KEDA HTTP add-on's
    interceptor needs (it routes by Host)."""
    headers = {"Host": host} if host else {}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


class SmokeClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0, retries: int = 3,
                 host: str | None = None):  # fmt: skip
        self.base_url = openai_base_url(base_url)
        self.host = host
        """Host header (the KEDA HTTP add-on's interceptor routes by it)."""
        self.root_url = self.base_url.removesuffix("/v1")
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.http = httpx.Client(timeout=timeout)

    def headers(self, authenticated: bool = True) -> dict[str, str]:
        return request_headers(self.api_key if authenticated else None, self.host)

    def request(self, method: str, url: str, *, authenticated: bool = True, **kwargs: Any) -> httpx.Response:
        """One request, retried (bounded, with back-off) only on connection errors and 502-504."""
        last: Exception | httpx.Response | None = None
        for attempt in range(self.retries + 1):
            try:
                response = self.http.request(method, url, headers=self.headers(authenticated), **kwargs)
                if response.status_code not in RETRYABLE_STATUS:
                    return response
                last = response
            except httpx.TransportError as err:
                last = err
            time.sleep(min(2.0, 0.25 * 2**attempt))
        if isinstance(last, httpx.Response):
            return last
        raise AssertionError(f"{method} {url}: no response after {self.retries + 1} attempts: {last!r}")

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", self._url(path), **kwargs)

    def post_json(self, path: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return self.request("POST", self._url(path), json=body, **kwargs)

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}{path}"

    def stream_chat(self, body: dict[str, Any], first_chunk_timeout: float) -> StreamResult:
        """POST a streaming chat completion and collect its SSE chunks."""
        start = time.perf_counter()
        chunks: list[dict[str, Any]] = []
        first: float | None = None
        done = False
        timeout = httpx.Timeout(self.timeout, read=first_chunk_timeout)
        with self.http.stream(
            "POST", self._url("/chat/completions"), json={**body, "stream": True}, headers=self.headers(), timeout=timeout
        ) as response:
            if response.status_code != 200:
                response.read()
                raise AssertionError(f"streaming chat: expected HTTP 200, got {response.status_code}: {response.text[:300]}")
            try:
                for data in sse_data(response.iter_lines()):
                    if first is None:
                        first = time.perf_counter() - start
                    if data == "[DONE]":
                        done = True
                        break
                    chunks.append(json.loads(data))
            except httpx.ReadTimeout:
                raise AssertionError(
                    f"streaming chat: no chunk within {first_chunk_timeout}s "
                    f"({len(chunks)} chunks received before the stall)"
                ) from None
        return StreamResult(chunks, done, first, time.perf_counter() - start)


def sse_data(lines: Iterator[str]) -> Iterator[str]:
    """The `data:` payloads of a server-sent event stream."""
    for line in lines:
        if line.startswith("data:"):
            yield line[len("data:") :].strip()


def wait_until_ready(client: SmokeClient, timeout: float, interval: float = 1.0) -> httpx.Response | None:
    """Poll /health until 200 or the deadline; returns the last response (None if never any)."""
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while True:
        try:
            last = client.http.get(f"{client.root_url}/health", headers=client.headers(authenticated=False),
                                   timeout=min(client.timeout, 5.0))
            if last.status_code == 200:
                return last
        except httpx.TransportError:
            pass
        if time.monotonic() >= deadline:
            return last
        time.sleep(interval)
