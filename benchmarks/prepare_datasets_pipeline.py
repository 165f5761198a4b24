"""The data stage as a plain `datasets` pipeline, for comparison with `dump prepare` (BENCHMARKS.md):
Dataset.from_generator over the lines -> batched map (parse, validate, id) -> filter -> dedup
(select) -> train_test_split -> save_to_disk. Less validation than prepare and no prompt
rendering, so a lower bound for that design.

Usage: python benchmarks/prepare_datasets_pipeline.py FILE.jsonl WORK_DIR   (WORK_DIR is removed)
"""

import hashlib
import shutil
import sys
import time

import orjson

t0 = time.perf_counter()
import datasets  # noqa: E402
import numpy as np  # noqa: E402

datasets.disable_progress_bars()
path, out = sys.argv[1], sys.argv[2]


def gen():
    with open(path, "rb") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                yield {"line": i, "raw": line.rstrip(b"\r\n").decode()}


ds = datasets.Dataset.from_generator(gen, cache_dir=out + "/c")
t1 = time.perf_counter()


def validate(batch):
    ids, diff, q, a, reason = [], [], [], [], []
    for raw in batch["raw"]:
        try:
            o = orjson.loads(raw)
            quiz = o["quiz"]
            ans = o["solution_text_format"]
            d = str(o["extra_info"]["depth"])
            ids.append(hashlib.sha256(("syn\0" + " ".join(quiz.lower().split())).encode()).hexdigest()[:16])
            diff.append(d)
            q.append(quiz)
            a.append(orjson.dumps(ans.strip()).decode())
            reason.append(None)
        except Exception as e:
            ids.append(None)
            diff.append(None)
            q.append(None)
            a.append(None)
            reason.append(str(e))
    return {"id": ids, "difficulty": diff, "question": q, "answer": a, "reason": reason}


ds = ds.map(validate, batched=True, batch_size=4096)
t2 = time.perf_counter()
ok = ds.filter(lambda r: [x is None for x in r], input_columns="reason", batched=True)
t3 = time.perf_counter()
ids = np.array(ok["id"])
_, first = np.unique(ids, return_index=True)
first.sort()
ok = ok.select(first)
split = ok.train_test_split(test_size=0.05, seed=0)
t4 = time.perf_counter()
split.save_to_disk(out + "/final")
t5 = time.perf_counter()
print(
    f"imports+gen {t1 - t0:.1f} map {t2 - t1:.1f} filter {t3 - t2:.1f} dedup+split {t4 - t3:.1f} save {t5 - t4:.1f} total {t5 - t0:.1f}"
)
shutil.rmtree(out)
