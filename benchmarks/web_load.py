"""Load test of the vital-sign service (issue 7), loopback only, bounded.

    nice -n 10 .venv/bin/python benchmarks/web_load.py [--analyses 200] [--clients 10] [--workers 2]

Starts `neuralab serve` in its own process, posts N analyses of a short recording from C concurrent clients,
waits until every one is finished, then checks the database directly (SQLAlchemy): every row present and `done`,
every result folder complete. Reports p50/p95 of the upload call, throughput, and the time for a 24-h, 1-Hz
file to be analysed and viewable. Results go to benchmarks/results/web_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
COURSE = ["temperature_c", "heart_rate", "pulse_rate", "spo2", "ecg"]


def _start(data: Path, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "NEURALAB_TOKEN": ""}
    proc = subprocess.Popen([sys.executable, "-m", "neuralab", "serve", "--port", str(port), "--data-dir", str(data),
                             "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(data.parent / "server.log", "w"))  # noqa: SIM115
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start: " + (data.parent / "server.log").read_text())


def main() -> int:
    import httpx

    from neuralab.data.vitals_sim import simulate, write_vitals_csv

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--analyses", type=int, default=200)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=10.0, help="length of each uploaded recording")
    ap.add_argument("--port", type=int, default=8911)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small = tmp / "small.csv"
        write_vitals_csv(simulate(args.minutes / 60, 1.0, 3, channels=COURSE), small)
        day = tmp / "day.csv"
        write_vitals_csv(simulate(24.0, 1.0, 7, channels=COURSE), day)
        data = tmp / "data"
        proc = _start(data, args.port, args.workers)
        url = f"http://127.0.0.1:{args.port}"
        body = small.read_bytes()
        try:
            local = threading.local()

            def post(i: int) -> tuple[int, float, str]:
                if not hasattr(local, "client"):  # one keep-alive connection per client thread
                    local.client = httpx.Client(timeout=60)
                t0 = time.perf_counter()
                r = local.client.post(f"{url}/api/analyses", files={"file": (f"load-{i}.csv", body, "text/csv")})
                return r.status_code, time.perf_counter() - t0, r.json().get("id", "")

            t_start = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                posted = list(pool.map(post, range(args.analyses)))
            t_posted = time.perf_counter()
            ids = [i for s, _, i in posted if s == 202]
            statuses: dict[str, str] = {}
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                listing = httpx.get(f"{url}/api/analyses", params={"limit": 10_000}, timeout=60).json()["analyses"]
                statuses = {a["id"]: a["status"] for a in listing}
                if all(statuses.get(i) in ("done", "failed") for i in ids):
                    break
                time.sleep(1.0)
            t_done = time.perf_counter()
            # a 24-h file: upload, analysed, page viewable
            t0 = time.perf_counter()
            r = httpx.post(f"{url}/api/analyses", files={"file": ("day.csv", day.read_bytes(), "text/csv")},
                           timeout=60)
            day_id = r.json()["id"]
            while httpx.get(f"{url}/api/analyses/{day_id}", timeout=60).json()["status"] not in ("done", "failed"):
                time.sleep(0.1)
            page = httpx.get(f"{url}/analyses/{day_id}", timeout=60)
            chart = httpx.get(f"{url}/analyses/{day_id}/chart.svg", timeout=60)
            t_day = time.perf_counter() - t0
            day_status = httpx.get(f"{url}/api/analyses/{day_id}", timeout=60).json()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        # the database itself, after the server is gone
        from sqlalchemy import select

        from neuralab.web.db import Analysis, init_db, make_engine

        factory = init_db(make_engine(f"sqlite:///{data / 'neuralab.db'}"))
        with factory() as s:
            rows = {a.id: a for a in s.scalars(select(Analysis))}
        complete = [i for i in ids if i in rows and rows[i].status == "done"
                    and (data / "analyses" / i / "analysis.json").is_file()]
        lat = np.array([t for _, t, _ in posted]) * 1000
        result = {
            "analyses": args.analyses, "clients": args.clients, "workers": args.workers,
            "upload_minutes": args.minutes, "status_codes": {str(c): sum(1 for s, _, _ in posted if s == c)
                                                             for c in sorted({s for s, _, _ in posted})},
            "server_errors_5xx": sum(1 for s, _, _ in posted if s >= 500),
            "upload_ms_p50": float(np.percentile(lat, 50)), "upload_ms_p95": float(np.percentile(lat, 95)),
            "upload_ms_max": float(lat.max()), "posting_seconds": t_posted - t_start,
            "all_done_seconds": t_done - t_start, "analyses_per_second": len(ids) / (t_done - t_start),
            "done": sum(1 for i in ids if statuses.get(i) == "done"),
            "failed": sum(1 for i in ids if statuses.get(i) == "failed"),
            "rows_in_database": sum(1 for i in ids if i in rows), "complete_with_files": len(complete),
            "day_24h_seconds_to_viewable": t_day, "day_status": day_status["status"],
            "day_label": day_status.get("label"), "day_page_status": page.status_code,
            "day_chart_bytes": len(chart.content),
            "command": "benchmarks/web_load.py " + " ".join(sys.argv[1:]),
        }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "web_load.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    ok = result["server_errors_5xx"] == 0 and result["complete_with_files"] == len(ids) == args.analyses
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
