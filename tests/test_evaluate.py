"""`dump eval`: pass@k, problem selection, the accounting of a completion-level fake model whose
answers are known, batched HF generation against one prompt at a time, a scripted checkpoint
through the CLI, and evaluation from inside training."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
import torch
from typer.testing import CliRunner

from dumpcli.cli import app
from dumpcli.data.templates import render
from dumpcli.errors import DumpError
from dumpcli.evaluate import (
    evaluate_model,
    hf_sampler,
    pass_at_k,
    render_prompts,
    select_rows,
)
from dumpcli.puzzles.registry import get_family
from dumpcli.recipe import EvalSpec, TinyModelSpec, load_recipe
from dumpcli.run_folder import mark_complete, model_step

# ----------------------------------------------------------------------------- pass@k


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 0, 1, 0.0),
        (5, 5, 1, 1.0),
        (5, 2, 1, 0.4),  # pass@1 = c / n
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (4, 1, 3, 0.75),  # 1 - C(3,3)/C(4,3) = 1 - 1/4
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
        (4, 2, 3, 1.0),  # n - c < k: every k-subset holds a correct sample
        (1, 1, 1, 1.0),
    ],
)
def test_pass_at_k_hand_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_rejects_impossible_counts() -> None:
    for n, c, k in [(3, 4, 1), (3, -1, 1), (3, 1, 0), (3, 1, 4)]:
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)


# ----------------------------------------------------------------------------- fixtures


def kk_rows(plan: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Test rows like the prepared split's: (difficulty, seed) per row, in this split order."""
    family = get_family("knights_knaves")
    rows = []
    for i, (difficulty, seed) in enumerate(plan):
        puzzle = family.generate(difficulty, random.Random(seed))
        answer = family.parse_answer(puzzle["answer"])
        rows.append(
            {
                "id": f"{i:016x}",
                "source": "kk",
                "difficulty": str(difficulty),
                "distribution": f"kk/{difficulty}",
                "prompt": render("short", puzzle["question"]),
                "answer": orjson.dumps(answer).decode(),
                "verifier": "knights_knaves",
                "meta": "{}",
            }
        )
    return rows


class WordTokenizer:
    """Just enough tokenizer for a completion-level fake model: chat template and word counts."""

    def apply_chat_template(self, messages: list[dict], add_generation_prompt: bool, tokenize: bool) -> str:
        assert add_generation_prompt and not tokenize
        return " ".join(m["content"] for m in messages) + " ASSISTANT:"

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[str]]:
        return {"input_ids": text.split()}


def completion(kind: str, answer: dict[str, Any]) -> str:
    family = get_family("knights_knaves")
    if kind == "correct":
        return f"<think> easy </think> <answer> {family.reference_text(answer)} </answer>"
    if kind == "wrong":  # every role flipped: parsed, wrong -> dump reward 1 - 1.5
        flipped = {"names": answer["names"], "solution": [not s for s in answer["solution"]]}
        return f"<think> hmm </think> <answer> {family.reference_text(flipped)} </answer>"
    if kind == "unparsed":  # format ok, no answer read -> dump reward 1 - 2
        return "<think> hmm </think> <answer> no idea </answer>"
    assert kind == "bad"  # no tags -> dump reward -1 - 2
    return f"I think {family.reference_text(answer)}"


# split order: kk/3, kk/2, kk/2, kk/3, kk/2 (the table must still list kk/2 first)
PLAN = [(3, 10), (2, 20), (2, 21), (3, 11), (2, 22)]
KINDS = [
    ["correct", "unparsed", "wrong", "wrong"],  # kk/3 #0: c=1
    ["correct", "correct", "wrong", "bad"],  # kk/2 #0: c=2
    ["wrong", "wrong", "wrong", "wrong"],  # kk/2 #1: c=0
    ["bad", "bad", "bad", "bad"],  # kk/3 #1: c=0
    ["correct", "correct", "correct", "correct"],  # kk/2 #2: c=4
]


