"""Run inside the cached vLLM venv (tools/vllm-venv.sh): build vLLM's own ModelConfig for a
checkpoint directory holding only a config.json, with the --quantization our chart rendered (or
none), so ModelConfig._verify_quantization decides as it would at server start.

stdin: JSON list of {"config": <config.json>, "quantization": str | null}.
stdout: JSON list of {"ok", "error", "quantization"} (the method vLLM resolved).
"""

import json
import logging
import sys
import tempfile
from pathlib import Path

from vllm.config import ModelConfig

logging.disable(logging.WARNING)


def check(case: dict) -> dict:
    with tempfile.TemporaryDirectory() as model_dir:
        Path(model_dir, "config.json").write_text(json.dumps(case["config"]))
        try:
            config = ModelConfig(model=model_dir, quantization=case["quantization"], skip_tokenizer_init=True)
        except (ValueError, TypeError) as err:
            return {"ok": False, "error": " ".join(str(err).split())[:800], "quantization": None}
        return {"ok": True, "error": None, "quantization": config.quantization}


if __name__ == "__main__":
    json.dump([check(case) for case in json.load(sys.stdin)], sys.stdout)
