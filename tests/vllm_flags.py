"""Run inside the cached vLLM venv: print every option string of the pinned vLLM's `vllm serve`
parser as a JSON list (infra/server_flags.json is checked against it)."""

import json
import sys

from vllm.entrypoints.launchers.cli_args import make_arg_parser
from vllm.utils.argparse_utils import FlexibleArgumentParser

parser = make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))
json.dump(sorted({s for action in parser._actions for s in action.option_strings}), sys.stdout)