def fake_model(rows: list[dict[str, Any]]) -> tuple[Any, dict[str, int], list[str]]:
    """A completion-level model: the i-th time it sees a prompt it answers KINDS[problem][i]."""
    tok = WordTokenizer()
    by_prompt = {tok.apply_chat_template(r["prompt"], True, False): i for i, r in enumerate(rows)}
    asked: dict[str, int] = defaultdict(int)
    produced: list[str] = []

    def generate(prompts: list[str]) -> list[str]:
        out = []
        for p in prompts:
            i = by_prompt[p]
            out.append(completion(KINDS[i][asked[p] % 4], orjson.loads(rows[i]["answer"])))
            asked[p] += 1
        produced.extend(out)
        return out

    return generate, asked, produced


def test_select_rows_first_n_per_distribution_in_split_order() -> None:
    rows = kk_rows(PLAN)
    picked = select_rows(rows, 2, ["kk/2", "kk/3"])
    assert [r["id"] for r in picked] == [rows[1]["id"], rows[2]["id"], rows[0]["id"], rows[3]["id"]]
    assert [r["id"] for r in select_rows(rows, 1, ["kk/3", "kk/2"])] == [rows[0]["id"], rows[1]["id"]]
    everything = select_rows(rows, None, None)  # no order given: first seen first
    assert [r["distribution"] for r in everything] == ["kk/3", "kk/3", "kk/2", "kk/2", "kk/2"]


def test_fake_model_accounting_dump_scheme() -> None:
    rows = kk_rows(PLAN)
    generate, asked, produced = fake_model(rows)
    spec = EvalSpec(n=4, temperature=1.0, pass_k=[1, 2, 4])
    result = evaluate_model(
        None, WordTokenizer(), rows, spec, "dump", order=["kk/2", "kk/3"], generate_fn=generate
    )

    assert list(result["distributions"]) == ["kk/2", "kk/3"]
    assert set(asked.values()) == {4}  # every problem asked n times
    kk2, kk3 = result["distributions"]["kk/2"], result["distributions"]["kk/3"]
    assert (kk2["n"], kk2["samples"], kk3["n"], kk3["samples"]) == (3, 12, 2, 8)
    # kk/2: c = 2, 0, 4 of 4
    assert kk2["accuracy"] == pytest.approx(6 / 12)
    assert kk2["format_rate"] == pytest.approx(11 / 12)
    assert kk2["mean_reward"] == pytest.approx((6 * 3.0 + 5 * -0.5 + 1 * -3.0) / 12)
    assert kk2["pass@1"] == pytest.approx((2 / 4 + 0 + 1) / 3)
    assert kk2["pass@2"] == pytest.approx((1 - 1 / 6 + 0 + 1) / 3)
    assert kk2["pass@4"] == pytest.approx(2 / 3)
    # kk/3: c = 1, 0 of 4
    assert kk3["accuracy"] == pytest.approx(1 / 8)
    assert kk3["format_rate"] == pytest.approx(4 / 8)
    assert kk3["mean_reward"] == pytest.approx((3.0 - 1.0 - 0.5 - 0.5 - 4 * 3.0) / 8)
    assert kk3["pass@2"] == pytest.approx((1 - 3 / 6) / 2)
    assert kk3["pass@4"] == pytest.approx(1 / 2)
    assert result["mean_accuracy"] == pytest.approx((6 / 12 + 1 / 8) / 2)
    assert result["num_completions"] == 20 and result["num_problems"] == 5
    # lengths: tokens of each completion (word tokenizer), averaged over samples
    lengths = defaultdict(list)
    for i, row in enumerate(rows):
        for kind in KINDS[i]:
            lengths[row["distribution"]].append(len(completion(kind, orjson.loads(row["answer"])).split()))
    assert kk2["mean_length"] == pytest.approx(sum(lengths["kk/2"]) / 12)
    assert kk3["mean_length"] == pytest.approx(sum(lengths["kk/3"]) / 8)
    assert len(produced) == 20


