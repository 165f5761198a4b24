"""The README quotes the quickstart's numbers from its recorded compare.json, nothing else."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _module():
    spec = importlib.util.spec_from_file_location(
        "quickstart_readme", ROOT / "benchmarks" / "quickstart_readme.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_block_is_what_the_recorded_quickstart_printed():
    m = _module()
    snapshot = json.loads(m.SNAPSHOT.read_text(encoding="utf-8"))
    text = m.README.read_text(encoding="utf-8")
    assert m.replace_block(text, m.render(snapshot)) == text


def test_render_by_hand():
    m = _module()
    result = {
        "reference": "uniform",
        "schedulers": ["progress", "uniform"],
        "seeds": [0],
        "max_steps": 300,
        "distributions": ["a", "b"],
        "summary": {
            "uniform": {
                "curve": [{"mean": 0.4}],
                "final_mean_accuracy": {"mean": 0.5},
                "gain_over_start": {"mean": 0.1},
            },
            "progress": {
                "curve": [{"mean": 0.4}],
                "final_mean_accuracy": {"mean": 0.55},
                "gain_over_start": {"mean": 0.15},
            },
        },
        "verdicts": {
            "equal_completions": 1000.0,
            "methods": {
                "uniform": {"completions_spent": 1000.0},
                "progress": {"completions_spent": 1000.0, "at_equal_completions": {"diff": 0.05}},
            },
        },
        "drawn_share": {"uniform": {"a": 0.5, "b": 0.5}, "progress": {"a": 0.25, "b": 0.75}},
    }
    text = m.render(result)
    assert "**0.400 at step 0**" in text
    assert (
        "- `progress`: **0.550** (+0.150 over step 0) after 1000 generated completions; at 1000 completions it was +0.050 against uniform; its largest share of prompts went to `b` (75%)."
        in text
    )
    assert (
        "- `uniform`: **0.500** (+0.100 over step 0) after 1000 generated completions; its largest share of prompts went to `a` (50%)."
        in text
    )
