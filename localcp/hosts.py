"""Cluster DNS names for processes that dial Services by name, without cluster DNS.

In a cluster the KEDA HTTP add-on's interceptor forwards to `<service>.<namespace>:<port>`
(interceptor/middleware/routing.go streamFromHTTPSO) and KEDA's operator dials the add-on's scaler
at the ScaledObject's `scalerAddress`; both resolve through cluster DNS. Here each such process
runs in its own mount namespace with a hosts file of ours bind-mounted over /etc/hosts, mapping
those names to loopback addresses where the local stand-ins listen. Nothing outside the process
changes; the file is rewritten in place (same inode), so names added after a start resolve too
(Go's resolver re-reads /etc/hosts when it changes).

Only loopback addresses are accepted: every local service listens and is reached on loopback."""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import socket
from pathlib import Path


class HostsError(RuntimeError):
    """The hosts mapping cannot be set up here; the message says what is missing."""


def loopback_address() -> str:
    """A random address in 127.0.0.0/8 other than 127.0.0.1, bindable now: a listener of its own,
    so fixed ports (the chart's :80, :9090) cannot collide with anything else on this machine."""
    for _ in range(50):
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        with socket.socket() as s:
            try:
                s.bind((address, 0))
                return address
            except OSError:
                continue
    raise HostsError("no bindable loopback address found in 127.0.0.0/8")


class HostsFile:
    def __init__(self, path: Path):
        self.path = path.resolve()
        self.entries: dict[str, str] = {}
        self._write()

    def add(self, address: str, *names: str) -> None:
        if not ipaddress.ip_address(address).is_loopback:
            raise HostsError(f"{address} is not a loopback address; local services are reached on loopback only")
        for name in names:
            self.entries[name] = address
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["127.0.0.1 localhost", *(f"{address} {name}" for name, address in sorted(self.entries.items()))]
        with self.path.open("w") as out:  # in place: the bind mounts keep pointing at this inode
            out.write("\n".join(lines) + "\n")

    def wrap(self, command: list[str]) -> list[str]:
        """`command` run with this file as its /etc/hosts (its own mount namespace; same PID: unshare
        and sh exec into it, so stopping by PID stops the command)."""
        unshare = shutil.which("unshare")
        if unshare is None:
            raise HostsError("`unshare` (util-linux) is required to give local processes cluster DNS names")
        # As root a mount namespace is enough; otherwise a user namespace maps us to root in it.
        user = [] if os.geteuid() == 0 else ["--map-root-user"]
        script = 'mount --bind "$0" /etc/hosts && exec "$@"'
        return [unshare, *user, "--mount", "--propagation", "private", "sh", "-c", script, str(self.path), *command]
