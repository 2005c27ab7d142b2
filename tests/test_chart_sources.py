"""Chart mirror preflight (infra/platform/chart_sources.py): a stack pointed at a mirror is checked before any
resource is created; each problem is one line naming chart, version and repository, or the URL."""

from __future__ import annotations

import pytest
import yaml

from infra.platform.chart_sources import check_chart_sources
from infra.config.platform import PlatformSettings
from infra.stack import ConfigError
from localcp.chart_mirror import ChartMirror, charts_dir
from localcp.process import free_port


def test_mirror_with_every_pinned_chart_passes(chart_mirror) -> None:
    check_chart_sources(PlatformSettings.model_validate({"chartRepository": chart_mirror.url, "knative": {"install": True}}))


def test_mirror_missing_a_pinned_chart_names_chart_version_and_repository(tmp_path) -> None:
    index = yaml.safe_load((charts_dir() / "index.yaml").read_text())
    del index["entries"]["kserve-resources"]
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "index.yaml").write_text(yaml.safe_dump(index))
    with ChartMirror(tmp_path / "state", tmp_path / "repo") as mirror, pytest.raises(ConfigError) as err:
        check_chart_sources(PlatformSettings.model_validate({"chartRepository": mirror.url}))
    assert err.value.lines == [f"platform.chartRepository: chart kserve-resources version v0.20.0 is not in {mirror.url}"]


def test_unreachable_mirror_is_refused_with_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError) as err:
        check_chart_sources(PlatformSettings.model_validate({"keda": {"repository": url}}))
    [line] = err.value.lines
    assert line.startswith(f"platform.keda.repository: chart repository unreachable: {url}/index.yaml: ") and "refused" in line


def test_upstream_repositories_are_left_to_helm() -> None:
    check_chart_sources(PlatformSettings())  # no override: nothing fetched (no network needed)
