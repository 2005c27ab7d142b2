"""What a newcomer meets before and after the main job: the preflight names each missing
prerequisite in one line, and the end of `make local` says what is real, what is simulated, which
kubectl to use and how to stop and clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT


def test_doctor_names_a_missing_go_before_anything_is_built(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(Path(sys.base_prefix) / "bin" / "python3")  # the interpreter, not a shim
    for tool in ("cmake", "c++", "openssl", "curl", "git", "unshare", "df", "awk", "mkdir", "sort", "head", "dirname"):
        found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if found:
            (bin_dir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir)}
    result = subprocess.run(["/bin/bash", str(REPO_ROOT / "tools" / "doctor.sh")], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    missing = [ln for ln in result.stderr.splitlines() if ln.startswith("MISSING")]
    # Go's line, whatever else is short (a machine low on disk also gets the disk line).
    assert any("go 1.25 or newer" in ln for ln in missing), missing


def test_doctor_passes_on_this_machine() -> None:
    result = subprocess.run(["bash", str(REPO_ROOT / "tools" / "doctor.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert all(line.startswith("ok ") for line in result.stdout.splitlines())


def test_doctor_asks_only_for_the_disk_the_missing_pieces_need() -> None:
    """After `make setup` everything is cached: the doctor must not demand a cold build's 25 GB."""
    result = subprocess.run(["bash", str(REPO_ROOT / "tools" / "doctor.sh")], capture_output=True, text=True)
    [disk] = [line for line in result.stdout.splitlines() if "GB free" in line]
    assert "(needs 1 GB: everything is cached)" in disk, disk


def test_main_job_notes_say_what_is_real_and_how_to_go_on() -> None:
    from localcp.__main__ import notes

    text = notes("local", Path("/cache/bin/kubectl"), Path("/repo/.cluster/kubeconfig"), {"namespace": "llm-local"})
    assert "Simulated:" in text and "kwok" in text
    assert "/cache/bin/kubectl --kubeconfig /repo/.cluster/kubeconfig get all -n llm-local" in text
    assert "python -m smoke.local_server --keep" in text
    assert "make cluster-down" in text and "make clean-local" in text
    assert 'make pulumi ARGS="preview --diff"' in text
    assert 'make kubectl ARGS="get all -n llm-local"' in text


def test_local_pulumi_command_needs_the_local_cluster(tmp_path: Path, monkeypatch) -> None:
    """`make pulumi` without a running local cluster says what to run first instead of failing
    somewhere inside the Pulumi engine."""
    import localcp.__main__ as cli

    monkeypatch.setattr(cli, "CLUSTER_DIR", tmp_path / "no-cluster")
    monkeypatch.setattr(cli, "bin_dir", lambda *components: tmp_path)
    assert cli.main(["pulumi", "preview"]) == 1


def test_local_kubectl_command_needs_the_local_cluster(tmp_path: Path, monkeypatch, capsys) -> None:
    import localcp.__main__ as cli

    monkeypatch.setattr(cli, "CLUSTER_DIR", tmp_path / "no-cluster")
    assert cli.main(["kubectl", "get", "pods"]) == 1
    assert "run `make local` first" in capsys.readouterr().err
