"""One local process of the control plane: started with its log in a state directory, its PID in a
file, a readiness probe with a bounded wait, stopped by PID (SIGTERM, then SIGKILL).

Processes run in their own session (a terminal's Ctrl-C reaches only their owner). An owner that
must not leave them behind (a test session) calls reap_on_exit(): every process it starts is then
stopped when it exits - normally, on SIGINT/SIGTERM, or, through the kernel's parent-death signal,
when it is killed outright. `python -m localcp cluster start` does not: its cluster outlives it."""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(url: str, verify: Any = True) -> Callable[[], bool]:
    """A readiness probe: GET `url` answers 200 (a connection error counts as not ready)."""
    import httpx

    def probe() -> bool:
        try:
            return httpx.get(url, verify=verify, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


class ProcessError(RuntimeError):
    """A component did not become ready; the message names it and holds its log tail."""


# Processes this Python process started and has not stopped (reaped when reap_on_exit is on).
_started: dict[int, LocalProcess] = {}
_reaping = False
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def reap_on_exit() -> None:
    """From now on, stop every process this interpreter starts when it exits, however it exits:
    atexit (normal exit, and KeyboardInterrupt unwinding to the top), SIGTERM (turned into an
    exit), and PR_SET_PDEATHSIG=SIGTERM in each child for a SIGKILL of this process."""
    global _reaping
    if _reaping:
        return
    _reaping = True
    atexit.register(stop_all)
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(SystemExit(128 + signum)))


def stop_all() -> list[str]:
    """Stop every process still registered; returns their names."""
    stopped = []
    for process in list(_started.values()):
        if process.stop(grace=5):
            stopped.append(process.name)
    return stopped


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the thread that started it dies (also on SIGKILL)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalProcess:
    def __init__(self, name: str, state: Path):
        self.name, self.state = name, state
        self.log = state / f"{name}.log"
        self.pid_file = state / f"{name}.pid"

    def log_tail(self, lines: int = 30) -> str:
        return "".join(self.log.read_text(errors="replace").splitlines(True)[-lines:]) if self.log.exists() else ""

    @property
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def start(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        with self.log.open("w") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                       preexec_fn=die_with_parent if _reaping else None)  # fmt: skip
        self.pid_file.write_text(str(process.pid))
        self._process = process
        if _reaping:
            _started[process.pid] = self

    def start_ready(self, command: list[str], probe: Callable[[], bool], timeout: float,
                    env: dict[str, str] | None = None) -> None:  # fmt: skip
        """start, then wait_ready; a process that does not become ready is stopped, never left behind."""
        self.start(command, env)
        try:
            self.wait_ready(probe, timeout)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, probe: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if getattr(self, "_process", None) is not None and self._process.poll() is not None:
                raise ProcessError(f"{self.name} exited with {self._process.returncode}; log tail:\n{self.log_tail()}")
            try:
                if probe():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise ProcessError(f"{self.name} not ready within {timeout:.0f}s; log tail:\n{self.log_tail()}")

    def stop(self, grace: float = 10) -> bool:
        """SIGTERM, bounded wait, SIGKILL; True if a process was running."""
        pid = self.pid
        if getattr(self, "_process", None) is not None:
            _started.pop(self._process.pid, None)
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        if getattr(self, "_process", None) is not None:
            self._process.wait(timeout=5)
        self.pid_file.unlink(missing_ok=True)
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie (exited, not yet reaped by us) counts as stopped
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False


def listening_addresses(pid: int) -> set[str]:
    """host:port of every TCP socket PID listens on (from /proc: its socket inodes matched against
    /proc/net/tcp and tcp6), so a test can check that a server binds loopback only."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: TCP_LISTEN
                continue
            address, port = fields[1].split(":")
            found.add(f"{_address(address, width)}:{int(port, 16)}")
    return found


def _address(hex_address: str, width: int) -> str:
    """An address as /proc/net/tcp{,6} prints it (32-bit little-endian words) in text form."""
    import ipaddress

    raw = bytes.fromhex(hex_address)
    host_order = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(host_order)
    if width == 32 and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)
