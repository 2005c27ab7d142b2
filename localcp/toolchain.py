"""The pinned binaries of the local control plane, built once by tools/toolchain.sh and cached
under ~/.cache/llm-platform/toolchain/ by their pins."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLCHAIN_SCRIPT = REPO_ROOT / "tools" / "toolchain.sh"


class ToolchainError(RuntimeError):
    """A component could not be built; the message names the command that builds it."""


def bin_dir(*components: str, timeout: float = 3600) -> Path:
    """The directory holding the requested components' binaries (built first if not cached)."""
    command = ["bash", str(TOOLCHAIN_SCRIPT), *components]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise ToolchainError(
            f"`bash tools/toolchain.sh {' '.join(components)}` failed (exit {result.returncode}):\n"
            + result.stderr[-3000:]
        )
    return Path(result.stdout.strip().splitlines()[-1])


def pin(name: str) -> str:
    """One value of tools/toolchain.pins (e.g. KUBERNETES_VERSION)."""
    for line in (REPO_ROOT / "tools" / "toolchain.pins").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    raise KeyError(f"{name} is not in tools/toolchain.pins")


def shared_dir() -> Path:
    """../shared beside the repository (CI lays it there), or $LLM_PLATFORM_SHARED."""
    import os

    return Path(os.environ.get("LLM_PLATFORM_SHARED", REPO_ROOT.parent / "shared")).resolve()
