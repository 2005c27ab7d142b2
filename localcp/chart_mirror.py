"""The offline chart mirror: ../shared/charts (a plain Helm repository: index.yaml + NAME-VERSION.tgz)
served over HTTP on 127.0.0.1, the way an air-gapped user serves theirs. Stacks point
`platform.chartRepository` at its URL."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import yaml

from localcp.process import LocalProcess, free_port
from localcp.toolchain import shared_dir


def charts_dir() -> Path:
    path = shared_dir() / "charts"
    if not (path / "index.yaml").is_file():
        raise FileNotFoundError(f"no Helm repository at {path} (index.yaml missing); lay ../shared beside the clone")
    return path


def chart_archive(chart: str, version: str, directory: Path | None = None) -> Path:
    """The .tgz of chart@version, as the repository's index.yaml lists it."""
    directory = directory or charts_dir()
    index = yaml.safe_load((directory / "index.yaml").read_text())
    for entry in index.get("entries", {}).get(chart, []):
        if entry["version"].lstrip("v") == version.lstrip("v"):
            return directory / entry["urls"][0].rsplit("/", 1)[-1]
    raise FileNotFoundError(f"chart {chart} version {version} is not in {directory / 'index.yaml'}")


def render_chart(chart: str, version: str, values: dict, *, release: str, namespace: str) -> list[dict]:
    """A mirror chart's objects as an install renders them (in-process Helm engine, no hooks run)."""
    import helm_python as helm

    rendered = helm.Chart.load(str(chart_archive(chart, version))).render(values, name=release, namespace=namespace, is_install=True)
    texts = [text for path, text in rendered.items() if path.endswith((".yaml", ".yml"))]  # not NOTES.txt
    return [d for text in texts for d in yaml.safe_load_all(text) if isinstance(d, dict) and d.get("kind")]


class ChartMirror:
    def __init__(self, state: Path, directory: Path | None = None):
        self.directory = directory or charts_dir()
        self.process = LocalProcess("chart-mirror", state)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> ChartMirror:
        self.port = free_port()
        self.process.start(
            [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1", "--directory", str(self.directory)]
        )
        self.process.wait_ready(self._index_served, timeout)
        return self

    def _index_served(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/index.yaml", timeout=2) as response:
            return response.status == 200

    def stop(self) -> bool:
        return self.process.stop()

    def __enter__(self) -> ChartMirror:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
