"""The TRL contract of CurriculumGRPOTrainer: the supported range is stated once (trl_compat) and
agrees with pyproject and the README, and the installed TRL has every private member the trainer
overrides, calls or reads, with the signatures and return shapes it expects. A TRL upgrade that
breaks one fails here, not in a user's run."""

from __future__ import annotations

import collections
import random
from pathlib import Path

import pytest
import torch
import yaml
from helpers import TINY_TRAIN_RECIPE
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.train import trl_compat
from dumpcli.train.trl_compat import ATTRIBUTES, METHODS, OUTPUT_KEYS, SUPPORTED

REPO = Path(__file__).resolve().parents[1]


def test_pyproject_and_readme_state_the_supported_range():
    from packaging.requirements import Requirement

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    [trl] = [Requirement(d) for d in deps if Requirement(d).name == "trl"]
    assert str(trl.specifier) == str(Requirement(f"trl{SUPPORTED}").specifier)
    assert f"trl{SUPPORTED}" in (REPO / "README.md").read_text()


def test_installed_trl_is_supported_and_the_range_is_checked():
    assert trl_compat.is_supported(trl_compat.installed_version())
    for version in trl_compat.TESTED:
        assert trl_compat.is_supported(version)
    assert not trl_compat.is_supported("1.6.0")  # _get_per_token_logps_and_entropies returned 2 values
    assert not trl_compat.is_supported("0.24.0")
    assert not trl_compat.is_supported("not a version")


def test_private_methods_have_the_signatures_the_trainer_uses():
    from trl import GRPOTrainer

    assert trl_compat.signature_problems(GRPOTrainer) == []

    class Renamed:  # what a TRL that renamed a parameter looks like: the check must see it
        def _prepare_inputs(self, batch): ...

    problems = trl_compat.signature_problems(Renamed)
    assert (
        "GRPOTrainer._prepare_inputs('batch',): expected parameters ('generation_batch',) first" in problems
    )
    assert "GRPOTrainer._save_checkpoint is missing" in problems
    assert len(problems) == len(METHODS)


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    """A plain GRPOTrainer on the built-in tiny model: what TRL sets up in __init__ and returns."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from dumpcli.recipe import TinyModelSpec
    from dumpcli.train.tiny import build_model, build_tokenizer

    prompts = [[{"role": "user", "content": f"say {w}"}] for w in ("a", "b", "c", "d")]
    tokenizer = build_tokenizer(["say a b c d <answer> </answer>"])
    model = build_model(
        tokenizer, TinyModelSpec(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32), 0
    )
    config = GRPOConfig(
        output_dir=str(tmp_path_factory.mktemp("grpo")),
        num_generations=2,
        per_device_train_batch_size=4,
        max_completion_length=4,
        max_steps=1,
        use_cpu=True,
        bf16=False,
        report_to="none",
        disable_tqdm=True,
    )

    class Probe(GRPOTrainer):
        """Adds an extra tensor key to the generation output (as the trainer's row index does)
        and counts the log-prob forwards (where the trainer captures the policy's log-probs)."""

        forwards = 0

        def _generate_and_score_completions(self, inputs):
            output = super()._generate_and_score_completions(inputs)
            output["probe_row"] = torch.arange(output["prompt_ids"].shape[0])
            return output

        def _get_per_token_logps_and_entropies(self, *args, **kwargs):
            self.forwards += 1
            return super()._get_per_token_logps_and_entropies(*args, **kwargs)

    return Probe(
        model=model,
        reward_funcs=[lambda completions, **kw: [random.random() for _ in completions]],
        args=config,
        train_dataset=Dataset.from_dict({"prompt": prompts}),
        processing_class=tokenizer,
    )


def test_attributes_set_in_init_are_the_ones_the_trainer_reads(trainer):
    for name in ATTRIBUTES:
        assert hasattr(trainer, name), name
    assert trainer._step == 0 and trainer._buffered_inputs is None
    assert isinstance(trainer._metrics["train"], collections.defaultdict)
    trainer._metrics["train"]["x"].append(1.0)  # the trainer appends to new keys
    assert (trainer.num_generations, trainer.num_iterations) == (2, 1)
    assert trainer.args.steps_per_generation == 1
    assert trainer._get_output_dir(trial=None) == trainer.args.output_dir


def test_generation_output_and_per_token_logps_have_the_shapes_the_trainer_reads(trainer):
    trainer.model.train()
    inputs = [{"prompt": p} for p in trainer.train_dataset["prompt"]]
    output = trainer._generate_and_score_completions(inputs)
    for key in OUTPUT_KEYS:
        assert key in output, key
    assert output["advantages"].shape == (4,)
    ids = torch.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
    mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
    with torch.no_grad():
        result = trainer._get_per_token_logps_and_entropies(
            trainer.model, ids, mask, output["completion_ids"].size(1), batch_size=4
        )
    assert isinstance(result, tuple) and len(result) == 3  # logps, entropies, aux_loss
    assert result[0].shape == output["completion_ids"].shape


def test_an_extra_output_key_reaches_compute_loss_which_uses_the_logps_method(trainer):
    trainer.model.train()
    batch = [{"prompt": p} for p in trainer.train_dataset["prompt"]]
    inputs = trainer._prepare_inputs(batch)  # generates, buffers, hands out this step's slice
    assert sorted(inputs["probe_row"].tolist()) == [0, 1, 2, 3]
    before = trainer.forwards
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop
    loss = trainer.compute_loss(trainer.model, inputs)
    assert torch.isfinite(loss) and trainer.forwards > before


# (after the tests on the trainer fixture: building a GRPOConfig resets accelerate's state)
def _invoke_train(tmp_path, monkeypatch, version, env=None):
    """`dump train --dry-run` with the installed TRL said to be `version`."""
    monkeypatch.setattr(trl_compat, "installed_version", lambda: version)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(TINY_TRAIN_RECIPE))
    result = CliRunner().invoke(app, ["train", str(path), "--dry-run"])
    return result.exit_code, " ".join((result.output + result.stderr).split())


def test_dump_train_refuses_an_unsupported_trl_before_any_work(tmp_path, monkeypatch):
    code, output = _invoke_train(tmp_path, monkeypatch, "1.6.0")
    assert code == 2, output
    assert f"TRL 1.6.0 is installed; dumpcli supports trl{SUPPORTED}" in output
    assert "DUMP_ALLOW_UNSUPPORTED_TRL=1" in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()


def test_the_escape_hatch_warns_and_still_checks_the_signatures(tmp_path, monkeypatch):
    code, output = _invoke_train(tmp_path, monkeypatch, "9.0.0", {"DUMP_ALLOW_UNSUPPORTED_TRL": "1"})
    assert code == 0, output
    assert "warning: TRL 9.0.0 is installed" in output and "dry run ok" in output

    from trl import GRPOTrainer

    monkeypatch.setattr(GRPOTrainer, "_save_checkpoint", lambda self, checkpoint: None)
    code, output = _invoke_train(tmp_path, monkeypatch, "9.0.0", {"DUMP_ALLOW_UNSUPPORTED_TRL": "1"})
    assert code == 2, output
    assert "This TRL cannot work: GRPOTrainer._save_checkpoint('checkpoint',)" in output
