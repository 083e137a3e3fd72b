"""neuralab vs the course's Keras code: training throughput of the same models, same sizes, one run.

For each model in both `neuralab.bench.SPECS` and the Keras reference's SPECS, runs (interleaved, `--repeats`
times, best of each) the Keras reference (`../shared/anchors/keras_reference.py`, TensorFlow backend, in its
own environment) and `neuralab bench MODEL --json`, then prints and records the ratio
neuralab samples/s ÷ Keras samples/s.

    python3 -m venv /tmp/keras-env && /tmp/keras-env/bin/pip install tensorflow-cpu
    .venv/bin/python benchmarks/bench_vs_keras.py --keras-python /tmp/keras-env/bin/python --samples 8192

`--precision bf16` times both sides in mixed bfloat16: `neuralab bench --precision bf16` (torch autocast) and the
reference under Keras' `mixed_bfloat16` policy (`keras_mixed_precision.py`). The default, fp32, is the
comparison the speed targets are about.

Results are appended as JSON lines to benchmarks/results/vs_keras.jsonl (with the date and the machine).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REF = ROOT.parent / "shared" / "anchors" / "keras_reference.py"


def run_json(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if p.returncode != 0:
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="default: every model with a spec on both sides")
    ap.add_argument("--keras-python", default=os.environ.get("KERAS_PYTHON", "/tmp/keras-env/bin/python"))
    ap.add_argument("--reference", type=Path, default=DEFAULT_REF)
    ap.add_argument("--samples", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                    help="bf16: both sides in mixed bfloat16 (torch autocast / Keras mixed_bfloat16)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "vs_keras.jsonl")
    args = ap.parse_args()
    if not args.reference.is_file():
        raise SystemExit(f"Keras reference not found at {args.reference}")
    from neuralab.bench import SPECS

    models = args.models or list(SPECS)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    keras_prefix = [] if args.precision == "fp32" else [str(ROOT / "benchmarks" / "keras_mixed_precision.py"),
                                                        "mixed_bfloat16"]
    for name in models:
        ks, ns = [], []
        for _ in range(args.repeats):
            ks.append(run_json([args.keras_python, *keras_prefix, str(args.reference), name,
                                "--samples", str(args.samples)], env))
            ns.append(run_json([sys.executable, "-m", "neuralab", "bench", name, "--samples", str(args.samples),
                                "--device", "cpu", "--precision", args.precision, "--json"]))
        k = max(ks, key=lambda r: r["samples_per_s"])
        n = max(ns, key=lambda r: r["samples_per_s"])
        row = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": platform.node(),
               "cpus": os.cpu_count(), "model": name, "samples": args.samples, "precision": args.precision,
               "keras_samples_per_s": k["samples_per_s"], "keras_backend": k["backend"],
               "neuralab_samples_per_s": n["samples_per_s"], "channels_last": n["channels_last"],
               "ratio_neuralab_over_keras": round(n["samples_per_s"] / k["samples_per_s"], 2)}
        print(json.dumps(row))
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
