"""`dump eval`: per-distribution accuracy, reward, format rate, pass@k and completion length
of one or more checkpoints on the prepared test split.

The same code runs inside training (`evaluate_during_training`, every `train.eval_every`
steps) so the curves in `eval.jsonl` and the numbers of `dump eval` are comparable: same
problems (the first `eval.max_per_distribution` of each distribution, in split order), same
verifier, same reward scheme, same success rule as the trainer (format ok and full answer).

Generation is batched: prompts are sorted by token length so each left-padded batch wastes
little padding, and the results are put back in the original order.
"""

from __future__ import annotations

import functools
import gc
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dumpcli.errors import DumpError
from dumpcli.io import write_json
from dumpcli.puzzles.registry import get_verifier
from dumpcli.recipe import EvalSpec, Recipe
from dumpcli.run_folder import CHECKPOINT, TRAINER_STATE, list_checkpoints, read_run_info

# One completion: (decoded text, length in tokens up to EOS, EOS excluded).
Sample = tuple[str, int]
# prompts (chat-template text) -> per prompt, `spec.n` samples
Sampler = Callable[[list[str]], list[list[Sample]]]

VLLM_MISSING = "--backend vllm needs vLLM: pip install 'dumpcli[vllm]' (GPU machines)"


# ----------------------------------------------------------------------------- metrics


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct: 1 - C(n-c, k) / C(n, k)
    (Chen et al. 2021). Exact integer arithmetic, so no drift for large n."""
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n (got n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def select_rows(
    rows: Any, max_per_distribution: int | None, order: Sequence[str] | None = None
) -> list[dict]:
    """The first `max_per_distribution` rows of each distribution, in split order (deterministic:
    training-time and CLI evaluations see the same problems), grouped easy -> hard by `order`."""
    if hasattr(rows, "column_names"):  # a datasets.Dataset: pick indices from one column, then rows
        from dumpcli.data.prepare import split_column

        dists = split_column(rows, "distribution")
        picked = _pick(dists, max_per_distribution)
        selected = rows.select(picked).to_list() if picked else []
    else:
        rows = list(rows)
        picked = _pick([r["distribution"] for r in rows], max_per_distribution)
        selected = [rows[i] for i in picked]
    rank = {d: i for i, d in enumerate(ordered_distributions(selected, order))}
    return sorted(selected, key=lambda r: rank[r["distribution"]])  # stable: split order inside


def _pick(dists: Sequence[str], cap: int | None) -> list[int]:
    seen: dict[str, int] = {}
    out = []
    for i, d in enumerate(dists):
        if cap is None or seen.get(d, 0) < cap:
            seen[d] = seen.get(d, 0) + 1
            out.append(i)
    return out


def ordered_distributions(rows: Iterable[dict], order: Sequence[str] | None) -> list[str]:
    """Distributions present in `rows`, in `order` first (easy -> hard), then any others as seen."""
    present: dict[str, None] = {}
    for r in rows:
        present.setdefault(r["distribution"], None)
    known = [d for d in (order or []) if d in present]
    return known + [d for d in present if d not in set(known)]


def _summarise(
    rows: list[dict], samples: list[list[Sample]], spec: EvalSpec, scheme: str, order: Sequence[str] | None
) -> dict[str, Any]:
    """Score every sample with its row's verifier and aggregate per distribution."""
    from dumpcli.puzzles.rewards import decode_answer, score

    per: dict[str, dict[str, list[float]]] = {}
    for row, outs in zip(rows, samples, strict=True):
        verifier = get_verifier(row["verifier"])
        answer = decode_answer(row["verifier"], row["answer"])  # exactly what the trainer's reward reads
        acc = per.setdefault(
            row["distribution"], {"success": [], "reward": [], "format": [], "length": [], "c": []}
        )
        correct = 0
        for text, length in outs:
            verdict = verifier.verify(text, answer)
            success = bool(verdict.format_ok and verdict.answer_score >= 1.0)
            correct += success
            acc["success"].append(float(success))
            acc["reward"].append(float(score(verdict, scheme)))
            acc["format"].append(float(verdict.format_ok))
            acc["length"].append(float(length))
        acc["c"].append(correct)
    distributions: dict[str, dict[str, float | int]] = {}
    for dist in ordered_distributions(rows, order):
        acc = per[dist]
        entry: dict[str, float | int] = {
            "n": len(acc["c"]),
            "samples": len(acc["success"]),
            "accuracy": _mean(acc["success"]),
            "mean_reward": _mean(acc["reward"]),
            "format_rate": _mean(acc["format"]),
        }
        for k in spec.pass_k:
            entry[f"pass@{k}"] = _mean([pass_at_k(spec.n, c, k) for c in acc["c"]])
        entry["mean_length"] = _mean(acc["length"])
        distributions[dist] = entry
    values = list(distributions.values())
    return {
        "distributions": distributions,
        "mean_accuracy": _mean([v["accuracy"] for v in values]),  # macro: every distribution counts once
        "mean_reward": _mean([v["mean_reward"] for v in values]),
        "mean_format_rate": _mean([v["format_rate"] for v in values]),
        "num_problems": len(rows),
        "num_completions": sum(len(s) for s in samples),
    }