def test_fake_model_binary_scheme_and_cap() -> None:
    rows = kk_rows(PLAN)
    generate, _, _ = fake_model(rows)
    spec = EvalSpec(n=4, temperature=1.0, max_per_distribution=1)
    result = evaluate_model(
        None, WordTokenizer(), rows, spec, "binary", order=["kk/2", "kk/3"], generate_fn=generate
    )
    d = result["distributions"]
    assert (d["kk/2"]["n"], d["kk/3"]["n"]) == (1, 1)  # the first problem of each, in split order
    assert d["kk/2"]["accuracy"] == d["kk/2"]["mean_reward"] == pytest.approx(0.5)
    assert d["kk/3"]["accuracy"] == d["kk/3"]["mean_reward"] == pytest.approx(0.25)


def test_generate_fn_must_answer_every_prompt() -> None:
    rows = kk_rows(PLAN[:2])
    with pytest.raises(DumpError, match="returned 1 completions for 2 prompts"):
        evaluate_model(None, WordTokenizer(), rows, EvalSpec(), "dump", generate_fn=lambda p: ["x"])


# ----------------------------------------------------------------------------- HF generation

SMALL = TinyModelSpec(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_vocab=400)


def tiny_tokenizer(rows: list[dict[str, Any]]) -> Any:
    from dumpcli.train.tiny import build_tokenizer

    texts = [m["content"] for r in rows for m in r["prompt"]]
    return build_tokenizer(texts + ["knight knave is a ( ) 1 2 3"], max_vocab=SMALL.max_vocab)


