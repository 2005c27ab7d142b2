"""Read stack config (a Pulumi.<stack>.yaml file, or the running Pulumi program's config) into
StackConfig, turning every problem into one line: `key.path: what is wrong, got value`."""

from __future__ import annotations

import difflib
import json
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from infra.config import SECRET, StackConfig

PROJECT = "llm-platform"
REPO_ROOT = Path(__file__).resolve().parent.parent
STACKS_DIR = REPO_ROOT / "stacks"


class ConfigError(Exception):
    """Bad stack config. `lines` are ready to print, one problem per line."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def stack_file(stack: str) -> Path:
    return STACKS_DIR / f"Pulumi.{stack}.yaml"


def load_stack_file(path: Path) -> StackConfig:
    """Parse one Pulumi stack config file. Encrypted (`secure:`) values become the SECRET marker."""
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError([f"{path}: cannot read stack config: {err.strerror}"]) from None
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError([f"{path}: unparseable YAML{where}: {problem}"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise ConfigError([f"{path}: expected a mapping with a `config:` mapping, got {type(document).__name__}"])
    raw: dict[str, Any] = {}
    problems = []
    for key, value in (document.get("config") or {}).items():
        prefix, colon, name = str(key).partition(":")
        if prefix == PROJECT and name:
            raw[name] = SECRET if isinstance(value, dict) and set(value) == {"secure"} else value
        elif problem := _misplaced_key(str(key), prefix if colon else None, name):
            problems.append(f"{path}: {problem}")
        # else: another package's setting (kubernetes:context, aws:region): not ours to check
    if problems:
        raise ConfigError(problems)
    return parse(raw)


def _misplaced_key(key: str, prefix: str | None, name: str) -> str | None:
    """A key meant for this project that would be silently ignored: no prefix, or a misspelt one."""
    ours = {f.alias or n for n, f in StackConfig.model_fields.items()}
    if prefix is None:
        hint = f"did you mean {PROJECT}:{key}?" if key in ours else f"keys are `<package>:<name>`, e.g. {PROJECT}:models"
        return f"config key {key!r} has no project prefix and would be ignored ({hint})"
    if difflib.get_close_matches(prefix, [PROJECT], n=1, cutoff=0.75):
        return f"config key {key!r}: unknown prefix {prefix!r} (did you mean {PROJECT}:{name}?)"
    return None


def load_pulumi_config() -> StackConfig:
    """Parse the config of the running Pulumi program (all keys under our project prefix)."""
    from pulumi.runtime import config as runtime_config

    # The language host hands config over with set_all_config (older hosts: the PULUMI_CONFIG
    # environment variable); read both so no key escapes validation.
    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    env_secret_keys = set(runtime_config.get_config_secret_keys_env())
    raw: dict[str, Any] = {}
    for key, value in values.items():
        prefix, _, name = key.partition(":")
        if prefix != PROJECT:
            continue
        if runtime_config.is_config_secret(key) or key in env_secret_keys:
            raw[name] = SECRET
        elif isinstance(value, str) and value[:1] in "[{":
            raw[name] = json.loads(value)  # Pulumi passes structured values as JSON
        else:
            raw[name] = value
    return parse(raw)


def parse(raw: dict[str, Any]) -> StackConfig:
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError([format_error(e) for e in err.errors(include_url=False)]) from None


def format_error(error: dict[str, Any]) -> str:
    """One pydantic error as `models[1].maxModelLen: must be > 0, got -5`."""
    path, model_cls = _path(error["loc"])
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
        head, sep, rest = message.partition(": ")
        # Validators may name a sub-key first ("gpu.count: ..." or "[1].name: ...").
        if sep and " " not in head and (head.startswith("[") or head[:1].isalpha()):
            path = f"{path}{head}" if head.startswith("[") or not path else f"{path}.{head}"
            message = rest
        return f"{path}: {message}"
    if kind == "extra_forbidden":
        known = _aliases(model_cls)
        guess = difflib.get_close_matches(path.rsplit(".", 1)[-1], known, n=1)
        hint = f"did you mean {guess[0]}?" if guess else f"known keys: {', '.join(known)}"
        return f"{path}: unknown key ({hint}), got {value!r}"
    messages = {
        "greater_than": "must be > {gt}",
        "greater_than_equal": "must be >= {ge}",
        "less_than": "must be < {lt}",
        "less_than_equal": "must be <= {le}",
        "string_pattern_mismatch": "must match {pattern}",
        "string_too_long": "must be at most {max_length} characters",
        "string_too_short": "must be at least {min_length} characters",
        "literal_error": "must be one of {expected}",
        "missing": "required key is missing",
        "union_tag_invalid": "must be one of {expected_tags}",
        "union_tag_not_found": "required key is missing (one of 'vllm', 'sglang', 'llamacpp')",
    }
    template = messages.get(kind)
    message = template.format(**ctx) if template else error["msg"][:1].lower() + error["msg"][1:]
    if kind == "union_tag_invalid":
        return f"{path}.runtime: {message}, got {ctx.get('tag')!r}"
    if kind in ("union_tag_not_found", "missing"):
        if kind == "union_tag_not_found":
            path = f"{path}.{ctx.get('discriminator', 'runtime').strip(chr(39))}"
        return f"{path}: {message}"
    return f"{path}: {message}, got {value!r}"


def _path(loc: tuple[Any, ...]) -> tuple[str, type[BaseModel] | None]:
    """Render a pydantic loc as a key path, dropping union tags; also return the model that owns
    the last key (to suggest known keys for a typo)."""
    out, current, owner = "", StackConfig, None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            current = _unwrap(current, part=None)
        elif isinstance(current, dict):  # a discriminated union: this part is the tag
            current = current.get(part)
        elif isinstance(current, type) and issubclass(current, BaseModel):
            owner = current
            field = next(
                (f for n, f in current.model_fields.items() if part in (n, f.alias)),
                None,
            )
            out += f".{part}" if out else str(part)
            current = _unwrap(field.annotation, part=None) if field else None
        else:
            out += f".{part}" if out else str(part)
            current = None
    return out, owner


def _unwrap(annotation: Any, part: Any) -> Any:
    """Step into list/Optional/Annotated/Union types; a union of models becomes {tag: model}."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0], part)
    if origin in (list, tuple):
        return _unwrap(typing.get_args(annotation)[0], part)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(models) > 1:
            return {typing.get_args(m.model_fields["runtime"].annotation)[0]: m for m in models}
        return _unwrap(args[0], part) if len(args) == 1 else None
    return annotation


def _aliases(model_cls: type[BaseModel] | None) -> list[str]:
    if model_cls is None:
        return []
    return [f.alias or n for n, f in model_cls.model_fields.items()]