def _mean(xs: Sequence[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else 0.0


# ----------------------------------------------------------------------------- generation


def render_prompts(tokenizer: Any, rows: Sequence[dict]) -> list[str]:
    return [
        tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False) for r in rows
    ]


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """What ends a completion, as in TRL's GRPOTrainer: the generation config's EOS ids (which
    `load_pretrained` extends with the chat template's end of turn) and the tokenizer's EOS."""
    from dumpcli.train.model import stop_token_ids

    declared = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = stop_token_ids(declared, tokenizer)
    if not ids:
        raise DumpError("the tokenizer has no EOS token: generation would never stop")
    return ids


def hf_sampler(
    model: Any, tokenizer: Any, spec: EvalSpec, on_batch: Callable[[int], None] | None = None
) -> Sampler:
    """Batched `model.generate`: prompts sorted by length, left-padded, `spec.batch_size`
    sequences per batch; greedy when temperature is 0 (then one sample stands for all n)."""
    import torch
    from transformers import GenerationConfig

    sampling = spec.temperature > 0
    per_prompt = spec.n if sampling else 1
    eos = _eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    # Every decoding knob is set: transformers fills unset ones from the checkpoint's own
    # generation_config (e.g. a repetition_penalty or top_k shipped with an instruct model), and
    # the evaluation must be what the recipe says. Greedy gets the library defaults (unused).
    config = GenerationConfig(
        max_new_tokens=spec.max_new_tokens,
        do_sample=sampling,
        num_return_sequences=per_prompt,
        temperature=spec.temperature if sampling else 1.0,
        top_p=spec.top_p if sampling else 1.0,
        top_k=0 if sampling else 50,  # sampling: only temperature / top-p shape the distribution
        typical_p=1.0,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        num_beams=1,
        pad_token_id=pad_id,
        eos_token_id=eos,
    )
    prompts_per_batch = max(1, spec.batch_size // per_prompt)

    def sample(prompts: list[str]) -> list[list[Sample]]:
        device = next(model.parameters()).device
        encoded = tokenizer(prompts, add_special_tokens=False)["input_ids"]
        order = sorted(range(len(prompts)), key=lambda i: (len(encoded[i]), i))
        out: list[list[Sample]] = [[] for _ in prompts]
        eos_t = torch.tensor(eos, device=device)
        for start in range(0, len(order), prompts_per_batch):
            chunk = order[start : start + prompts_per_batch]
            width = max(len(encoded[i]) for i in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                seq = encoded[i]
                if seq:
                    ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
                    mask[row, width - len(seq) :] = 1
            with torch.inference_mode():
                generated = model.generate(
                    input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config
                )
            completions = generated[:, width:]
            is_eos = torch.isin(completions, eos_t)
            has_eos = is_eos.any(dim=1)
            lengths = torch.where(has_eos, is_eos.int().argmax(dim=1), completions.shape[1]).tolist()
            texts = tokenizer.batch_decode(
                [completions[j, : lengths[j]] for j in range(completions.shape[0])], skip_special_tokens=True
            )
            for j, (text, length) in enumerate(zip(texts, lengths, strict=True)):
                out[chunk[j // per_prompt]].append((text, int(length)))
            if on_batch is not None:
                on_batch(len(chunk))
        if per_prompt != spec.n:  # greedy: every sample would be the same
            out = [s * spec.n for s in out]
        return out

    return sample


def text_sampler(generate_fn: Callable[[list[str]], list[str]], tokenizer: Any, n: int) -> Sampler:
    """Wrap a completion-level model (prompt texts -> completion texts); each prompt is asked n
    times in a row. Lengths are counted with the tokenizer (whitespace words without one)."""

    def length(text: str) -> int:
        if tokenizer is None:
            return len(text.split())
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def sample(prompts: list[str]) -> list[list[Sample]]:
        asked = [p for p in prompts for _ in range(n)]
        texts = list(generate_fn(asked))
        if len(texts) != len(asked):
            raise DumpError(f"generate_fn returned {len(texts)} completions for {len(asked)} prompts")
        return [[(t, length(t)) for t in texts[i * n : (i + 1) * n]] for i in range(len(prompts))]

    return sample


def vllm_engine(path: str | Path, seed: int) -> Any:
    """A vLLM engine for a checkpoint directory (GPU machines); one per checkpoint, both passes."""
    try:
        import vllm
    except ImportError:
        raise DumpError(VLLM_MISSING) from None
    if (Path(path) / "adapter_config.json").exists():
        raise DumpError(f"{path}: a LoRA adapter; merge it into the base model first or use --backend hf")
    return vllm.LLM(model=str(path), tokenizer=str(path), seed=seed)


def release_vllm(llm: Any) -> None:
    """Free a vLLM engine before the next checkpoint's is built (GPU memory for weights and KV
    cache). Dropping the last reference is not enough on every vLLM version: shut the engine
    down explicitly (`LLM.shutdown()` where it exists, else the V1 engine-core process), tear
    down vLLM's model-parallel groups, and return the cached CUDA blocks."""
    import contextlib

    import torch

    shutdown = getattr(llm, "shutdown", None)
    if not callable(shutdown):
        shutdown = getattr(getattr(getattr(llm, "llm_engine", None), "engine_core", None), "shutdown", None)
    if callable(shutdown):
        shutdown()
    # best effort: these moved between vLLM versions and are absent when nothing was set up
    with contextlib.suppress(Exception):
        from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

        destroy_model_parallel()
        destroy_distributed_environment()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def vllm_sampler(llm: Any, tokenizer: Any, spec: EvalSpec, seed: int) -> Sampler:
    """vLLM generation with an engine from `vllm_engine`. Prompts go in as token ids from
    our tokenizer (no second BOS from vLLM's own tokenisation), the same ids the HF path uses;
    greedy asks for one sample per prompt and repeats it, as the HF path does."""
    import vllm

    from dumpcli.train.model import stop_token_ids

    sampling = spec.temperature > 0
    eos = set(stop_token_ids(None, tokenizer))  # also the chat template's end of turn, as the HF path
    params = vllm.SamplingParams(
        n=spec.n if sampling else 1,
        temperature=spec.temperature,
        top_p=spec.top_p if sampling else 1.0,
        max_tokens=spec.max_new_tokens,
        seed=seed,
        stop_token_ids=sorted(eos),
    )

    def sample(prompts: list[str]) -> list[list[Sample]]:
        ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
        results = llm.generate([{"prompt_token_ids": seq} for seq in ids], params)
        out = [
            [
                (o.text, len(o.token_ids) - (1 if o.token_ids and o.token_ids[-1] in eos else 0))
                for o in r.outputs
            ]
            for r in results
        ]
        return out if sampling else [s * spec.n for s in out]

    return sample


# ----------------------------------------------------------------------------- evaluation


def run_evaluation(
    rows: list[dict],
    prompts: list[str],
    make_sampler: Callable[[EvalSpec], Sampler],
    spec: EvalSpec,
    scheme: str,
    order: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Generate for already-selected rows and aggregate; adds timing.

    With `spec.sampled` set, a second, sampled pass adds `sampled_accuracy` per distribution
    (pass@1 at the sampled temperature) and `mean_sampled_accuracy`."""
    started = time.perf_counter()
    result = _summarise(rows, make_sampler(spec)(prompts) if prompts else [], spec, scheme, order)
    sampled = spec.sampled_spec()
    if sampled is not None:
        extra = _summarise(rows, make_sampler(sampled)(prompts) if prompts else [], sampled, scheme, order)
        for dist, entry in result["distributions"].items():
            entry["sampled_accuracy"] = extra["distributions"][dist]["accuracy"]
        result["mean_sampled_accuracy"] = extra["mean_accuracy"]
        result["sampled"] = spec.sampled.model_dump(mode="json")  # type: ignore[union-attr]
        result["num_completions"] += extra["num_completions"]
    seconds = time.perf_counter() - started
    result["seconds"] = seconds
    result["completions_per_second"] = result["num_completions"] / seconds if seconds > 0 else 0.0
    return result


def evaluate_model(
    model: Any,
    tokenizer: Any,
    rows: Any,
    spec: EvalSpec,
    scheme: str,
    order: list[str] | None = None,
    generate_fn: Callable[[list[str]], list[str]] | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Per-distribution metrics of `model` on `rows` (a Dataset or list of rows).

    `generate_fn` replaces the model with a completion-level function (tests, other engines);
    `spec.max_per_distribution` caps the problems per distribution (first N in split order).
    """
    selected = select_rows(rows, spec.max_per_distribution, order)
    prompts = render_prompts(tokenizer, selected)
    if generate_fn is not None:
        return run_evaluation(
            selected, prompts, lambda s: text_sampler(generate_fn, tokenizer, s.n), spec, scheme, order
        )
    passes = 1 + (spec.sampled is not None)
    with _progress(console, passes * len(prompts)) as advance:
        return run_evaluation(
            selected,
            prompts,
            lambda s: hf_sampler(model, tokenizer, s, on_batch=advance),
            spec,
            scheme,
            order,
        )


class _progress:
    """A Rich bar over prompts when there is a console; a no-op otherwise."""

    def __init__(self, console: Console | None, total: int) -> None:
        self.bar = (
            Progress(
                TextColumn("[bold]generating"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            if console is not None and total
            else None
        )
        self.total = total

    def __enter__(self) -> Callable[[int], None] | None:
        if self.bar is None:
            return None
        self.bar.start()
        task = self.bar.add_task("generate", total=self.total)
        bar = self.bar
        return lambda n: bar.advance(task, n)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()


_TEST_ROWS: dict[tuple[str, int | None], tuple[list[dict], list[str]]] = {}


def _test_rows(recipe: Recipe) -> tuple[list[dict], list[str]]:
    """Selected test rows and distribution order of a prepared recipe (cached: training evaluates
    the same problems every time)."""
    from dumpcli.data.prepare import load_manifest, load_split

    key = (str(recipe.output_path.resolve()), recipe.eval.max_per_distribution)
    if key not in _TEST_ROWS:
        order = [d["name"] for d in load_manifest(recipe)["distributions"]]
        rows = select_rows(load_split(recipe, "test"), recipe.eval.max_per_distribution, order)
        _TEST_ROWS[key] = (rows, order)
    return _TEST_ROWS[key]


def sharded(sampler: Sampler, rank: int, world: int, gather: Callable[[list], list]) -> Sampler:
    """A sampler run by every rank of a launch on its contiguous share of the prompts, padded to
    the same count (repeats of the last prompt, dropped after), then gathered in rank order, so
    every rank gets every sample back.

    The padding is what keeps the ranks in lockstep: under DeepSpeed ZeRO-3 or FSDP a `generate`
    call is collective (`synced_gpus`: the ranks exchange a flag every token and, with sharded
    weights, gather each layer), so every rank must make the same calls with the same batch
    counts; equal shares of one sorted batching do. `gather` is accelerate's `gather_object`
    (concatenates the ranks' lists)."""
    if world == 1:
        return sampler

    def sample(prompts: list[str]) -> list[list[Sample]]:
        share = -(-len(prompts) // world)
        mine = prompts[rank * share : (rank + 1) * share]
        real = len(mine)
        padded = mine + [prompts[-1]] * (share - real) if prompts else []
        out = sampler(padded)[:real] if padded else []
        return gather(out)

    return sample


def start_eval_key(recipe: Recipe, policy: str | Path) -> dict[str, Any]:
    """What makes two evaluations of a starting policy the same: the policy, the eval settings and
    the reward scheme (`dump compare` evaluates its shared start once; each run reuses it)."""
    return {
        "policy": str(policy),
        "eval": recipe.eval.model_dump(mode="json"),
        "scheme": recipe.train.reward.scheme,
    }


def evaluate_during_training(
    recipe: Recipe,
    model: Any,
    tokenizer: Any,
    rank: int = 0,
    world: int = 1,
    gather: Callable[[list], list] | None = None,
) -> dict[str, Any]:
    """Evaluation from inside the trainer: eval mode, no grad, the training RNG left untouched
    (so a run with evaluation draws the same samples as one without), then back to train mode.

    With `world` > 1 every rank must call it (at the same step) with the generation-ready model
    (TRL's `unwrap_model_for_generation`): each generates for its share of the test problems
    (`sharded`) and every rank returns the same, complete result."""
    import torch

    rows, order = _test_rows(recipe)
    if world > 1 and gather is None:
        from accelerate.utils import gather_object as gather
    was_training = model.training
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    model.eval()
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(recipe.seed)
            prompts = render_prompts(tokenizer, rows)
            return run_evaluation(
                rows,
                prompts,
                lambda s: sharded(hf_sampler(model, tokenizer, s), rank, world, gather or list),
                recipe.eval,
                recipe.train.reward.scheme,
                order,
            )
    finally:
        model.train(was_training)


def start_verdict(evals: Sequence[dict[str, Any]]) -> tuple[str, bool | None]:
    """One sentence on the last evaluation against the starting policy (step 0) and whether it
    is below it (None: no step-0 evaluation to compare with). Greedy mean accuracy, plus the
    sampled pass@1 when the evaluations have it."""
    start = next((e for e in evals if e.get("step") == 0), None)
    later = [e for e in evals if e.get("step", 0) > 0]
    if start is None or not later:
        missing = (
            "no evaluation"
            if start is None and not later
            else "no evaluation of the starting policy (step 0)"
            if start is None
            else "only the starting policy (step 0) was evaluated, no step after it (train.eval_every "
            "is larger than the steps run; `dump eval RECIPE --run OUTPUT` scores the checkpoints)"
        )
        return f"{missing}: cannot tell whether training helped", None
    last = later[-1]
    gain = last["mean_accuracy"] - start["mean_accuracy"]
    text = (
        f"mean accuracy {start['mean_accuracy']:.3f} at step 0 (the starting policy) -> "
        f"{last['mean_accuracy']:.3f} at step {last['step']} ({gain:+.3f})"
    )
    if "mean_sampled_accuracy" in start and "mean_sampled_accuracy" in last:
        sampled_gain = last["mean_sampled_accuracy"] - start["mean_sampled_accuracy"]
        text += (
            f"; sampled pass@1 {start['mean_sampled_accuracy']:.3f} -> "
            f"{last['mean_sampled_accuracy']:.3f} ({sampled_gain:+.3f})"
        )
    below = gain < 0
    if below:
        text += ": BELOW the starting policy"
    return text, below


# ----------------------------------------------------------------------------- CLI


def checkpoint_step(path: Path) -> int | None:
    """Training step of a checkpoint dir: from its name (checkpoint-<step>) or trainer_state.json."""
    m = CHECKPOINT.match(path.name)
    if m:
        return int(m.group(1))
    state = path / TRAINER_STATE
    if state.is_file():
        try:
            return int(orjson.loads(state.read_bytes())["global_step"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
    return None


def start_policy(run_dir: Path) -> Path | None:
    """The policy a run started from (its step 0: the warm start or the base model), as recorded
    in its run.json: a local model directory, or a hub id (run.json names local ones by absolute
    path); None when it is neither (a directory removed since)."""
    from dumpcli.train.model import HF_ID

    recorded = (read_run_info(run_dir) or {}).get("policy_start")
    if not isinstance(recorded, str):
        return None
    path = Path(recorded)
    if any((path / f).exists() for f in ("config.json", "adapter_config.json")):
        return path
    return path if not path.is_absolute() and not path.exists() and HF_ID.match(recorded) else None


def _checkpoints(checkpoints: Sequence[Path], run_dir: Path | None) -> list[Path]:
    """What to evaluate: the given checkpoints, then a run's starting policy (step 0) and its
    checkpoints."""
    from dumpcli.train.model import HF_ID

    paths = [Path(p) for p in checkpoints]
    if run_dir is not None:
        if not run_dir.is_dir():
            raise DumpError(f"--run {run_dir}: not a directory")
        found = list_checkpoints(run_dir)
        if not found:
            raise DumpError(
                f"--run {run_dir}: no checkpoint-<step>/ directories whose save completed "
                "(with a checkpoint_complete.json)"
            )
        start = start_policy(run_dir)
        paths.extend([start, *found] if start is not None else found)
    if not paths:
        raise DumpError("nothing to evaluate: give --checkpoint PATH (repeatable) or --run RUN_DIR")
    for p in paths:
        if not p.exists() and not HF_ID.match(str(p)):
            raise DumpError(f"--checkpoint {p}: no such directory")
        if p.is_dir() and not any((p / f).exists() for f in ("config.json", "adapter_config.json")):
            raise DumpError(
                f"--checkpoint {p}: not a model directory (no config.json or adapter_config.json)"
            )
    return list(dict.fromkeys(paths))  # drop repeats, keep order


def evaluate_cli(
    recipe: Recipe, checkpoints: list[Path], run_dir: Path | None, output: Path | None, console: Console
) -> dict[str, Any]:
    """`dump eval`: every checkpoint on the prepared test split; Rich table + eval.json."""
    import torch

    spec = recipe.eval
    scheme = recipe.train.reward.scheme
    if spec.backend == "vllm":
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise DumpError(VLLM_MISSING) from None
    paths = _checkpoints(checkpoints, run_dir)
    start = start_policy(run_dir) if run_dir is not None else None
    from dumpcli.data.prepare import ensure_prepared, load_split

    manifest = ensure_prepared(recipe, console)
    order = [d["name"] for d in manifest["distributions"]]
    rows = select_rows(load_split(recipe, "test"), spec.max_per_distribution, order)
    if not rows:
        raise DumpError(f"the prepared test split of {recipe.output_path} is empty: nothing to evaluate on")
    target = output if output is not None else (run_dir or recipe.output_path) / "eval.json"
    results: dict[str, Any] = {
        "recipe": recipe.name,
        "scheme": scheme,
        "eval": spec.model_dump(mode="json"),
        "order": ordered_distributions(rows, order),
        "checkpoints": {},
    }
    mode = (
        "greedy"
        if spec.temperature == 0
        else f"temperature {spec.temperature}, top-p {spec.top_p}, n={spec.n}"
    )
    console.print(
        f"evaluating {len(paths)} checkpoint(s) on {len(rows)} test problems ({mode}, {spec.backend})"
    )
    for path in paths:
        console.print(f"[bold]{path}")
        torch.manual_seed(recipe.seed)
        if spec.backend == "vllm":
            tokenizer = _load_tokenizer(path, recipe)
            prompts = render_prompts(tokenizer, rows)
            llm = vllm_engine(path, recipe.seed)
            result = run_evaluation(
                rows,
                prompts,
                functools.partial(vllm_sampler, llm, tokenizer, seed=recipe.seed),
                spec,
                scheme,
                order,
            )
            release_vllm(llm)
            del llm
            gc.collect()
        else:
            from dumpcli.train.model import load_pretrained

            model, tokenizer = load_pretrained(path, recipe)
            if torch.cuda.is_available():
                model = model.to("cuda")
            model.eval()
            result = evaluate_model(model, tokenizer, rows, spec, scheme, order, console=console)
            del model
            gc.collect()
        step = 0 if start is not None and path == start else checkpoint_step(path)
        results["checkpoints"][str(path)] = {"step": step, **result}
        console.print(
            f"  mean accuracy {result['mean_accuracy']:.3f}, mean reward {result['mean_reward']:+.3f} "
            f"({result['num_completions']} completions, {result['completions_per_second']:.1f}/s)"
        )
        # after each checkpoint (a long run keeps what it has); checkpoints stay in step order
        write_json(target, results, sort_keys=False)
    console.print(results_table(results))
    console.print(f"wrote {target}")
    return results


def _load_tokenizer(path: Path, recipe: Recipe) -> Any:
    from dumpcli.train.model import load_tokenizer

    return load_tokenizer(path, recipe.model.trust_remote_code)


def results_table(results: dict[str, Any]) -> Table:
    """Distributions as rows (easy -> hard), checkpoints as columns; each cell: accuracy, then
    reward / format rate / pass@k / length in a dimmer second line."""
    table = Table(title=f"eval: {results['recipe']} (reward scheme {results['scheme']})", show_lines=True)
    table.add_column("distribution")
    checkpoints = results["checkpoints"]
    for path, res in checkpoints.items():
        step = res.get("step")
        name = "start" if step == 0 and not CHECKPOINT.match(Path(path).name) else Path(path).name
        table.add_column(f"{name}" + (f"\nstep {step}" if step is not None else ""), justify="right")
    dists = list(results.get("order") or [])
    for res in checkpoints.values():
        dists += [d for d in res["distributions"] if d not in dists]
    for dist in dists:
        cells = []
        for res in checkpoints.values():
            m = res["distributions"].get(dist)
            if m is None:
                cells.append("-")
                continue
            extra = [f"r {m['mean_reward']:+.2f}", f"fmt {m['format_rate']:.2f}"]
            extra += [f"{k} {v:.2f}" for k, v in m.items() if k.startswith("pass@") and k != "pass@1"]
            extra.append(f"len {m['mean_length']:.0f}")
            cells.append(f"[bold]{m['accuracy']:.3f}[/] [dim](n={m['n']})[/]\n[dim]{'  '.join(extra)}[/]")
        table.add_row(dist, *cells)
    table.add_row(
        "[bold]mean",
        *[
            f"[bold]{r['mean_accuracy']:.3f}[/]\n[dim]r {r['mean_reward']:+.2f}[/]"
            for r in checkpoints.values()
        ],
    )
    return table
