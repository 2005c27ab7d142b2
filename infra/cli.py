"""`python -m infra ...`: commands that need no cluster and no Pulumi engine.

  render  --stack NAME | --config-file PATH  --out DIR   manifests the Chart would apply
  values  --stack NAME | --config-file PATH [--out FILE] chart values for `helm install -f` (Helm-only)
  plan    --stack NAME | --config-file PATH [--json]     capacity plan of every model
  plan    --hf-config PATH | --model KEY  --gpu-memory-gib G ...  ad-hoc plan of one vLLM model
  schema  --write | --check                               regenerate / verify chart values files
  diagnose --metrics-url URL | --metrics-file FILE ...    which known cause slows a model server
  preview-report --preview-json FILE --stack NAME | --config-file PATH   Markdown for reviewers
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from infra import chart
from infra.planner import plan_stack
from infra.planner.report import as_json, table
from infra.stack import ConfigError, load_stack_file, stack_file


def _config_source(args: argparse.Namespace) -> Path:
    return Path(args.config_file) if args.config_file else stack_file(args.stack)


# What `render` wrote into a directory: only these files are ever replaced or removed by a later
# render, so files a user put there survive.
RENDER_MANIFEST = ".llm-platform-render"


def _no_models(source: Path) -> int:
    print(f"error: {source}: the stack has no models (llm-platform:models is empty or missing); "
          "nothing to render or plan", file=sys.stderr)  # fmt: skip
    return 1


def cmd_render(args: argparse.Namespace) -> int:
    source = _config_source(args)
    config = plan_stack(load_stack_file(source)).config
    if not config.models:
        return _no_models(source)
    objects = chart.render(config.chart_values(), release=config.release_name, namespace=config.namespace)
    out = Path(args.out)
    manifest = out / RENDER_MANIFEST
    ours = set(manifest.read_text().split()) if manifest.exists() else set()
    foreign = sorted(p.name for p in out.glob("*") if p.name not in ours | {RENDER_MANIFEST}) if out.is_dir() else []
    if foreign and not args.force:
        print(f"error: --out {out}: holds files this command did not write ({', '.join(foreign[:5])}"
              f"{', ...' if len(foreign) > 5 else ''}); use an empty directory, or --force to write beside them",
              file=sys.stderr)  # fmt: skip
        return 1
    out.mkdir(parents=True, exist_ok=True)
    for stale in ours:
        (out / stale).unlink(missing_ok=True)  # the previous render's files only
    names = [chart.object_file_name(obj) for obj in objects]
    for name, obj in zip(names, objects):
        (out / name).write_text(yaml.safe_dump(obj, sort_keys=False))
    manifest.write_text("\n".join(names) + "\n")
    print(f"wrote {len(objects)} objects for {len(config.models)} models to {out}")
    return 0


def cmd_values(args: argparse.Namespace) -> int:
    """The values the program passes to charts/llm-serving (derived values filled in), for teams
    that `helm install` the chart instead of running Pulumi."""
    source = _config_source(args)
    config = plan_stack(load_stack_file(source)).config
    if not config.models:
        return _no_models(source)
    text = (f"# helm install {config.release_name} charts/llm-serving -n {config.namespace} -f <this file>\n"
            f"# Written by `python -m infra values` from {source.name}; regenerate instead of editing.\n"
            + yaml.safe_dump(chart.chart_values_dict(config.chart_values()), sort_keys=False))  # fmt: skip
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote values for {len(config.models)} models to {args.out}")
    else:
        print(text, end="")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    if args.stack or args.config_file:
        plans = plan_stack(load_stack_file(_config_source(args))).models
        if not plans:
            return _no_models(_config_source(args))
        print(as_json(plans) if args.json else table(plans))
        return 0
    from infra.planner.adhoc import plan_one

    result, row = plan_one(args)
    if args.json:
        print(json.dumps(result, indent=2))
    elif result["fits"]:
        print(table([row]))
    else:
        print(f"does not fit: {result['reason']}. {result['would_fit']}")
    return 0 if result["fits"] else 1


def cmd_schema(args: argparse.Namespace) -> int:
    if args.write:
        for path in chart.write_generated():
            print(f"wrote {path}")
        return 0
    stale = chart.stale_files()
    for path in stale:
        print(f"{path}: stale; run `python -m infra schema --write` and commit the result", file=sys.stderr)
    return 1 if stale else 0


def cmd_preview_report(args: argparse.Namespace) -> int:
    from infra.preview_report import load_preview, render_report

    try:
        preview = load_preview(Path(args.preview_json))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    plans = plan_stack(load_stack_file(_config_source(args))).models
    text = render_report(preview, plans, args.stack or Path(args.config_file).stem.removeprefix("Pulumi."))
    if args.out:
        Path(args.out).write_text(text)
    else:
        print(text, end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", help="write the manifests the Chart would apply, one file per object")
    source = render.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    source.add_argument("--config-file", help="any Pulumi stack config file")
    render.add_argument("--out", required=True, help="output directory (replaces only what an earlier render wrote)")
    render.add_argument("--force", action="store_true", help="write into a directory that holds other files (never removes them)")
    render.set_defaults(func=cmd_render)

    values = sub.add_parser("values", help="chart values for `helm install -f` from a stack (Helm-only install)")
    source = values.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    source.add_argument("--config-file", help="any Pulumi stack config file")
    values.add_argument("--out", help="write the values here instead of stdout")
    values.set_defaults(func=cmd_values)

    plan = sub.add_parser("plan", help="KV-cache capacity plan: per stack, or ad hoc for one vLLM model")
    source = plan.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    source.add_argument("--config-file", help="any Pulumi stack config file")
    source.add_argument("--hf-config", help="ad hoc: a Hugging Face config.json")
    source.add_argument("--model", help="ad hoc: a catalog model key (e.g. llama-3.1-8b)")
    plan.add_argument("--gpu-memory-gib", type=float, help="ad hoc: GPU memory as CUDA reports it")
    plan.add_argument("--gpu-product", help="ad hoc: a catalog GPU (nvidia.com/gpu.product), instead of --gpu-memory-gib")
    plan.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    plan.add_argument("--max-model-len", type=int)
    plan.add_argument("--tensor-parallel-size", type=int, default=1)
    plan.add_argument("--kv-cache-dtype", choices=["auto", "fp8"], default="auto")
    plan.add_argument("--quantization", choices=["none", "awq", "fp8"], default="none")
    plan.add_argument("--max-num-seqs", type=int)
    plan.add_argument("--max-num-batched-tokens", type=int)
    plan.add_argument("--available-kv-gib", type=float, help='plan from vLLM\'s logged "Available KV cache memory"')
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.set_defaults(func=cmd_plan)

    report = sub.add_parser("preview-report", help="Markdown for reviewers from `pulumi preview --json`")
    report.add_argument("--preview-json", required=True, help="output of `pulumi preview --json`")
    source = report.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    source.add_argument("--config-file", help="the stack's config file")
    report.add_argument("--out", help="write the report here instead of stdout")
    report.set_defaults(func=cmd_preview_report)

    # Listed for --help; `main` hands its arguments to infra.diagnose (own parser and exit codes).
    sub.add_parser("diagnose", add_help=False,
                   help="which known cause slows a model server, from its /metrics (`diagnose --help`)")  # fmt: skip

    schema = sub.add_parser("schema", help="chart values.schema.json and values.yaml from the config model")
    mode = schema.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the files")
    mode.add_argument("--check", action="store_true", help="exit 1 if a committed file is stale")
    schema.set_defaults(func=cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["diagnose"]:  # its own parser and exit codes (0 healthy, 1 degraded, 2 error)
        from infra.diagnose import main as diagnose

        return diagnose(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        for line in err.lines:
            print(f"error: {line}", file=sys.stderr)
        return 2
