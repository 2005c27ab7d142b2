"""The local control plane harness: the pinned binaries (tools/toolchain.sh), the local cluster, and
the Pulumi engine run against it, shared by the `make` targets and the pytest fixtures.

Everything listens on 127.0.0.1 only; every process is stopped by PID with bounded waits.
"""
