"""Beyond one machine: `--dry-run` of every shipped recipe (offline, nothing loaded or written), the
DUMP paper recipe resolved to the paper's setup, the accelerate configs, `accelerate launch -m
dumpcli`, LoRA end to end (train, eval loads the adapter, resume), and the vLLM-missing messages."""

from __future__ import annotations

import importlib.util
import io
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import torch
import yaml
from conftest import save_recipe
from helpers import tiny_train_recipe
from rich.console import Console
from typer.testing import CliRunner

from dumpcli import __version__
from dumpcli.cli import app
from dumpcli.data.templates import DUMP_KK_SYSTEM, render
from dumpcli.errors import DumpError
from dumpcli.model import describe_model_source, load_pretrained, resolve_model_path
from dumpcli.recipe import ModelSpec, load_recipe
from dumpcli.train.dry_run import batch_plan, dry_run

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted([*REPO.glob("recipes/*.yaml"), *REPO.glob("recipes/examples/*.yaml")])
PAPER = REPO / "recipes" / "dump-paper-kk.yaml"
PAPER_SMALL = REPO / "recipes" / "dump-paper-kk-small.yaml"

# The system turn of every prompt in the DUMP paper's kk_logic_* data, character for character.
DUMP_SYSTEM_PROMPT = (
    "You are a helpful assistant. The assistant first thinks about the reasoning process in the mind and "
    "then provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and<answer> </answer> tags, respectively, i.e., <think> reasoning process here "
    "</think><answer> answer here </answer>.  Now the user asks you to solve a logical reasoning problem. "
    "After thinking, when you finally reach a conclusion, clearly state the identity of each character "
    "within <answer> </answer> tags. i.e., <answer> (1) Zoey is a knight\n(2) ... </answer>.\n"
)

