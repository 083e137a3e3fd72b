"""`neuralab vitals analyze` on simulated recordings with known causes (issue 6 targets), and its speed.

    nice -n 10 .venv/bin/python benchmarks/vitals_analysis.py quality [--days 6] [--channels course|all]
    nice -n 10 .venv/bin/python benchmarks/vitals_analysis.py speed   # 24 h at 1 Hz, end to end with report.html

quality: each simulated 24-h day carries labelled events (kind, source, affected channels). A detected event is
matched to the true event it overlaps most; for matched events we count how often the kind, the source and the
top attributed channel are right. Unmatched detections are false alarms (reported per hour). Results go to
benchmarks/results/vitals_analysis_<what>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
COURSE = ["temperature_c", "heart_rate", "pulse_rate", "spo2", "ecg"]


def quality(args) -> dict:
    from neuralab.anomaly.analysis import analyze_record
    from neuralab.anomaly.evaluate import events_from_mask
    from neuralab.data.vitals_sim import simulate

    totals = Counter()
    by_cause: dict[str, Counter] = {}
    wrong: list[dict] = []
    hours = 0.0
    for day in range(args.days):
        rec = simulate(24.0, 1.0, 100 + day, channels=COURSE if args.channels == "course" else None)
        hours += rec.hours
        res = analyze_record(rec, seed=0)
        tr = rec.truth
        truths = events_from_mask(tr.label.astype(bool))
        matched_truth = set()
        for ev, (s, e) in zip(res.analysis["events"], res.spans, strict=True):
            overlap = [(min(e, te) - max(s, ts) + 1, i) for i, (ts, te) in enumerate(truths) if ts <= e and s <= te]
            if not overlap:
                totals["false_alarms"] += 1
                continue
            _, i = max(overlap)
            ts, te = truths[i]
            matched_truth.add(i)
            cause = str(tr.cause[ts]).split(":")[0]
            kind, source = str(tr.kind[ts]), str(tr.source[ts])
            chans = set(tr.channels[ts]) if not isinstance(tr.channels[ts], str) else set(tr.channels[ts].split(";"))
            c = by_cause.setdefault(cause, Counter())
            top = max(ev["contributions"], key=ev["contributions"].get) if ev["contributions"] else None
            ok = {"kind": ev["kind"] == kind, "source": ev["source"] == source, "channel": top in chans}
            totals["matched"] += 1
            c["matched"] += 1
            for k, v in ok.items():
                totals[k] += v
                c[k] += v
            if not all(ok.values()):
                wrong.append({"day": day, "cause": cause, "truth": [kind, source, sorted(chans)],
                              "got": [ev["kind"], ev["source"], top], "start": ev["start"],
                              "duration_s": ev["duration_s"], "kind_reason": ev["kind_reason"]})
        totals["true_events"] += len(truths)
        totals["found_events"] += len(matched_truth)
        for i in set(range(len(truths))) - matched_truth:
            by_cause.setdefault(str(tr.cause[truths[i][0]]).split(":")[0], Counter())["missed"] += 1
        print(f"day {day}: {len(res.spans)} events, {len(matched_truth)}/{len(truths)} true events found", flush=True)
    m = max(totals["matched"], 1)
    return {"days": args.days, "channels": args.channels, "hours": hours,
            "kind_accuracy": totals["kind"] / m, "source_accuracy": totals["source"] / m,
            "top_channel_accuracy": totals["channel"] / m, "matched_detections": totals["matched"],
            "event_recall": totals["found_events"] / max(totals["true_events"], 1),
            "false_alarms": totals["false_alarms"], "false_alarms_per_hour": totals["false_alarms"] / hours,
            "by_cause": {k: dict(v) for k, v in sorted(by_cause.items())}, "wrong": wrong[:40]}


def speed(args) -> dict:
    from neuralab.anomaly.analysis import analyze, write_outputs
    from neuralab.data.vitals_sim import simulate, write_vitals_csv

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "day.csv"
        write_vitals_csv(simulate(24.0, 1.0, 7, channels=COURSE if args.channels == "course" else None), path)
        runs = []
        for _ in range(2):
            t0 = time.perf_counter()
            res = analyze(path)
            t1 = time.perf_counter()
            write_outputs(res, Path(tmp) / "out")
            t2 = time.perf_counter()
            runs.append({"analyze_s": t1 - t0, "outputs_s": t2 - t1, "total_s": t2 - t0,
                         "events": len(res.analysis["events"])})
            print(runs[-1], flush=True)
    return {"rows": 86400, "channels": args.channels, "runs": runs, "best_total_s": min(r["total_s"] for r in runs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["quality", "speed"])
    ap.add_argument("--days", type=int, default=6)
    ap.add_argument("--channels", choices=["course", "all"], default="all")
    args = ap.parse_args()
    result = quality(args) if args.what == "quality" else speed(args)
    result["command"] = "benchmarks/vitals_analysis.py " + " ".join(sys.argv[1:])
    OUT.mkdir(parents=True, exist_ok=True)
    name = f"vitals_analysis_{args.what}_{args.channels}.json"
    (OUT / name).write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "wrong"}, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
