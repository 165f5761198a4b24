"""`dump train RECIPE --dry-run`: everything a run would use, resolved and printed; no weights
loaded (a local model folder's tokenizer is read), nothing downloaded, prepared or written.

Meant for checking a GPU recipe on a laptop: the data it would train on (the prepared counts, or
what `dump prepare` would make), the full GRPOConfig TRL would get on a GPU machine (built and
validated here, on CPU), the scheduler and its starting probabilities, whether the model is a
well-formed id or path and whether it is already available locally, and the step budget for 1
to 8 processes (prompts per step depend on the number of GPUs).

Problems that make the run impossible whatever the machine (a malformed model id, a GRPOConfig
that TRL rejects) end the dry run with exit 1 after the tables; things that depend on the machine
(input files not here, model not cached, vLLM not installed) are listed as notes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dumpcli.errors import DumpError
from dumpcli.recipe import Recipe
from dumpcli.run_folder import checkpoint_dirs
from dumpcli.tables import keep_headers_whole
from dumpcli.train.config import grpo_config_kwargs, train_seed

# process counts shown in the batch table (the launch's own count is added when different)
PROCESS_COUNTS = (1, 2, 4, 8)

# GRPOConfig fields always shown (the rest only when they differ from TRL's defaults)
KEY_FIELDS = (
    "num_generations",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "steps_per_generation",
    "generation_batch_size",
    "num_iterations",
    "max_steps",
    "learning_rate",
    "beta",
    "loss_type",
    "scale_rewards",
    "temperature",
    "max_completion_length",
    "bf16",
    "gradient_checkpointing",
    "use_vllm",
)
VLLM_FIELDS = (
    "vllm_mode",
    "vllm_gpu_memory_utilization",
    "vllm_tensor_parallel_size",
    "vllm_max_model_length",
)
VLLM_SERVER_FIELDS = ("vllm_server_base_url", "vllm_server_host", "vllm_server_port")
# set by TrainingArguments from the machine, not by the recipe
MACHINE_FIELDS = ("use_cpu", "dataloader_pin_memory")


# ----------------------------------------------------------------------------- data


def planned_data(recipe: Recipe) -> dict[str, Any]:
    """The prepared distributions if the data is prepared and current; else what `dump prepare`
    would make: exact counts for puzzle generators (before deduplication), input files and their
    record counts for file sources (their distributions are known only after reading them)."""
    from dumpcli.data.prepared import is_prepared, load_manifest

    if is_prepared(recipe):
        manifest = load_manifest(recipe)
        return {
            "prepared": True,
            "distributions": [(d["name"], d["train"], d["test"]) for d in manifest["distributions"]],
            "files": [{"path": i["path"], "records": i.get("records")} for i in manifest.get("inputs", [])],
            "missing": [],
            "unknown_sources": [],
        }
    from dumpcli.data.fields import natural_key

    planned: dict[str, list[Any]] = {}  # name -> [sort key, train, test]
    files: list[dict[str, Any]] = []
    missing: list[str] = []
    unknown: list[str] = []
    # each source kind says what it can before reading
    for i, p in ((i, s.build(i, recipe).plan()) for i, s in enumerate(recipe.data.sources)):
        for name, train, test in p.distributions:
            entry = planned.setdefault(name, [(natural_key(name.rsplit("/", 1)[-1]), i), 0, 0])
            entry[1] += train
            entry[2] += test
        files.extend(p.files)
        missing.extend(p.missing)
        if p.unknown:
            unknown.append(recipe.data.sources[i].name)
    ordered = sorted(planned.items(), key=lambda kv: kv[1][0])
    return {
        "prepared": False,
        "distributions": [(name, train, test) for name, (_, train, test) in ordered],
        "files": files,
        "missing": missing,
        "unknown_sources": unknown,
    }


# ----------------------------------------------------------------------------- GRPOConfig


def resolved_configs(recipe: Recipe) -> tuple[Any, Any, dict[str, Any]]:
    """(config on a GPU machine, config `dump train` would use on this machine, the GPU kwargs).

    TrainingArguments refuses bf16 without a GPU unless `use_cpu` is set, so on a CPU-only machine
    the GPU config is validated with `use_cpu=True` added; everything else is what a GPU launch gets."""
    import torch
    from trl import GRPOConfig

    gpu_kwargs = grpo_config_kwargs(recipe, recipe.output_path, cpu=False)
    here_kwargs = grpo_config_kwargs(recipe, recipe.output_path)
    validate = gpu_kwargs if torch.cuda.is_available() else {**gpu_kwargs, "use_cpu": True}
    try:
        gpu = GRPOConfig(**validate)
        here = GRPOConfig(**here_kwargs)
    except (ValueError, TypeError) as e:
        raise DumpError(f"train.grpo: trl.GRPOConfig rejects these settings: {e}") from None
    return gpu, here, gpu_kwargs


def trl_defaults(recipe: Recipe) -> dict[str, Any]:
    """GRPOConfig's own defaults (as `to_dict` shows them), to tell what the recipe changed."""
    from trl import GRPOConfig

    return GRPOConfig(output_dir=str(recipe.output_path), use_cpu=True).to_dict()