TINY = tiny_train_recipe(**{"name": "tiny-scale", "train.grpo.max_steps": 2})


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("DUMP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open an internet socket fails the test (the dry run must never download)."""
    real = socket.socket.connect

    def guard(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access attempted: {address}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", guard)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def with_lora(recipe: dict) -> dict:
    out = yaml.safe_load(yaml.safe_dump(recipe))
    out["model"]["lora"] = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    return out


# ----------------------------------------------------------------------------- dry run


def test_the_shipped_recipes_include_the_paper_ones():
    names = {p.name for p in RECIPES}
    assert {"quickstart.yaml", "dump-paper-kk.yaml", "dump-paper-kk-small.yaml"} <= names
    assert not any("accelerate" in p.parts for p in RECIPES)  # launcher configs are not recipes


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: str(p.relative_to(REPO / "recipes")))
def test_dry_run_of_every_shipped_recipe_works_offline_and_writes_nothing(recipe, tmp_path, no_network):
    out = tmp_path / "run"
    code, output = invoke("train", str(recipe), "--dry-run", "--set", f"output_dir={out}")
    assert code == 0, output
    assert "dry run ok" in output
    assert "GRPOConfig" in output and "prompts per step" in output
    assert not out.exists()  # nothing prepared, nothing written
    assert not (tmp_path / "cache").exists()  # no warm start built


def test_paper_recipe_resolves_to_the_papers_setup(tmp_path, no_network):
    recipe = load_recipe(PAPER, [f"output_dir={tmp_path / 'run'}"])
    got = dry_run(recipe, console=quiet())

    # data: knights and knaves, 3..14 people, 900 train + 100 test each, the DUMP prompt
    assert got["data"]["prepared"] is False
    assert got["data"]["distributions"] == [(f"kk/{n}", 900, 100) for n in range(3, 15)]
    assert got["train_total"] == 10800
    assert got["prompt_template"] == "dump_kk"
    assert got["system_prompt"] == DUMP_SYSTEM_PROMPT
    # model, reward, curriculum
    assert recipe.model.name_or_path == "Qwen/Qwen2.5-7B-Instruct-1M"
    assert got["model"]["kind"] == "hub id"
    assert recipe.warmup.steps == 0 and recipe.model.lora is None
    assert got["reward_scheme"] == "dump"
    assert got["scheduler"]["name"] == "ucb"
    assert got["scheduler"]["options"] == {"window": 300, "exploration": 1.0, "temperature": 0.1}
    assert got["scheduler"]["probabilities"] == pytest.approx({f"kk/{n}": 1 / 12 for n in range(3, 15)})
    # GRPO on the GPU machine: 16 rollouts, lr 1e-6, KL 0.001, 20480 tokens, 168 steps, vLLM, bf16
    grpo = got["grpo"]
    assert grpo["num_generations"] == 16
    assert grpo["learning_rate"] == pytest.approx(1e-6)
    assert grpo["beta"] == pytest.approx(0.001)
    assert grpo["max_completion_length"] == 20480
    assert grpo["max_steps"] == 168
    assert grpo["use_vllm"] is True and grpo["vllm_mode"] == "colocate"
    assert grpo["bf16"] is True and grpo["use_cpu"] is False
    assert got["grpo_here"]["use_cpu"] is (not torch.cuda.is_available())
    # 128 prompts x 16 = 2048 completions per optimizer step on 8 GPUs, one generation per step,
    # 168 steps = 2 epochs of 84 steps
    eight = next(p for p in got["batch_plans"] if p["processes"] == 8)
    assert eight["error"] is None
    assert eight["prompts_per_step"] == 128
    assert eight["completions_per_generation"] == 2048
    assert eight["steps_per_generation"] == grpo["gradient_accumulation_steps"]
    assert int(eight["steps_per_epoch"]) == 84
    assert eight["epochs"] == pytest.approx(2.0, abs=0.01)
    # evaluation with vLLM on all 100 test puzzles per distribution
    assert recipe.eval.backend == "vllm" and recipe.eval.max_per_distribution == 100


def test_small_paper_recipe_fits_one_gpu(tmp_path, no_network):
    recipe = load_recipe(PAPER_SMALL, [f"output_dir={tmp_path / 'run'}"])
    got = dry_run(recipe, console=quiet())
    assert got["data"]["distributions"] == [(f"kk/{n}", 900, 100) for n in range(3, 15)]
    assert got["system_prompt"] == DUMP_SYSTEM_PROMPT
    assert recipe.model.name_or_path in ("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct")
    one = next(p for p in got["batch_plans"] if p["processes"] == 1)
    assert one["error"] is None and one["prompts_per_step"] == 32
    assert got["scheduler"]["options"] == {"window": 300, "exploration": 1.0, "temperature": 0.1}
    lora = load_recipe(PAPER_SMALL, ["model.lora={r: 32, alpha: 64, target_modules: all-linear}"])
    assert dry_run(lora, console=quiet())["lora"] == {"r": 32, "alpha": 64, "target_modules": "all-linear"}


def test_dump_kk_template_is_the_papers_prompt_and_think_answer_is_unchanged():
    messages = render("dump_kk", "Who is a knight?")
    assert messages == [
        {"role": "system", "content": DUMP_SYSTEM_PROMPT},
        {"role": "user", "content": "Who is a knight?"},
    ]
    assert DUMP_KK_SYSTEM == DUMP_SYSTEM_PROMPT
    assert render("think_answer", "q")[0]["content"] != DUMP_SYSTEM_PROMPT


def test_dry_run_reports_prepared_data_and_an_existing_run(tmp_path, no_network):
    path = save_recipe(tmp_path, TINY)
    code, output = invoke("prepare", str(path))
    assert code == 0, output
    got = dry_run(load_recipe(path), console=quiet())
    assert got["data"]["prepared"] is True
    assert got["data"]["distributions"] == [("kk/2", 24, 4), ("kk/3", 24, 4)]
    assert got["prompts_per_step"] == 4  # 8 completions per device / 2 generations, one process
    assert got["steps_per_epoch"] == 12
    assert got["checkpoint"] is None
    assert got["warm_start"]["cached"] is False and got["warm_start"]["dir"] is not None


def test_dry_run_notes_missing_inputs_but_fails_on_a_malformed_model_or_grpo_config(tmp_path, no_network):
    recipe = yaml.safe_load(yaml.safe_dump(TINY))
    recipe["data"]["sources"].append(
        {"name": "files", "files": ["data/*.jsonl"], "verifier": "knights_knaves", "difficulty": {"value": 1}}
    )
    path = save_recipe(tmp_path, recipe)
    code, output = invoke("train", str(path), "--dry-run")
    assert code == 0, output
    assert "no file matches 'data/*.jsonl'" in " ".join(output.split())
    assert "files/* (after prepare)" in output

    code, output = invoke("train", str(path), "--dry-run", "--set", "model.name_or_path=not a model id!")
    assert code == 1
    assert "model.name_or_path" in output and "neither a directory nor a hub id" in " ".join(output.split())

    code, output = invoke(
        "train", str(path), "--dry-run", "--set", "train.grpo.log_completions_hub_repo=me/x"
    )
    assert code == 1  # a combination only TRL's own GRPOConfig checks (it needs log_completions)
    assert "trl.GRPOConfig rejects" in output and "log_completions" in output

    code, output = invoke("train", str(path), "--dry-run", "--set", "train.grpo.num_generations=3")
    assert code == 2  # checked at recipe load: 8 completions per generation are not groups of 3
    assert "train.grpo.num_generations: 3 does not divide the 8 completions" in " ".join(output.split())


QUICKSTART = REPO / "recipes" / "quickstart.yaml"


def test_dry_run_shows_the_fixed_and_scheduled_mixtures(tmp_path, no_network):
    """weights, schedule and pools on the quickstart: their options and the mixture they give."""

    def resolved(scheduler: str) -> dict:
        overrides = [f"output_dir={tmp_path / 'run'}", f"train.scheduler={scheduler}"]
        return dry_run(load_recipe(QUICKSTART, overrides), console=quiet())

    got = resolved('{name: weights, weights: {"sort/*": 2, "rev/4": 1, "*": 0.5}}')
    # 4 sort distributions x 2 + rev/4 x 1 + 3 rev + parity x 0.5 = 11
    p = got["scheduler"]["probabilities"]
    assert p["sort/4"] == pytest.approx(2 / 11) and p["rev/4"] == pytest.approx(1 / 11)
    assert p["rev/6"] == pytest.approx(0.5 / 11) and p["parity/16"] == pytest.approx(0.5 / 11)
    assert got["scheduler"]["options"] == {"weights": {"sort/*": 2.0, "rev/4": 1.0, "*": 0.5}}

    got = resolved("{name: schedule, schedule: classic}")  # T: the run's 300 generation steps
    assert got["generation_steps"] == 300 and got["notes"] == []
    order = [d[0] for d in got["data"]["distributions"]]  # easy to hard: sort/4, rev/4, sort/6, ...
    # classic: stage floor(t * 9 / 300): 0 at t = 0, 4 (sort/8) at t = 150, 8 (parity/16) at t = 299
    for t, stage in ((0, 0), (150, 4), (299, 8)):
        probs = got["scheduler"]["probabilities"] if t == 0 else got["scheduler"]["later"][t]
        assert [probs[d] for d in order] == [float(i == stage) for i in range(9)]
    assert order[4] == "sort/8" and order[8] == "parity/16"
    assert "ends early" in resolved("{name: schedule, total_steps: 200}")["notes"][0]

    got = resolved("{name: pools}")
    assert got["scheduler"]["probabilities"] == {d: pytest.approx(1 / 9) for d in order}  # all unseen
    assert got["scheduler"]["options"]["hard_threshold"] == 0.25
    assert got["scheduler"]["options"]["easy_threshold"] == 0.75

    with pytest.raises(
        DumpError, match=r"no key matches 4 distribution\(s\): rev/6, rev/8, rev/10, parity/16"
    ):
        resolved('{name: weights, weights: {"sort/*": 2, "rev/4": 1}}')
    code, output = invoke("train", str(QUICKSTART), "--dry-run", "--scheduler", "schedule")
    assert code == 0 and "p at step 150" in output and "p at step 299" in output


def test_batch_plan_follows_trls_arithmetic():
    class Config:
        per_device_train_batch_size = 2
        gradient_accumulation_steps = 128
        num_generations = 16
        num_iterations = 1
        max_steps = 168

    plan = batch_plan(Config, {}, 4, 10800)
    assert plan["completions_per_generation"] == 1024 and plan["prompts_per_step"] == 64
    # a fixed generation batch served over several optimizer steps
    plan = batch_plan(Config, {"generation_batch_size": 512}, 8, None)
    assert plan["steps_per_generation"] == 32 and plan["prompts_per_generation"] == 32
    assert plan["prompts_per_step"] == 32 * 128 / 32
    assert "not a multiple" in batch_plan(Config, {"generation_batch_size": 100}, 8, None)["error"]
    Config.num_generations = 3
    assert "num_generations 3" in batch_plan(Config, {}, 1, None)["error"]


def test_model_sources_are_described_without_loading(tmp_path, monkeypatch):
    assert describe_model_source(ModelSpec(name_or_path="tiny"), tmp_path)["available"] is True
    # a relative directory resolves against the recipe's folder
    (tmp_path / "models" / "m").mkdir(parents=True)
    got = describe_model_source(ModelSpec(name_or_path="models/m"), tmp_path)
    assert got["kind"] == "local directory" and got["available"] is False  # no config.json yet
    (tmp_path / "models" / "m" / "config.json").write_text("{}")
    assert describe_model_source(ModelSpec(name_or_path="models/m"), tmp_path)["available"] is True
    assert resolve_model_path("models/m", tmp_path) == str(tmp_path / "models" / "m")
    assert resolve_model_path("Qwen/Qwen2.5-7B", tmp_path) == "Qwen/Qwen2.5-7B"
    # a path that is not here is "not available", not malformed (it may exist on the GPU machine)
    for path in ("/data/models/qwen", "./models/other", "a/b/c"):
        got = describe_model_source(ModelSpec(name_or_path=path), tmp_path)
        assert got["kind"] == "local directory" and got["available"] is False, path
    for bad in ("not an id!", "org/-name", "org--x/name"):
        assert describe_model_source(ModelSpec(name_or_path=bad), tmp_path)["kind"] == "invalid", bad
    # hub ids: looked up in the local cache only
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    got = describe_model_source(ModelSpec(name_or_path="acme/model"), tmp_path)
    assert got == {"kind": "hub id", "available": False, "detail": got["detail"]}
    snapshot = cache / "models--acme--model" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (cache / "models--acme--model" / "refs").mkdir()
    (cache / "models--acme--model" / "refs" / "main").write_text("abc123")
    assert describe_model_source(ModelSpec(name_or_path="acme/model"), tmp_path)["available"] is True


# ----------------------------------------------------------------------------- launching


@pytest.mark.parametrize(
    ("name", "kind", "flag", "extra"),
    [
        ("multi_gpu", "MULTI_GPU", "multi_gpu", {}),
        ("zero3", "DEEPSPEED", "use_deepspeed", {"zero_stage": 3, "zero3_save_16bit_model": True}),
        ("fsdp", "FSDP", "use_fsdp", {"fsdp_version": 2, "fsdp_state_dict_type": "FULL_STATE_DICT"}),
    ],
)
def test_accelerate_configs_parse_as_accelerate_reads_them(name, kind, flag, extra):
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    path = REPO / "recipes" / "accelerate" / f"{name}.yaml"
    config = load_config_from_file(str(path))  # rejects unknown top-level keys and bad enum values
    assert isinstance(config, ClusterConfig)
    assert config.distributed_type.value == kind
    assert config.num_processes == 8 and config.num_machines == 1
    assert config.mixed_precision == "bf16" and config.use_cpu is False
    parser = launch_command_parser()
    known = {action.dest for action in parser._actions}
    for key in config.deepspeed_config:  # nested keys become launch arguments: they must exist
        assert key in known, key
    for key in config.fsdp_config:
        assert (key if key.startswith("fsdp") else f"fsdp_{key}") in known, key
    args = parser.parse_args(["--config_file", str(path), "-m", "dumpcli", "train", "recipe.yaml"])
    args, _, _ = _validate_launch_command(args)
    assert getattr(args, flag) is True
    assert args.module is True and args.training_script == "dumpcli"
    assert args.training_script_args == ["train", "recipe.yaml"]
    assert args.num_processes == 8 and args.mixed_precision == "bf16"
    for key, value in extra.items():
        assert getattr(args, key) == value, key


def test_the_package_runs_as_a_module():
    proc = subprocess.run(
        [sys.executable, "-m", "dumpcli", "--version"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert __version__ in proc.stdout


def run_group(cmd: list[str], *, env: dict, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run a launcher in its own session; on timeout kill it *and* its ranks (no orphans)."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"timed out after {timeout} s:\n{out[-2000:]}\n{err[-2000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_accelerate_launch_with_the_shipped_config_trains_and_ranks_agree(tmp_path):
    """The documented launch, `accelerate launch --config_file recipes/accelerate/multi_gpu.yaml`,
    with 2 CPU processes (gloo): every rank draws the same prompts. `dump train` runs through
    tests/rank_log_train.py, which passes train() a draw observer that logs each rank's draws."""
    from dumpcli.data.prepared import load_split
    from dumpcli.train.warmup import prepare_policy

    recipe = save_recipe(tmp_path, TINY)
    assert invoke("prepare", str(recipe))[0] == 0  # prepare once so the ranks only read
    # and warm-start once: on CPU, accelerate forms the gloo group only when GRPOConfig is built, so
    # run.py's main_process_first() cannot yet stop both ranks from building the warm start at once
    loaded = load_recipe(recipe)
    prepare_policy(loaded, load_split(loaded, "train"), load_split(loaded, "test"), quiet())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(REPO / "recipes" / "accelerate" / "multi_gpu.yaml"),
        "--num_processes", "2", "--main_process_port", str(_free_port()),
        str(REPO / "tests" / "rank_log_train.py"), str(recipe),
        "--set", "train.grpo.per_device_train_batch_size=4",
    ]  # fmt: skip
    proc = run_group(cmd, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "out"
    assert (out / "checkpoint-2" / "trainer_state.json").exists()
    ranks = [
        [orjson.loads(line) for line in (out / "ranks" / f"rank{r}.jsonl").read_bytes().splitlines()]
        for r in (0, 1)
    ]
    assert len(ranks[0]) == len(ranks[1]) == 2
    for r0, r1 in zip(*ranks, strict=True):
        assert r0["probabilities"] == r1["probabilities"]
        assert r0["drawn_rows"] == r1["drawn_rows"]
        assert r0["local_rows"] + r1["local_rows"] == [row for row in r0["drawn_rows"] for _ in range(2)]


# ----------------------------------------------------------------------------- LoRA


@pytest.mark.slow
def test_lora_trains_and_eval_and_resume_load_the_adapter(tmp_path):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import PreTrainedTokenizerFast

    path = save_recipe(tmp_path, with_lora(TINY))
    code, output = invoke("train", str(path))
    assert code == 0, output
    checkpoint = tmp_path / "out" / "checkpoint-2"
    # the checkpoint is an adapter on the cached warm start, not a full model
    assert (checkpoint / "adapter_model.safetensors").exists()
    assert not (checkpoint / "model.safetensors").exists()
    adapter = orjson.loads((checkpoint / "adapter_config.json").read_bytes())
    assert adapter["r"] == 4 and adapter["lora_alpha"] == 8
    assert set(adapter["target_modules"]) == {"q_proj", "v_proj"}
    assert Path(adapter["base_model_name_or_path"]).is_relative_to(tmp_path / "cache")
    # the optimizer trained exactly the adapter: q and v of the one layer, A and B each
    optimizer = torch.load(checkpoint / "optimizer.pt", weights_only=False)
    assert sum(len(group["params"]) for group in optimizer["param_groups"]) == 4

    code, output = invoke("eval", str(path), "--checkpoint", str(checkpoint))
    assert code == 0, output
    result = orjson.loads((tmp_path / "out" / "eval.json").read_bytes())
    [(_, scored)] = result["checkpoints"].items()
    assert scored["step"] == 2 and set(scored["distributions"]) == {"kk/2", "kk/3"}

    recipe = load_recipe(path)
    model, tokenizer = load_pretrained(checkpoint, recipe)
    assert isinstance(model, PeftModel)
    saved = load_file(checkpoint / "adapter_model.safetensors")
    state = model.state_dict()
    for key, value in saved.items():
        loaded = key.replace(".lora_A.weight", ".lora_A.default.weight").replace(
            ".lora_B.weight", ".lora_B.default.weight"
        )
        assert torch.equal(state[loaded], value), key
    assert all(p.requires_grad == ("lora_" in n) for n, p in model.named_parameters())
    # the tiny word-level tokenizer comes back as itself (not Qwen2's BPE): words are not unknown
    assert type(tokenizer) is PreTrainedTokenizerFast
    ids = tokenizer("Zoey is a knight", add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids

    # --resume continues training the adapter from the checkpoint
    code, output = invoke("train", str(path), "--resume", "--set", "train.grpo.max_steps=3")
    assert code == 0, output
    state = orjson.loads((tmp_path / "out" / "checkpoint-3" / "trainer_state.json").read_bytes())
    assert state["global_step"] == 3
    assert (tmp_path / "out" / "checkpoint-3" / "adapter_config.json").exists()
    lines = (tmp_path / "out" / "curriculum.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["step"] for line in lines] == [0, 1, 2]


def test_an_adapter_whose_base_model_is_gone_is_a_clear_error(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    missing = tmp_path / "cache" / "warmstart" / "gone"
    (adapter / "adapter_config.json").write_text(
        orjson.dumps({"base_model_name_or_path": str(missing)}).decode()
    )
    recipe = load_recipe(save_recipe(tmp_path, with_lora(TINY)))
    with pytest.raises(DumpError, match="base model .* does not exist here"):
        load_pretrained(adapter, recipe)


# ----------------------------------------------------------------------------- vLLM missing


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_without_vllm_says_how_to_get_it(tmp_path):
    path = save_recipe(tmp_path, TINY)
    code, output = invoke("eval", str(path), "--backend", "vllm", "--checkpoint", str(tmp_path))
    assert code == 1
    assert "pip install 'dumpcli[vllm]'" in output
    assert "Traceback" not in output

    code, output = invoke("train", str(path), "--set", "train.grpo.use_vllm=true")
    assert code == 1
    assert "train.grpo.use_vllm" in output and "pip install 'dumpcli[vllm]'" in output
    assert not (tmp_path / "out").exists()  # stopped before preparing or building anything
