"""The harness leaves no process behind when its owner is interrupted or killed: every component
(etcd, kube-apiserver, controllers, kwok, servers) starts through localcp.process.LocalProcess in its
own session, so a terminal's Ctrl-C reaches only the owner, which must stop them itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

OWNER = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    from localcp import process
    # As in a terminal: a background job (CI runs one) inherits SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler; a terminal's pytest has it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if sys.argv[2] == "reap":
        process.reap_on_exit()
    child = process.LocalProcess("sleeper", Path(sys.argv[1]))
    child.start(["sleep", "600"])
    print(child.pid, flush=True)
    while True:  # a test session waiting on its servers
        time.sleep(0.2)
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _owner_with_child(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], int]:
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(tmp_path), mode], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                             text=True, start_new_session=True)  # fmt: skip
    line = owner.stdout.readline() if owner.stdout else ""
    assert line.strip().isdigit(), f"owner did not start its child: {line!r}"
    return owner, int(line)


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "sigkill"])
def test_started_processes_stop_when_their_owner_is_interrupted_or_killed(tmp_path: Path, how: signal.Signals) -> None:
    owner, child = _owner_with_child(tmp_path, "reap")
    try:
        os.killpg(owner.pid, how)  # Ctrl-C signals the terminal's foreground process group
        owner.wait(timeout=15)
        assert _gone_within(child, 10), f"{how.name} to the owner left its child {child} running"
    finally:
        owner.kill()
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_a_cluster_started_from_the_cli_outlives_its_command(tmp_path: Path) -> None:
    """Without reap_on_exit (`python -m localcp cluster start`), the processes are meant to stay."""
    owner, child = _owner_with_child(tmp_path, "keep")
    try:
        os.killpg(owner.pid, signal.SIGINT)
        owner.wait(timeout=15)
        assert not _gone_within(child, 2)
    finally:
        owner.kill()
        if _alive(child):
            os.kill(child, signal.SIGKILL)


SESSION = textwrap.dedent(
    """
    import time
    from pathlib import Path
    import pytest

    @pytest.fixture(scope="session")
    def server(tmp_path_factory):
        yield
        Path(__file__).with_name("teardown-ran").touch()

    def test_long(server):
        Path(__file__).with_name("long-started").touch()
        time.sleep(120)

    def test_next():
        Path(__file__).with_name("next-ran").touch()
    """
)


def test_sigterm_ends_the_test_session_after_its_teardown(tmp_path: Path) -> None:
    """A CI timeout's SIGTERM stops pytest, with the session's fixtures torn down (their servers
    stopped), instead of failing only the running test and going on (tests/conftest.py)."""
    (tmp_path / "test_session.py").write_text(SESSION)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests") + os.pathsep + str(REPO_ROOT)}
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider", "test_session.py"],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "long-started").exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "long-started").exists(), f"the long test never started: {run.communicate(timeout=10)[0][-2000:]}"
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=20)[0]
        assert run.returncode == 2, output[-2000:]  # pytest's "interrupted"
        assert (tmp_path / "teardown-ran").exists() and not (tmp_path / "next-ran").exists(), output[-2000:]
    finally:
        run.kill()
