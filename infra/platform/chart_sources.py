"""Preflight for chart mirrors: before any resource is created, every pinned platform chart must be
in the repository the stack points it at. One line per problem, naming chart, version and
repository (or the URL that could not be read). Only overridden repositories (chartRepository or a
component's `repository`) are checked: they are the operator's own mirror; upstream repositories
are reached by Helm itself. oci:// registries have no index to read and are not checked here."""

from __future__ import annotations

import urllib.error
import urllib.request

import yaml

from infra.config.platform import PlatformSettings
from infra.platform.releases import Release, releases
from infra.stack import ConfigError

TIMEOUT_SECONDS = 10


def _index(url: str) -> dict | str:
    """The repository's index.yaml, or why it could not be read."""
    try:
        with urllib.request.urlopen(f"{url}/index.yaml", timeout=TIMEOUT_SECONDS) as response:
            return yaml.safe_load(response.read()) or {}
    except (urllib.error.URLError, OSError, yaml.YAMLError) as err:
        return f"{url}/index.yaml: {getattr(err, 'reason', err)}"


def _has(index: dict, release: Release) -> bool:
    # Helm matches versions as semver, so v1.23.0 and 1.23.0 are the same version.
    wanted = release.pin.version.lstrip("v")
    return any(str(e.get("version", "")).lstrip("v") == wanted for e in (index.get("entries") or {}).get(release.pin.chart, []))


def check_chart_sources(settings: PlatformSettings) -> None:
    overridden = [
        r for r in releases(settings)
        if r.repository.startswith(("http://", "https://")) and r.repository != r.pin.repository.rstrip("/")
    ]  # fmt: skip
    problems, indexes = [], {}
    for release in overridden:
        index = indexes.setdefault(release.repository, _index(release.repository))
        key = "platform.chartRepository" if release.repository == (settings.chart_repository or "").rstrip("/") else f"platform.{release.component}.repository"
        if isinstance(index, str):
            problems.append(f"{key}: chart repository unreachable: {index}")
        elif not _has(index, release):
            problems.append(f"{key}: chart {release.pin.chart} version {release.pin.version} is not in {release.repository}")
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
