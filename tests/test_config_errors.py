"""Bad stack config: each case fails with one line naming the key path and the bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, llamacpp_entry, vllm_entry

from infra.stack import ConfigError, load_stack_file, parse

CASES = {
    "unknown-key": (
        {"models": [vllm_entry(maxModelLenn=4096)]},
        "models[0].maxModelLenn: unknown key (did you mean maxModelLen?), got 4096",
    ),
    "unknown-top-level-key": ({"modelz": []}, "modelz: unknown key (did you mean models?), got []"),
    "duplicate-name": (
        {"models": [vllm_entry(name="m"), llamacpp_entry(name="m")]},
        "models[1].name: duplicate of models[0], got 'm'",
    ),
    "duplicate-served-name": (
        {"models": [vllm_entry(name="a", servedModelName="x"), llamacpp_entry(name="b", servedModelName="x")]},
        "models[1].servedModelName: duplicate of models[0], got 'x'",
    ),
    "name-not-dns1035": (
        {"models": [vllm_entry(name="Llama_3")]},
        "models[0].name: must match ^[a-z]([-a-z0-9]*[a-z0-9])?$, got 'Llama_3'",
    ),
    "name-starts-with-digit": (
        {"models": [vllm_entry(name="3b")]},
        "models[0].name: must match ^[a-z]([-a-z0-9]*[a-z0-9])?$, got '3b'",
    ),
    "awq-on-llamacpp": (
        {"models": [llamacpp_entry(quantization="awq")]},
        "models[0].quantization: awq is a vLLM format; llama.cpp takes a GGUF type "
        "(F32, F16, BF16, Q8_0, Q6_K, Q5_K_M, Q5_0, Q4_K_M, Q4_0, Q3_K_M, Q2_K), got 'awq'",
    ),
    "vllm-zero-gpus": (
        {"models": [vllm_entry(gpu={"count": 0})]},
        "models[0].gpu.count: vLLM models need at least 1 GPU, got 0",
    ),
    "vllm-no-gpu-block": (
        {"models": [{k: v for k, v in vllm_entry().items() if k != "gpu"}]},
        "models[0].gpu: vLLM models need a gpu block with count >= 1, got none",
    ),
    "llamacpp-asks-for-gpu": (
        {"models": [llamacpp_entry(gpu={"count": 1})]},
        "models[0].gpu: llama.cpp models run on CPU only here, remove gpu, got {'count': 1}",
    ),
    "negative-max-model-len": (
        {"models": [vllm_entry(), vllm_entry(name="b", maxModelLen=-5)]},
        "models[1].maxModelLen: must be > 0, got -5",
    ),
    "zero-max-num-seqs": ({"models": [vllm_entry(maxNumSeqs=0)]}, "models[0].maxNumSeqs: must be > 0, got 0"),
    "zero-cpu": (
        {"models": [llamacpp_entry(resources={"cpu": "0", "memory": "1Gi"})]},
        "models[0].resources.cpu: must be > 0, got '0'",
    ),
    "negative-memory": (
        {"models": [llamacpp_entry(resources={"cpu": "1", "memory": "-1Gi"})]},
        "models[0].resources.memory: must be > 0, got '-1Gi'",
    ),
    "zero-replicas": ({"models": [vllm_entry(replicas=0)]}, "models[0].replicas: must be >= 1, got 0"),
    "gpu-util-too-high": (
        {"models": [vllm_entry(gpuMemoryUtilization=1.0)]},
        "models[0].gpuMemoryUtilization: must be < 1.0, got 1.0",
    ),
    "gpu-util-zero": (
        {"models": [vllm_entry(gpuMemoryUtilization=0)]},
        "models[0].gpuMemoryUtilization: must be > 0.0, got 0",
    ),
    "image-latest": (
        {"models": [vllm_entry(image={"repository": "vllm/vllm-openai", "tag": "latest"})]},
        "models[0].image.tag: must be a pinned version, not 'latest', got 'latest'",
    ),
    "image-no-tag": (
        {"models": [vllm_entry(image={"repository": "vllm/vllm-openai"})]},
        "models[0].image: image 'vllm/vllm-openai' needs a pinned tag or a digest, got neither",
    ),
    "extra-args-repeat-typed-flag": (
        {"models": [vllm_entry(extraArgs=["--max-model-len=8192"])]},
        "models[0].extraArgs: --max-model-len is set by a typed field of this model; "
        "set that field instead, got '--max-model-len=8192'",
    ),
    "llamacpp-extra-args-repeat-typed-flag": (
        {"models": [llamacpp_entry(extraArgs=["--ctx-size", "8192"])]},
        "models[0].extraArgs: --ctx-size is set by a typed field of this model; "
        "set that field instead, got '--ctx-size'",
    ),
    "unknown-runtime": (
        {"models": [vllm_entry(runtime="tgi")]},
        "models[0].runtime: must be one of 'vllm', 'sglang', 'llamacpp', got 'tgi'",
    ),
    "min-above-max-replicas": (
        {"models": [vllm_entry(autoscaling={"mode": "keda", "minReplicas": 5, "maxReplicas": 2})]},
        "models[0].autoscaling.minReplicas: must be <= maxReplicas (2), got 5",
    ),
    "scale-to-zero-without-activation-source": (
        {"models": [vllm_entry(autoscaling={"mode": "keda", "minReplicas": 0, "maxReplicas": 2})]},
        "models[0].autoscaling.minReplicas: 0 with mode keda needs the KEDA HTTP add-on to wake 'qwen-fp16' "
        "(KEDA's Prometheus triggers see no demand at zero replicas); set platform.keda.httpAddon true, "
        "use mode knative, or keep minReplicas >= 1",
    ),
    "scale-to-zero-with-fixed-replicas": (
        {"models": [vllm_entry(autoscaling={"mode": "none", "minReplicas": 0})]},
        "models[0].autoscaling.minReplicas: 0 needs mode keda (with the HTTP add-on) or knative, got mode none",
    ),
    "draft-model-without-model": (
        {"models": [vllm_entry(speculative={"method": "draft_model", "numSpeculativeTokens": 4})]},
        "models[0].speculative.model: method draft_model needs a draft model (hf://org/repo), got none",
    ),
    "ngram-with-a-draft-model": (
        {"models": [vllm_entry(speculative={"method": "ngram", "numSpeculativeTokens": 4, "model": "hf://a/b"})]},
        "models[0].speculative.model: method ngram takes no draft model, got 'hf://a/b'",
    ),
    "unknown-speculative-method": (
        {"models": [vllm_entry(speculative={"method": "medusa2", "numSpeculativeTokens": 4})]},
        "models[0].speculative.method: must be one of 'ngram', 'suffix', 'draft_model', 'eagle', 'eagle3' or 'mtp', got 'medusa2'",
    ),
    "lora-duplicate-adapter-names": (
        {"models": [vllm_entry(lora={"adapters": [{"name": "a", "source": "hf://x/a"}, {"name": "a", "source": "hf://x/b"}]})]},
        "models[0].lora.adapters: names must be unique, got ['a', 'a']",
    ),
    "lora-rank-vllm-has-no-kernel-for": (
        {"models": [vllm_entry(lora={"adapters": [{"name": "a", "source": "hf://x/a"}], "maxLoraRank": 24})]},
        "models[0].lora.maxLoraRank: must be one of 1, 8, 16, 32, 64, 128, 256, 320 or 512, got 24",
    ),
    "lora-on-sglang": (
        {"models": [vllm_entry(runtime="sglang", lora={"adapters": [{"name": "a", "source": "hf://x/a"}]})]},
        "models[0].lora: typed only for runtime vllm (SGLang takes its own flags in extraArgs), got "
        "{'adapters': [{'name': 'a', 'source': 'hf://x/a'}]}",
    ),
    "vllm-flag-in-sglang-extra-args": (
        {"models": [vllm_entry(runtime="sglang", extraArgs=["--max-num-seqs=8"])]},
        "models[0].extraArgs: --max-num-seqs is not a flag of SGLang's server parser at the pinned release "
        "(--max-num-seqs is vLLM's; the typed maxNumSeqs sets SGLang's --max-running-requests), got '--max-num-seqs=8'",
    ),
    "lora-on-llamacpp": (
        {"models": [llamacpp_entry(lora={"adapters": [{"name": "a", "source": "hf://x/a"}]})]},
        "models[0].lora: unknown key (known keys: name, servedModelName, source, maxModelLen, maxNumSeqs, replicas, "
        "autoscaling, rollout, routing, alerts, nodeSelector, tolerations, terminationGracePeriodSeconds, probes, architecture, "
        "hfConfig, extraArgs, runtime, ggufFile, quantization, resources, image), got {'adapters': [{'name': 'a', 'source': 'hf://x/a'}]}",
    ),
    "keda-without-keda": (
        {"models": [vllm_entry(autoscaling={"mode": "keda", "maxReplicas": 2})], "platform": {"keda": {"install": False}}},
        "models[0].autoscaling.mode: keda needs keda on the cluster; set platform.keda.install true, "
        "or platform.keda.preinstalled true if it is already there",
    ),
    "canary-on-raw-deployment": (
        {"models": [vllm_entry(rollout={"canaryTrafficPercent": 10})]},
        "models[0].rollout.canaryTrafficPercent: traffic splitting needs KServe's Knative mode "
        "(autoscaling.mode knative), got mode 'none'",
    ),
    "grace-period-in-knative-mode": (
        {"models": [vllm_entry(autoscaling={"mode": "knative", "maxReplicas": 2}, terminationGracePeriodSeconds=300)],
         "platform": {"knative": {"install": True}}},
        "models[0].terminationGracePeriodSeconds: Knative mode sets the grace period from "
        "autoscaling.requestTimeoutSeconds and drains through its queue-proxy (Knative refuses this field); "
        "remove it or use mode keda, got 300",
    ),
    "knative-request-timeout-over-its-cap": (
        {"models": [vllm_entry(autoscaling={"mode": "knative", "maxReplicas": 2, "requestTimeoutSeconds": 3600})],
         "platform": {"knative": {"install": True}}},
        "models[0].autoscaling.requestTimeoutSeconds: must be <= 600, got 3600",
    ),
    "short-grace-period": (
        {"models": [vllm_entry(terminationGracePeriodSeconds=30)]},
        "models[0].terminationGracePeriodSeconds: must be >= 120, got 30",
    ),
    "plaintext-hf-token": (
        {"hfToken": "hf_plaintext"},
        "hfToken: found in plaintext; remove it and set it with `pulumi config set --secret`",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_names_key_and_value(case: str) -> None:
    raw, expected = CASES[case]
    with pytest.raises(ConfigError) as err:
        parse(raw)
    assert err.value.lines == [expected]


def test_plaintext_token_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as err:
        parse({"hfToken": "hf_plaintext"})
    assert "hf_plaintext" not in str(err.value)


def test_unparseable_yaml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  llm-platform:models: [\n")
    with pytest.raises(ConfigError) as err:
        load_stack_file(bad)
    assert len(err.value.lines) == 1
    assert err.value.lines[0].startswith(f"{bad}: unparseable YAML at line 3")


def _run_render(config_file: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", "render", "--config-file", str(config_file), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )


def test_render_cli_rejects_bad_config_without_traceback_or_output(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(
        "config:\n  llm-platform:models:\n"
        "    - {name: a, runtime: llamacpp, source: {uri: 'hf://x/y'}, ggufFile: m.gguf, maxModelLen: -5}\n"
    )
    out = tmp_path / "out"
    result = _run_render(bad, out)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: models[0].maxModelLen: must be > 0, got -5"
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_render_cli_rejects_unparseable_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config: {llm-platform:namespace: [\n")
    result = _run_render(bad, tmp_path / "out")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "unparseable YAML" in result.stderr and "Traceback" not in result.stderr


def test_unknown_gpu_product_names_the_closest_catalog_entries() -> None:
    from infra.planner import plan_stack

    with pytest.raises(ConfigError) as err:
        plan_stack(parse({"models": [vllm_entry(gpu={"count": 1, "product": "H100"})]}))
    assert err.value.lines == [
        "models[0].gpu.product: unknown gpu.product 'H100' (closest: NVIDIA-H100-80GB-HBM3, NVIDIA-H100-PCIe, "
        "NVIDIA-H100-NVL); for another GPU set gpu.memoryGib to the memory CUDA reports (nvidia-smi memory.total)"
    ]


def test_max_model_len_beyond_the_model_context_is_refused_with_both_numbers() -> None:
    from infra.planner import plan_stack

    with pytest.raises(ConfigError) as err:
        plan_stack(parse({"models": [vllm_entry(source={"uri": "hf://meta-llama/Llama-3.1-8B-Instruct"}, maxModelLen=200000,
                                                gpu={"count": 1, "product": "NVIDIA-H100-80GB-HBM3"})]}))  # fmt: skip
    [line] = err.value.lines
    assert line.startswith("models[0].maxModelLen: 200000 tokens exceeds the model's context of 131072 tokens")
    assert "RoPE scaling" in line


def _context_of(tmp_path: Path, rope_scaling: dict, max_position_embeddings: int = 32768) -> int:
    import json

    from infra.architecture import from_hf_config

    config = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "num_hidden_layers": 36, "hidden_size": 4096,
              "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
              "intermediate_size": 12288, "max_position_embeddings": max_position_embeddings, "rope_scaling": rope_scaling}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))
    return from_hf_config(tmp_path / "config.json").context_length


def test_linear_rope_scaling_extends_the_context_deliberately(tmp_path: Path) -> None:
    assert _context_of(tmp_path, {"rope_type": "linear", "factor": 4.0}) == 131072


def test_yarn_context_is_max_position_embeddings_as_vllm_reads_it(tmp_path: Path) -> None:
    """vLLM 0.32 _get_and_verify_max_len applies no factor for yarn/llama3/longrope: their
    max_position_embeddings is already the scaled length (extend it there, e.g. hf_overrides)."""
    assert _context_of(tmp_path, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}) == 32768
    assert _context_of(tmp_path, {"rope_type": "yarn", "factor": 4.0}, max_position_embeddings=131072) == 131072


def test_gguf_type_contradicting_the_file_name_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        parse({"models": [llamacpp_entry(ggufFile="tinyllama-1.1b-chat-v1.0.Q8_0.gguf", quantization="Q4_K_M")]})
    assert err.value.lines == ["models[0].quantization: 'Q4_K_M' contradicts ggufFile 'tinyllama-1.1b-chat-v1.0.Q8_0.gguf', "
                               "which is a Q8_0 file by its name; set quantization Q8_0 (the capacity plan sizes the weights "
                               "from it), got 'Q4_K_M'"]  # fmt: skip


def test_gguf_type_is_taken_from_the_file_name() -> None:
    entry = {k: v for k, v in llamacpp_entry(ggufFile="model-q5_k_m.gguf").items() if k != "quantization"}
    assert parse({"models": [entry]}).models[0].quantization == "Q5_K_M"


def test_unnamed_gguf_type_is_planned_with_a_warning() -> None:
    from infra.planner import plan_stack

    plan = plan_stack(parse({"models": [llamacpp_entry(ggufFile="model.gguf", quantization="Q4_0")]}))
    assert any("does not name its GGUF type" in w for w in plan.models[0].plan.warnings)


@pytest.mark.parametrize(("entry", "expected"), [
    (vllm_entry(extraArgs=["--enable-log-request"]),
     "models[0].extraArgs: --enable-log-request is not a flag of vLLM's serve parser at the pinned release (did you mean --enable-log-requests?), got '--enable-log-request'"),
    (llamacpp_entry(extraArgs=["--flash-atn", "on"]),
     "models[0].extraArgs: --flash-atn is not a flag of llama-server at the pinned release (did you mean --flash-attn?), got '--flash-atn'"),
], ids=["vllm", "llamacpp"])  # fmt: skip
def test_misspelt_extra_args_are_refused_with_the_closest_flag(entry: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse({"models": [entry]})
    assert err.value.lines == [expected]


def test_real_extra_args_pass() -> None:
    config = parse({"models": [vllm_entry(extraArgs=["--enable-log-requests", "--max_logprobs=5"]),
                               llamacpp_entry(name="b", extraArgs=["--flash-attn", "on"])]})  # fmt: skip
    assert [m.extra_args for m in config.models] == [["--enable-log-requests", "--max_logprobs=5"], ["--flash-attn", "on"]]