def random_model(tokenizer: Any, seed: int = 0) -> Any:
    """A randomly initialised small Qwen2 with untied embeddings (a tied random model mostly
    repeats the last prompt token, which would make every completion look alike)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=SMALL.hidden_size,
        intermediate_size=SMALL.intermediate_size,
        num_hidden_layers=SMALL.num_layers,
        num_attention_heads=SMALL.num_heads,
        num_key_value_heads=SMALL.num_heads,
        tie_word_embeddings=False,
        initializer_range=0.5,  # large weights: the output depends on the whole prompt
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model.eval()


def scripted_model(tokenizer: Any, token_id: int) -> Any:
    """A Qwen2 whose greedy output is `token_id` at every position whatever the prompt: every
    embedding is the same vector v, attention and MLP write nothing, and only `token_id`'s
    output row is aligned with the normalised v."""
    model = random_model(tokenizer)
    with torch.no_grad():
        v = torch.linspace(0.5, 1.5, SMALL.hidden_size)
        model.model.embed_tokens.weight[:] = v
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.lm_head.weight.zero_()
        model.lm_head.weight[token_id] = v / v.pow(2).mean().sqrt()
    return model


def test_hf_batched_generation_matches_one_prompt_at_a_time() -> None:
    rows = kk_rows([(2, 1), (3, 2), (2, 3), (4, 4), (3, 5), (2, 6), (4, 7)])  # different prompt lengths
    tokenizer = tiny_tokenizer(rows)
    model = random_model(tokenizer)
    prompts = render_prompts(tokenizer, rows)
    assert len({len(tokenizer(p)["input_ids"]) for p in prompts}) > 1
    spec = EvalSpec(max_new_tokens=6, batch_size=3)
    batched = hf_sampler(model, tokenizer, spec)(prompts)
    single = hf_sampler(model, tokenizer, spec.model_copy(update={"batch_size": 1}))(prompts)
    assert batched == single  # left padding and re-ordering change nothing
    assert len({s[0][0] for s in single}) > 1  # the check means something: prompts get different outputs
    assert all(0 <= length <= 6 for s in batched for _, length in s)


def test_checkpoint_generation_config_does_not_leak_into_eval() -> None:
    """Instruct checkpoints ship sampling settings (repetition_penalty, top_k, ...); transformers
    fills every knob we leave unset from them. The evaluation must follow the recipe only."""
    rows = kk_rows([(2, 1), (3, 2), (4, 3)])
    tokenizer = tiny_tokenizer(rows)
    prompts = render_prompts(tokenizer, rows)
    spec = EvalSpec(max_new_tokens=6)
    plain = hf_sampler(random_model(tokenizer), tokenizer, spec)(prompts)
    shipped = random_model(tokenizer)
    g = shipped.generation_config
    g.do_sample, g.temperature, g.top_k, g.top_p = True, 0.7, 5, 0.8
    g.repetition_penalty, g.no_repeat_ngram_size, g.num_beams = 3.0, 1, 2
    assert hf_sampler(shipped, tokenizer, spec)(prompts) == plain


def test_hf_sampling_n_samples_and_greedy_replication() -> None:
    rows = kk_rows([(2, 1), (3, 2)])
    tokenizer = tiny_tokenizer(rows)
    model = random_model(tokenizer)
    prompts = render_prompts(tokenizer, rows)
    torch.manual_seed(0)
    sampled = hf_sampler(model, tokenizer, EvalSpec(n=3, temperature=1.0, max_new_tokens=5, pass_k=[1, 3]))(
        prompts
    )
    assert [len(s) for s in sampled] == [3, 3]
    greedy = hf_sampler(model, tokenizer, EvalSpec(n=3, max_new_tokens=5, pass_k=[1, 3]))(prompts)
    assert all(len(s) == 3 and len(set(s)) == 1 for s in greedy)


def test_scripted_model_counts_lengths_up_to_eos() -> None:
    rows = kk_rows([(2, 1), (2, 2), (3, 3)])
    tokenizer = tiny_tokenizer(rows)
    spec = EvalSpec(max_new_tokens=7, batch_size=2)
    knight = tokenizer.convert_tokens_to_ids("knight")
    result = evaluate_model(
        scripted_model(tokenizer, knight), tokenizer, rows, spec, "dump", ["kk/2", "kk/3"]
    )
    for dist, n in (("kk/2", 2), ("kk/3", 1)):
        m = result["distributions"][dist]
        assert (m["n"], m["accuracy"], m["format_rate"], m["mean_reward"]) == (n, 0.0, 0.0, -3.0)
        assert m["mean_length"] == 7.0  # never stops: the whole budget
    silent = evaluate_model(scripted_model(tokenizer, tokenizer.eos_token_id), tokenizer, rows, spec, "dump")
    assert all(m["mean_length"] == 0.0 for m in silent["distributions"].values())  # EOS first: empty


def test_model_step(tmp_path: Path) -> None:
    assert model_step(tmp_path / "checkpoint-40") == 40
    (tmp_path / "final").mkdir()
    assert model_step(tmp_path / "final") is None
    (tmp_path / "final" / "trainer_state.json").write_text('{"global_step": 12}')
    assert model_step(tmp_path / "final") == 12


# ----------------------------------------------------------------------------- CLI + training hook

RECIPE = """
name: evaltest
seed: 0
output_dir: out
data:
  sources:
    - name: kk
      puzzle: knights_knaves
      difficulties: [2, 3]
      train_per_difficulty: 4
      test_per_difficulty: 3
  prompt_template: short
model:
  name_or_path: tiny
