"""The real service killed with SIGKILL while analyses run: after a restart none is stuck in `running`, every
analysis reaches `done` with its files, and the ones finished before the kill are unchanged."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from neuralab.data.vitals_sim import simulate, write_vitals_csv  # noqa: E402


def _wait(url: str, ids: list[str], timeout: float) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        rows = {i: httpx.get(f"{url}/api/analyses/{i}", timeout=10).json() for i in ids}
        if all(r["status"] in ("done", "failed") for r in rows.values()) or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_sigkill_while_analysing_then_restart(tmp_path, serve):
    csv = tmp_path / "short.csv"
    write_vitals_csv(simulate(0.25, 1.0, 4, channels=["temperature_c", "heart_rate", "pulse_rate", "spo2"]), csv)
    data = tmp_path / "data"
    proc, url = serve(data, tmp_path / "server.log")
    first = httpx.post(f"{url}/api/analyses", files={"file": ("first.csv", csv.read_bytes(), "text/csv")}).json()
    done_before = _wait(url, [first["id"]], 60)[first["id"]]
    assert done_before["status"] == "done", done_before
    before_json = (data / "analyses" / first["id"] / "analysis.json").read_bytes()
    ids = [httpx.post(f"{url}/api/analyses", files={"file": (f"f{i}.csv", csv.read_bytes(), "text/csv")}).json()["id"]
           for i in range(6)]
    # kill as soon as one of them is being analysed
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(httpx.get(f"{url}/api/analyses/{i}").json()["status"] == "running" for i in ids):
            break
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert workers, "the analyses run in worker processes"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # the orphaned worker processes leave by themselves
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "worker processes outlived the server"

    _, url = serve(data, tmp_path / "server.log")
    rows = _wait(url, ids, 120)
    assert [r["status"] for r in rows.values()] == ["done"] * len(ids), rows
    for i, r in rows.items():
        folder = data / "analyses" / i
        assert json.loads((folder / "analysis.json").read_text())["label"] == r["label"]
        assert (folder / "report.html").is_file() and (folder / "chart.svg").is_file()
    # no half-written result directories left beside them
    assert sorted(p.name for p in (data / "analyses").iterdir()) == sorted([*ids, first["id"]])
    assert (data / "analyses" / first["id"] / "analysis.json").read_bytes() == before_json
    listed = httpx.get(f"{url}/api/analyses").json()["analyses"]
    assert {a["id"] for a in listed} == {*ids, first["id"]}
    assert not any(a["status"] == "running" for a in listed)