def batch_plan(
    config: Any, raw: Mapping[str, Any], processes: int, train_total: int | None
) -> dict[str, Any]:
    """TRL's batch arithmetic (GRPOConfig.__post_init__) for `processes` ranks.

    `per_device_train_batch_size` counts completions; a generation makes `generation_batch_size`
    completions = prompts x num_generations and feeds `steps_per_generation` micro-steps (times
    `num_iterations`); an optimizer step takes `gradient_accumulation_steps` micro-steps. The
    curriculum draws prompts once per generation."""
    per_device = config.per_device_train_batch_size
    accumulate = config.gradient_accumulation_steps
    generations = config.num_generations
    iterations = config.num_iterations
    gbs, spg = raw.get("generation_batch_size"), raw.get("steps_per_generation")
    micro = per_device * processes
    plan: dict[str, Any] = {"processes": processes, "error": None}
    if gbs is None and spg is None:
        spg = accumulate
        gbs = micro * spg
    elif gbs is not None and spg is None:
        if gbs % micro:
            plan["error"] = f"generation_batch_size {gbs} is not a multiple of {per_device} x {processes}"
            return plan
        spg = gbs // micro
    elif gbs is None:
        gbs = micro * spg
    else:
        plan["error"] = "generation_batch_size and steps_per_generation both set"
        return plan
    if gbs % generations:
        plan["error"] = f"{gbs} completions per generation is not a multiple of num_generations {generations}"
        return plan
    prompts_per_generation = gbs // generations
    prompts_per_step = prompts_per_generation * accumulate / (spg * iterations)
    plan.update(
        completions_per_generation=gbs,
        prompts_per_generation=prompts_per_generation,
        steps_per_generation=spg,
        prompts_per_step=prompts_per_step,
        completions_per_step=prompts_per_step * generations,
        steps_per_epoch=(train_total / prompts_per_step) if train_total else None,
        epochs=(config.max_steps * prompts_per_step / train_total) if train_total else None,
    )
    return plan


# ----------------------------------------------------------------------------- the dry run


def _describe_filter(recipe: Recipe) -> str:
    spec = recipe.train.filter
    if not spec.active:
        return "off (every generated group reaches the loss)"
    rules = []
    if spec.zero_variance == "drop":
        rules.append("drop groups whose rewards are all equal")
    if spec.band is not None:
        rules.append(f"keep groups with success rate in [{spec.band[0]}, {spec.band[1]}]")
    return "; ".join(rules) + f"; at most {spec.max_rounds} generation rounds a step"


def _describe_rollouts(recipe: Recipe) -> str:
    spec = recipe.train.rollouts
    if not spec.active:
        return "off (num_generations completions for every drawn prompt)"
    if spec.method == "skip":
        return (
            f"skip (GRESO): p_easy {spec.p_easy}, p_hard {spec.p_hard}, target zero-variance share "
            f"{spec.target_zero_variance}, {spec.pool_factor}x prompts drawn"
        )
    if spec.method == "screen":
        return (
            f"screen (SPEED-RL): {spec.k_screen} completions first, the rest if the success rate is in "
            f"({spec.band[0]}, {spec.band[1]}); at most {spec.max_rounds} screening rounds a step"
        )
    return (
        f"budget (Knapsack RL): {spec.min_per_prompt}-{spec.max_per_prompt} completions a prompt, "
        f"rates trusted after {spec.min_history} completions"
    )


