"""The Pulumi engine, offline: the Go-built CLI, Python language host and Kubernetes provider from the
toolchain, a file backend and the passphrase secrets provider in a workspace directory, and no
plugin download ever attempted.

A workspace is a directory holding
    home/      PULUMI_HOME (plugins, credentials, workspace settings)
    state/     the file backend (`pulumi login file://...`)
    project/   Pulumi.yaml and stack files copied from the repository, with `infra`, `charts`,
               `policies` and `.venv` linked to it, so `pulumi stack init` and `pulumi config set`
               (which write the stack file: encryptionsalt, secrets) never touch committed files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from localcp.toolchain import REPO_ROOT, pin

LINKED = ("infra", "charts", "policies")


class PulumiError(RuntimeError):
    """A Pulumi command failed; the message holds the command and the tail of its output."""

    def __init__(self, command: list[str], result: subprocess.CompletedProcess[str]):
        self.result = result
        tail = (result.stdout[-4000:] + "\n" + result.stderr[-3000:]).strip()
        super().__init__(f"`{' '.join(command)}` failed (exit {result.returncode}):\n{tail}")


@dataclass
class PulumiWorkspace:
    root: Path
    bin_dir: Path
    """The toolchain's bin directory: pulumi, pulumi-language-python(-exec), pulumi-resource-kubernetes."""
    kubeconfig: Path
    passphrase: str = "llm-platform-local"
    """Only for the local file backend; real stacks use `pulumi stack init --secrets-provider`."""
    stacks_dir: Path = field(default_factory=lambda: REPO_ROOT / "stacks")
    project_source: Path = REPO_ROOT
    """Directory with the Pulumi.yaml to run (the repository's, or a test program's)."""
    links: tuple[str, ...] = LINKED
    """Entries of project_source linked into the project (the program and what it reads)."""

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.project = self.root / "project"
        for sub in ("home", "state", "project/stacks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.project_source / "Pulumi.yaml", self.project / "Pulumi.yaml")
        for name, target in [(n, self.project_source / n) for n in self.links] + [(".venv", REPO_ROOT / ".venv")]:
            link = self.project / name
            if not link.is_symlink():
                link.symlink_to(target)
        self._install_provider()

    def _install_provider(self) -> None:
        """`pulumi plugin install resource kubernetes VERSION --file` from the toolchain: the
        version the Python SDK asks for, so the engine never tries a download."""
        version = pin("PULUMI_KUBERNETES_VERSION")
        if not list((self.root / "home" / "plugins").glob(f"resource-kubernetes-v{version}*")):
            self.run("plugin", "install", "resource", "kubernetes", version, "--file",
                     str((self.bin_dir / "pulumi-resource-kubernetes").resolve()))  # fmt: skip

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        env.update(
            PATH=f"{self.bin_dir}{os.pathsep}{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            PULUMI_HOME=str(self.root / "home"),
            PULUMI_BACKEND_URL=f"file://{self.root / 'state'}",
            PULUMI_CONFIG_PASSPHRASE=self.passphrase,
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            # Plugins come from PULUMI_HOME (installed from the toolchain below) or sit next to the
            # CLI (language hosts); a provider found on PATH would only earn a warning per resource.
            PULUMI_IGNORE_AMBIENT_PLUGINS="true",
            PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK="true",
            PULUMI_SKIP_CONFIRMATIONS="true",
            KUBECONFIG=str(self.kubeconfig),
            NO_COLOR="1",
        )
        return env

    def run(self, *args: str, stack: str | None = None, check: bool = True, timeout: float = 600,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        command = ["pulumi", *args, "--non-interactive"] + (["--stack", stack] if stack else [])
        try:
            result = subprocess.run(command, cwd=self.project, env=self.env, capture_output=True, text=True,
                                    timeout=timeout, input=stdin)  # fmt: skip
        except subprocess.TimeoutExpired as err:
            # Say what it was doing when the bound ran out (the last resources in progress).
            partial = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
            result = subprocess.CompletedProcess(command, -9, partial + f"\n[timed out after {timeout:.0f}s]", "")
            raise PulumiError(command, result) from None
        if check and result.returncode != 0:
            raise PulumiError(command, result)
        return result

    def add_stack(self, name: str, source: Path | None = None) -> str:
        """Copy a stack file into the project and create the stack (idempotent); returns its name."""
        source = source or self.stacks_dir / f"Pulumi.{name}.yaml"
        target = self.project / "stacks" / f"Pulumi.{name}.yaml"
        if not target.exists():
            shutil.copy2(source, target)
        if self.run("stack", "select", name, check=False).returncode != 0:
            self.run("stack", "init", name, "--secrets-provider", "passphrase")
        return name

    def add_stack_config(self, name: str, config: dict) -> str:
        """Create a stack from a config mapping (a variant of a committed stack, for tests)."""
        self.stack_file(name).write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        return self.add_stack(name)

    def stack_file(self, name: str) -> Path:
        return self.project / "stacks" / f"Pulumi.{name}.yaml"

    def set_config(self, stack: str, key: str, value: str, *, secret: bool = False, path: bool = False) -> None:
        flags = (["--secret"] if secret else ["--plaintext"]) + (["--path"] if path else [])
        # The value goes through stdin so it never shows in a process listing.
        self.run("config", "set", key, *flags, stack=stack, stdin=value)

    def preview(self, stack: str, *extra: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.run("preview", *extra, stack=stack, check=check, timeout=timeout)

    def preview_json(self, stack: str, *extra: str) -> dict:
        return json.loads(self.preview(stack, "--json", *extra).stdout)

    def up(self, stack: str, *extra: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return self.run("up", "--yes", "--skip-preview", *extra, stack=stack, check=check, timeout=timeout)

    def destroy(self, stack: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.run("destroy", "--yes", "--skip-preview", stack=stack, timeout=timeout)

    def outputs(self, stack: str, *, show_secrets: bool = False) -> dict:
        extra = ["--show-secrets"] if show_secrets else []
        return json.loads(self.run("stack", "output", "--json", *extra, stack=stack).stdout)

    def export_state(self, stack: str) -> str:
        """The stack's checkpoint as stored by the backend (what a state file leak would show)."""
        return self.run("stack", "export", stack=stack).stdout

    def state_files(self) -> list[Path]:
        return [p for p in (self.root / "state").rglob("*") if p.is_file()]