eval: {max_per_distribution: 2, max_new_tokens: 5, batch_size: 4}
"""


@pytest.fixture
def prepared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Any]:
    monkeypatch.setenv("DUMP_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE)
    result = CliRunner().invoke(app, ["prepare", str(path)])
    assert result.exit_code == 0, result.output
    return path, load_recipe(path)


def _scripted_checkpoint(recipe: Any, where: Path, token: str) -> Path:
    from dumpcli.data.prepared import load_split

    rows = list(load_split(recipe, "train")) + list(load_split(recipe, "test"))
    tokenizer = tiny_tokenizer(rows)
    model = scripted_model(tokenizer, tokenizer.convert_tokens_to_ids(token))
    model.save_pretrained(where)
    tokenizer.save_pretrained(where)
    return where


def test_eval_cli_on_a_scripted_checkpoint(prepared: tuple[Path, Any], tmp_path: Path) -> None:
    path, recipe = prepared
    ckpt = _scripted_checkpoint(recipe, tmp_path / "run" / "checkpoint-3", "knight")
    result = CliRunner().invoke(
        app, ["eval", str(path), "--checkpoint", str(ckpt), "--set", "eval.max_new_tokens=4"]
    )
    assert result.exit_code == 0, result.output
    out = orjson.loads((recipe.output_path / "eval.json").read_bytes())
    assert out["recipe"] == "evaltest" and out["scheme"] == "dump" and out["order"] == ["kk/2", "kk/3"]
    entry = out["checkpoints"][str(ckpt)]
    assert entry["step"] == 3
    assert set(entry["distributions"]) == {"kk/2", "kk/3"}
    for m in entry["distributions"].values():
        assert (m["n"], m["accuracy"], m["format_rate"], m["mean_reward"], m["mean_length"]) == (
            2,
            0,
            0,
            -3,
            4,
        )
    assert entry["mean_accuracy"] == 0 and entry["mean_reward"] == -3
    assert "kk/2" in result.output and "checkpoint-3" in result.output

    other = tmp_path / "elsewhere.json"
    result = CliRunner().invoke(
        app,
        ["eval", str(path), "--run", str(tmp_path / "run"), "-o", str(other), "--max-per-distribution", "1"],
    )
    # a bare model dir is not a checkpoint whose save completed (no marker): --run finds nothing
    assert result.exit_code == 1 and "no checkpoint-<step>/" in result.output
    (ckpt / "trainer_state.json").write_text('{"global_step": 3}')
    mark_complete(ckpt, 3)
    result = CliRunner().invoke(
        app,
        ["eval", str(path), "--run", str(tmp_path / "run"), "-o", str(other), "--max-per-distribution", "1"],
    )
    assert result.exit_code == 0, result.output
    d = orjson.loads(other.read_bytes())["checkpoints"][str(ckpt)]["distributions"]
    assert d["kk/2"]["n"] == d["kk/3"]["n"] == 1


def test_eval_json_lists_checkpoints_in_step_order(prepared: tuple[Path, Any], tmp_path: Path) -> None:
    """eval.json sorted its keys, so checkpoint-12 came before checkpoint-3."""
    import shutil

    path, recipe = prepared
    run = tmp_path / "run"
    for step in (3, 12):
        ckpt = run / f"checkpoint-{step}"
        if step == 3:
            _scripted_checkpoint(recipe, ckpt, "knight")
        else:
            shutil.copytree(run / "checkpoint-3", ckpt)
        (ckpt / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
        mark_complete(ckpt, step)
    result = CliRunner().invoke(app, ["eval", str(path), "--run", str(run), "--max-per-distribution", "1"])
    assert result.exit_code == 0, result.output
    out = orjson.loads((run / "eval.json").read_bytes())
    assert [c["step"] for c in out["checkpoints"].values()] == [3, 12]


def test_eval_run_scores_a_hub_id_start_as_step_0(
    prepared: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that started from a hub id (no warm start) had no `start` column in `dump eval --run`:
    only local start directories counted. Here the id resolves from the local HF cache, offline."""
    import huggingface_hub.constants

    path, recipe = prepared
    cache = tmp_path / "hub"
    _scripted_checkpoint(recipe, cache / "models--acme--tiny" / "snapshots" / "abc123", "knave")
    (cache / "models--acme--tiny" / "refs").mkdir()
    (cache / "models--acme--tiny" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    run = tmp_path / "run"
    ckpt = _scripted_checkpoint(recipe, run / "checkpoint-2", "knight")
    (ckpt / "trainer_state.json").write_text('{"global_step": 2}')
    mark_complete(ckpt, 2)
    (run / "run.json").write_text('{"policy_start": "acme/tiny"}')
    result = CliRunner().invoke(app, ["eval", str(path), "--run", str(run), "--max-per-distribution", "1"])
    assert result.exit_code == 0, result.output
    out = orjson.loads((run / "eval.json").read_bytes())["checkpoints"]
    assert {name: c["step"] for name, c in out.items()} == {"acme/tiny": 0, str(ckpt): 2}


def test_eval_run_records_its_results_where_report_and_compare_read_them(
    prepared: tuple[Path, Any], tmp_path: Path
) -> None:
    """`dump eval --run` wrote only eval.json (keyed by path), which `dump report` never reads: now
    each result of the run (its start as step 0, its checkpoints) also goes to the run's eval.jsonl,
    marked as written by `dump eval`, with the settings it ran with."""
    from dumpcli.run_folder import read_evals

    path, recipe = prepared
    run = tmp_path / "run"
    start = _scripted_checkpoint(recipe, tmp_path / "start", "knave")
    ckpt = _scripted_checkpoint(recipe, run / "checkpoint-2", "knight")
    (ckpt / "trainer_state.json").write_text('{"global_step": 2}')
    mark_complete(ckpt, 2)
    (run / "run.json").write_text(orjson.dumps({"policy_start": str(start)}).decode())
    outside = _scripted_checkpoint(recipe, tmp_path / "other" / "checkpoint-7", "knight")
    result = CliRunner().invoke(
        app, ["eval", str(path), "--run", str(run), "-c", str(outside), "--max-per-distribution", "1"]
    )
    assert result.exit_code == 0, result.output
    table = orjson.loads((run / "eval.json").read_bytes())["checkpoints"]
    evals = read_evals(run)
    assert [e["step"] for e in evals] == [0, 2]  # not checkpoint-7: it is not this run's
    assert all(e["source"] == "dump eval" and e["eval"]["max_per_distribution"] == 1 for e in evals)
    for e, key in zip(evals, (str(start), str(ckpt)), strict=True):
        assert e["distributions"] == table[key]["distributions"]


def test_eval_run_writes_no_result_through_a_symbolic_link(prepared: tuple[Path, Any], tmp_path: Path) -> None:
    path, recipe = prepared
    run = tmp_path / "run"
    ckpt = _scripted_checkpoint(recipe, run / "checkpoint-2", "knight")
    (ckpt / "trainer_state.json").write_text('{"global_step": 2}')
    mark_complete(ckpt, 2)
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    (run / "eval.jsonl").symlink_to(victim)
    result = CliRunner().invoke(app, ["eval", str(path), "--run", str(run), "--max-per-distribution", "1"])
    assert result.exit_code == 2 and "eval.jsonl" in result.output
    assert victim.read_text() == "mine"


def test_eval_cli_errors(prepared: tuple[Path, Any], tmp_path: Path) -> None:
    path, _ = prepared
    result = CliRunner().invoke(app, ["eval", str(path)])
    assert result.exit_code == 1 and "nothing to evaluate" in result.output
    result = CliRunner().invoke(
        app, ["eval", str(path), "--checkpoint", str(tmp_path / "no" / "such" / "dir")]
    )
    assert result.exit_code == 1 and "no such directory" in result.output
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["eval", str(path), "--checkpoint", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "not a model directory" in result.output
    try:
        import vllm  # noqa: F401
    except ImportError:
        result = CliRunner().invoke(
            app, ["eval", str(path), "-c", str(tmp_path / "empty"), "--backend", "vllm"]
        )
        assert result.exit_code == 1 and "needs vLLM" in result.output


def test_evaluate_during_training_restores_mode_and_rng(prepared: tuple[Path, Any], tmp_path: Path) -> None:
    from dumpcli.evaluate import evaluate_during_training
    from dumpcli.model import load_pretrained

    _, recipe = prepared
    ckpt = _scripted_checkpoint(recipe, tmp_path / "policy", "knave")
    model, tokenizer = load_pretrained(ckpt, recipe)
    model.train()
    recipe.eval.temperature = 1.0  # sampling must not consume the trainer's random numbers
    torch.manual_seed(123)
    before = torch.get_rng_state()
    result = evaluate_during_training(recipe, model, tokenizer)
    assert model.training
    assert torch.equal(torch.get_rng_state(), before)
    assert list(result["distributions"]) == ["kk/2", "kk/3"]
    assert all(m["n"] == 2 for m in result["distributions"].values())  # eval.max_per_distribution
    assert result["mean_accuracy"] == 0.0 and result["num_completions"] == 4


class FakeVLLM:
    """Stands in for the `vllm` module (not installable here): records what it is asked."""

    def __init__(self, eos: int) -> None:
        self.eos = eos
        self.calls: list[tuple[list[Any], Any]] = []
        self.events: list[tuple[str, str]] = []  # engines built and shut down, in order
        fake = self

        class SamplingParams:
            def __init__(self, **kwargs: Any) -> None:
                self.__dict__.update(kwargs)

        class LLM:
            def __init__(self, model: str, **kwargs: Any) -> None:
                self.model = model
                fake.events.append(("build", model))

            def shutdown(self) -> None:
                fake.events.append(("shutdown", self.model))

            def generate(self, prompts: list[Any], params: Any) -> list[Any]:
                fake.calls.append((prompts, params))
                out = type(
                    "Out",
                    (),
                    {"text": "<think> </think> <answer> x </answer>", "token_ids": [7, 8, fake.eos]},
                )
                return [type("Req", (), {"outputs": [out] * params.n}) for _ in prompts]

        self.LLM, self.SamplingParams = LLM, SamplingParams


def test_vllm_backend_wiring(
    prepared: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    path, recipe = prepared
    ckpt = _scripted_checkpoint(recipe, tmp_path / "ckpt", "knight")
    from dumpcli.model import load_tokenizer

    tokenizer = load_tokenizer(ckpt)
    fake = FakeVLLM(eos=tokenizer.eos_token_id)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    args = [
        "eval",
        str(path),
        "-c",
        str(ckpt),
        "--backend",
        "vllm",
        "--set",
        "eval.n=3",
        "--set",
        "eval.pass_k=[1,3]",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    ((prompts, params),) = fake.calls
    assert params.n == 1 and params.temperature == 0.0  # greedy: one sample, repeated n times
    rendered = tokenizer.apply_chat_template(
        load_split_rows(recipe)[0]["prompt"], add_generation_prompt=True, tokenize=False
    )
    assert prompts[0] == {"prompt_token_ids": tokenizer(rendered, add_special_tokens=False)["input_ids"]}
    entry = orjson.loads((recipe.output_path / "eval.json").read_bytes())["checkpoints"][str(ckpt)]
    for m in entry["distributions"].values():
        assert (m["samples"], m["format_rate"], m["mean_length"]) == (3 * m["n"], 1.0, 2.0)  # EOS not counted


def test_vllm_eval_shuts_each_engine_down_before_the_next(
    prepared: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dump eval --backend vllm` over several checkpoints holds one engine at a time."""
    import sys

    path, recipe = prepared
    ckpts = [_scripted_checkpoint(recipe, tmp_path / "run" / f"checkpoint-{k}", "knight") for k in (1, 2)]
    from dumpcli.model import load_tokenizer

    fake = FakeVLLM(eos=load_tokenizer(ckpts[0]).eos_token_id)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    args = ["eval", str(path), "--backend", "vllm", *(a for c in ckpts for a in ("-c", str(c)))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert fake.events == [(e, str(c)) for c in ckpts for e in ("build", "shutdown")]


def load_split_rows(recipe: Any) -> list[dict[str, Any]]:
    from dumpcli.data.prepared import load_manifest, load_split

    order = [d["name"] for d in load_manifest(recipe)["distributions"]]
    return select_rows(load_split(recipe, "test"), recipe.eval.max_per_distribution, order)