def dry_run(recipe: Recipe, console: Console) -> dict[str, Any]:
    """Resolve and print everything `dump train` would use; return it as a dict (for tests and
    tools). Loads no weights and writes nothing."""
    from dumpcli.data.templates import render
    from dumpcli.model import describe_model_source, describe_tokenizer, lora_config
    from dumpcli.schedulers import registry as schedulers
    from dumpcli.train.curriculum import distribution_level_part, generation_steps

    notes: list[str] = []
    errors: list[str] = []

    data = planned_data(recipe)
    notes.extend(f"input not here: {m}" for m in data["missing"])
    dists = data["distributions"]
    train_total = sum(d[1] for d in dists) if dists and not data["unknown_sources"] else None

    gpu, here, gpu_kwargs = resolved_configs(recipe)
    defaults = trl_defaults(recipe)
    defaults["use_cpu"] = False  # TRL's default; trl_defaults() sets it only to validate bf16 here
    world = here.world_size
    counts = sorted({*PROCESS_COUNTS, world})
    plans = [batch_plan(gpu, gpu_kwargs, n, train_total) for n in counts]
    launch = next(p for p in plans if p["processes"] == world)

    model = describe_model_source(recipe.model, recipe.base_dir)
    tokenizer = describe_tokenizer(recipe.model, recipe.base_dir)
    if tokenizer is not None and "error" in tokenizer:
        errors.append(f"model.name_or_path: {tokenizer['error']}")
    if model["kind"] == "invalid":
        errors.append(f"model.name_or_path: {model['detail']}")
    elif not model["available"]:
        notes.append(f"model {recipe.model.name_or_path}: {model['detail']}")
    lora = None
    if recipe.model.lora is not None:
        if importlib.util.find_spec("peft") is None:
            errors.append("model.lora needs peft: pip install peft")
        else:
            lora = lora_config(recipe)

    sched = recipe.train.scheduler
    options = schedulers.get_class(sched.name).Options(**sched.options())
    names = [d[0] for d in dists]
    probabilities: dict[str, float] | None = None
    # the distribution-level part only: a selector (e.g. a curator with an HF encoder) may be heavy
    total = generation_steps(
        here.max_steps, here.gradient_accumulation_steps, here.steps_per_generation, here.num_iterations
    )
    drawn_by, drawn_by_options = distribution_level_part(sched.name, sched.options(), total)
    # a scheduler that follows the training clock (schedule): also its mixture halfway and at the end
    clocked = schedulers.get_class(drawn_by).needs_total_steps
    later: dict[int, dict[str, float]] = {}
    budget = drawn_by_options.get("total_steps") if clocked else None
    if budget is not None and budget != total:
        notes.append(
            f"train.scheduler.total_steps is {budget} but this run makes {total} generation steps: the "
            "schedule " + ("ends early and stays at its end" if budget < total else "never reaches its end")
        )
    if names and not data["unknown_sources"]:
        try:
            scheduler = schedulers.build(
                drawn_by, names, seed=train_seed(recipe), sizes=[d[1] or 1 for d in dists], **drawn_by_options
            )
        except ValueError as e:  # the options do not fit these distributions (e.g. weights' globs)
            errors.append(f"train.scheduler: {e}")
        else:
            probabilities = dict(zip(names, (float(p) for p in scheduler.probabilities()), strict=True))
            if clocked and budget:
                for t in sorted({budget // 2, budget - 1} - {0}):
                    later[t] = dict(zip(names, (float(p) for p in scheduler.at(t)), strict=True))  # type: ignore[attr-defined]

    system = next(
        (m["content"] for m in render(recipe.data.prompt_template, "") if m["role"] == "system"), ""
    )
    warm_dir = _warm_start_dir(recipe, data["prepared"])
    warm_cached = warm_dir is not None and (
        (warm_dir / "config.json").exists() or (warm_dir / "adapter_config.json").exists()
    )
    if recipe.warmup.steps:
        warm = f"{recipe.warmup.steps} SFT steps on reference answers; " + (
            f"cached: {warm_dir}"
            if warm_cached
            else "built on the first run" + (f" into {warm_dir}" if warm_dir else " (after prepare)")
        )
    elif recipe.model.name_or_path == "tiny":
        warm = "none (the tiny model starts from random weights)"
    else:
        warm = "none: GRPO starts from the model as is"
    existing = checkpoint_dirs(recipe.output_path)  # complete or not: `dump train` refuses both
    checkpoint = existing[-1] if existing else None
    if checkpoint is not None:
        notes.append(
            f"{recipe.output_path} already has {checkpoint.name}: `dump train` needs --resume "
            "(or --set output_dir=NEW_DIR)"
        )
    vllm_here = importlib.util.find_spec("vllm") is not None
    if gpu.use_vllm:
        generation = (
            f"vLLM server at {gpu.vllm_server_base_url or f'{gpu.vllm_server_host}:{gpu.vllm_server_port}'}"
            " (start it first: trl vllm-serve --model ...)"
            if gpu.vllm_mode == "server"
            else f"vLLM colocated (gpu_memory_utilization {gpu.vllm_gpu_memory_utilization}, "
            f"tensor_parallel_size {gpu.vllm_tensor_parallel_size})"
        )
        if not vllm_here:
            notes.append(
                "train.grpo.use_vllm: vLLM is not installed here: pip install 'dumpcli[vllm]' (GPU machines)"
            )
    else:
        generation = "transformers generate (set train.grpo.use_vllm: true for vLLM)"

    # -- summary table
    summary = Table(title=f"dry run: {recipe.name}", show_header=False, title_justify="left")
    summary.add_column("what", style="bold")
    summary.add_column("value")
    rows: list[tuple[str, str]] = [
        ("recipe", str(recipe._source_file)),
        (
            "output_dir",
            str(recipe.output_path.resolve()) + (f" (has {checkpoint.name})" if checkpoint else ""),
        ),
        (
            "data",
            "prepared" if data["prepared"] else "not prepared yet (counts: what `dump prepare` makes)",
        ),
        ("input files", _files_line(data)),
        (
            "distributions",
            str(len(dists)) + (" + file sources (known after prepare)" if data["unknown_sources"] else ""),
        ),
        ("prompt template", f"{recipe.data.prompt_template}: {_short(system)}"),
        ("model", f"{recipe.model.name_or_path} ({model['kind']}: {model['detail']})"),
        ("available locally", "yes" if model["available"] else "no"),
        ("tokenizer", _tokenizer_line(tokenizer, recipe.model.name_or_path == "tiny")),
        (
            "dtype",
            recipe.model.dtype + ("" if recipe.model.dtype != "auto" else " (bf16 on GPUs that have it)"),
        ),
        ("trust_remote_code", str(recipe.model.trust_remote_code)),
        (
            "LoRA",
            (
                f"r={lora.r} alpha={lora.lora_alpha} dropout={lora.lora_dropout} "
                f"target_modules={_targets(lora.target_modules)}"
            )
            if lora is not None
            else "no (full fine-tuning)",
        ),
        ("warm start", warm),
        ("scheduler", f"{sched.name} {options.model_dump()}"),
        *(
            [("distributions drawn by", f"{drawn_by} {drawn_by_options}")]
            if (drawn_by, drawn_by_options) != (sched.name, sched.options())
            else []
        ),
        ("dynamic sampling (train.filter)", _describe_filter(recipe)),
        ("rollouts per prompt (train.rollouts)", _describe_rollouts(recipe)),
        ("reward", _describe_reward(recipe)),
        ("generation", generation),
        ("vLLM installed here", "yes" if vllm_here else "no (pip install 'dumpcli[vllm]')"),
        (
            "precision",
            f"bf16={gpu.bf16} on GPU"
            + ("" if here.bf16 == gpu.bf16 else f"; bf16={here.bf16} on this machine"),
        ),
        ("processes in this launch", str(world)),
        (
            "prompts per step",
            _per_step(launch, gpu.num_generations) + f" with {world} process(es); more GPUs: see below",
        ),
        (
            "steps",
            f"{gpu.max_steps} (save every {gpu.save_steps}, eval every {recipe.train.eval_every or '-'})",
        ),
        ("steps per epoch", _fmt(launch.get("steps_per_epoch"), "unknown until prepared")),
        ("epochs in max_steps", _fmt(launch.get("epochs"), "unknown until prepared")),
        (
            "eval",
            f"backend {recipe.eval.backend}, {recipe.eval.max_per_distribution or 'all'} per distribution, "
            f"max_new_tokens {recipe.eval.max_new_tokens}",
        ),
    ]
    for what, value in rows:
        summary.add_row(what, escape(value))
    console.print(summary)

    # -- batch size by number of processes
    batch = Table(title="batch per optimizer step by number of processes (GPUs)", title_justify="left")
    for col in (
        "processes",
        "completions per generation",
        "prompts per step",
        "micro-steps per generation",
        "steps per epoch",
        "epochs",
    ):
        batch.add_column(col, justify="right")
    for p in plans:
        mark = " (this launch)" if p["processes"] == world else ""
        if p["error"]:
            batch.add_row(f"{p['processes']}{mark}", escape(f"invalid: {p['error']}"), "", "", "", "")
            continue
        batch.add_row(
            f"{p['processes']}{mark}",
            str(p["completions_per_generation"]),
            _fmt(p["prompts_per_step"]),
            str(p["steps_per_generation"]),
            _fmt(p["steps_per_epoch"], "?"),
            _fmt(p["epochs"], "?"),
        )
    console.print(keep_headers_whole(batch, console))

    # -- distributions
    dist_table = Table(title="distributions", title_justify="left")
    for col in ("distribution", "train", "test", "p at step 0", *(f"p at step {t}" for t in later)):
        dist_table.add_column(col, justify="left" if col == "distribution" else "right")
    for name, n_train, n_test in dists:
        p0 = probabilities.get(name) if probabilities else None
        dist_table.add_row(
            escape(name),
            str(n_train),
            str(n_test),
            "-" if p0 is None else f"{p0:.3f}",
            *(f"{p[name]:.3f}" for p in later.values()),
        )
    for src in data["unknown_sources"]:
        dist_table.add_row(escape(f"{src}/* (after prepare)"), "?", "?", "-", *("-" for _ in later))
    console.print(keep_headers_whole(dist_table, console))

    # -- GRPOConfig
    gpu_dict, here_dict = gpu.to_dict(), here.to_dict()
    gpu_dict["use_cpu"] = gpu_kwargs["use_cpu"]  # validated with use_cpu=True on a CPU-only machine
    shown = [k for k in KEY_FIELDS if k in gpu_dict]
    if gpu.use_vllm:
        shown += [k for k in VLLM_FIELDS + (VLLM_SERVER_FIELDS if gpu.vllm_mode == "server" else ())]
    shown += sorted(
        k
        for k, v in gpu_dict.items()
        if k not in shown and k in defaults and defaults[k] != v and k != "output_dir"
    )
    grpo_table = Table(
        title=f"GRPOConfig on a GPU machine: key fields and those that differ from TRL's defaults "
        f"(of {len(gpu_dict)}; batch fields for {world} process(es))",
        title_justify="left",
    )
    grpo_table.add_column("field")
    grpo_table.add_column("value")
    grpo_table.add_column("TRL default")
    grpo_table.add_column("on this machine")
    for key in shown:
        value = gpu_dict[key]
        local = here_dict.get(key, value)
        grpo_table.add_row(
            key,
            escape(repr(value)),
            escape(repr(defaults.get(key))) if defaults.get(key) != value else "",
            escape(repr(local)) if local != value else "",
        )
    console.print(keep_headers_whole(grpo_table, console))

    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    result = {
        "recipe": recipe.name,
        "output_dir": str(recipe.output_path),
        "data": data,
        "train_total": train_total,
        "prompt_template": recipe.data.prompt_template,
        "system_prompt": system,
        "grpo": gpu_dict,
        "grpo_here": here_dict,
        "model": model,
        "tokenizer": tokenizer,
        "lora": None
        if lora is None
        else {"r": lora.r, "alpha": lora.lora_alpha, "target_modules": lora.target_modules},
        "warm_start": {"dir": str(warm_dir) if warm_dir else None, "cached": warm_cached},
        "scheduler": {
            "name": sched.name,
            "options": options.model_dump(),
            "drawn_by": drawn_by,
            "probabilities": probabilities,
            "later": later,
        },
        "generation_steps": total,
        "filter": recipe.train.filter.model_dump(mode="json"),
        "rollouts": recipe.train.rollouts.model_dump(mode="json", exclude_defaults=True),
        "reward_scheme": recipe.train.reward.scheme,
        "reward": recipe.train.reward.model_dump(mode="json"),
        "generation": generation,
        "processes": world,
        "batch_plans": plans,
        "prompts_per_step": launch.get("prompts_per_step"),
        "steps_per_epoch": launch.get("steps_per_epoch"),
        "checkpoint": str(checkpoint) if checkpoint else None,
        "notes": notes,
    }
    if errors:
        raise DumpError("dry run found problems:\n  " + "\n  ".join(errors))
    console.print("[green]dry run ok[/]: no weights loaded, nothing downloaded or written", highlight=False)
    return result


def _warm_start_dir(recipe: Recipe, prepared: bool) -> Path | None:
    """Where the warm start is cached; its key hashes the prepared problems, so None before prepare."""
    if not prepared:
        return None
    from dumpcli.data.prepared import load_split
    from dumpcli.train.warmup import cache_root, data_fingerprint, warm_start_key

    fingerprint = data_fingerprint(load_split(recipe, "train"), load_split(recipe, "test"))
    return cache_root() / "warmstart" / warm_start_key(recipe, fingerprint)


def _tokenizer_line(tok: dict[str, Any] | None, tiny: bool) -> str:
    if tok is None:
        return "word-level, built from the data, with its own chat template" if tiny else "read at load time"
    if "error" in tok:
        return tok["error"]
    template = (
        "chat template: the folder's own"
        if tok["chat_template"] != "plain"
        else "chat template: none in the folder, so plain `role: text` lines, the answer ending in EOS"
    )
    pad = f"pad {tok['pad_token']}" if tok["pad_token"] else f"no pad token (EOS {tok['eos_token']} pads)"
    return (
        f"{template}; prompts end {tok['prompt_end']!r}; {pad}; "
        f"generation stops at {', '.join(tok['stop_tokens'])}"
    )


def _files_line(data: dict[str, Any]) -> str:
    if not data["files"] and not data["missing"]:
        return "none (built-in generators)"
    records = [f["records"] for f in data["files"]]
    total = sum(r for r in records if r is not None)
    text = f"{len(data['files'])} file(s), {total} records"
    if data["missing"]:
        text += f"; {len(data['missing'])} pattern(s) match nothing here (see notes)"
    return text


def _per_step(plan: dict[str, Any], generations: int) -> str:
    if plan["error"]:
        return f"invalid: {plan['error']}"
    return f"{_fmt(plan['prompts_per_step'])} x {generations} generations = {_fmt(plan['completions_per_step'])} completions"


def _fmt(x: float | None, missing: str = "-") -> str:
    if x is None:
        return missing
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def _short(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _targets(value: Any) -> str:
    return value if isinstance(value, str) else ",".join(sorted(value))


def _describe_reward(recipe: Recipe) -> str:
    """'dump' or '1.0 * dump + 0.5 * my_pkg.rewards:brevity' (TRL's weighted sum)."""
    reward = recipe.train.reward
    if not reward.functions and reward.weight == 1.0:
        return reward.scheme
    terms = [(reward.weight, reward.scheme), *((f.weight, f.function) for f in reward.functions)]
    return " + ".join(f"{w:g} * {name}" for w, name in terms) + " (success: the verifier's verdict)"
