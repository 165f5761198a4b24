"""Keep the README's quickstart figures equal to what the quickstart command printed.

After running the README's quickstart command (a `dump compare` of the recommended scheduler and
uniform from one warm start), this copies its `compare.json` to docs/quickstart/compare.json and
rewrites the README block between the quickstart markers from it. tests/test_readme_quickstart.py
checks that the block is exactly what `render` makes of the committed compare.json, so the README
cannot quote numbers the command did not print.

    python benchmarks/quickstart_readme.py runs/quickstart/compare/compare.json
    python benchmarks/quickstart_readme.py --check      # exit 1 if the README is out of step
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SNAPSHOT = ROOT / "docs" / "quickstart" / "compare.json"
BEGIN, END = "<!-- quickstart:begin -->", "<!-- quickstart:end -->"


def render(result: dict[str, Any]) -> str:
    """The README's sentences about one quickstart run, from its compare.json."""
    s = result["summary"]
    ref = result["reference"]
    methods = [m for m in result["schedulers"] if m != ref]
    first = s[ref]["curve"][0]["mean"]
    lines = [
        f"In the run recorded in `docs/quickstart/compare.json` (seed {', '.join(map(str, result['seeds']))}, "
        f"{result['max_steps']} steps), mean greedy accuracy over the {len(result['distributions'])} "
        f"distributions went from **{first:.3f} at step 0** to:",
        "",
    ]
    for m in [*methods, ref]:
        final = s[m]["final_mean_accuracy"]["mean"]
        v = result["verdicts"]["methods"][m]
        spent = v.get("completions_spent")
        line = f"- `{m}`: **{final:.3f}** ({s[m]['gain_over_start']['mean']:+.3f} over step 0)"
        if spent is not None:
            line += f" after {spent:.0f} generated completions"
        if m != ref and v.get("at_equal_completions"):
            c = result["verdicts"]["equal_completions"]
            line += f"; at {c:.0f} completions it was {v['at_equal_completions']['diff']:+.3f} against {ref}"
        share = result["drawn_share"][m]
        top = max(share, key=share.get)
        line += f"; its largest share of prompts went to `{top}` ({share[top]:.0%})"
        lines.append(line + ".")
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    head, sep, rest = text.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} block")
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("compare_json", nargs="?", type=Path, help="the quickstart's compare.json")
    parser.add_argument("--check", action="store_true", help="only check the README against the snapshot")
    args = parser.parse_args()
    if args.compare_json and not args.check:
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.compare_json, SNAPSHOT)
    block = render(json.loads(SNAPSHOT.read_text(encoding="utf-8")))
    text = README.read_text(encoding="utf-8")
    updated = replace_block(text, block)
    if args.check:
        if updated != text:
            print("README.md's quickstart block differs from docs/quickstart/compare.json", file=sys.stderr)
            return 1
        return 0
    README.write_text(updated, encoding="utf-8")
    print(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
