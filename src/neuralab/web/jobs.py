"""Background analysis workers: the upload call only stores the file and queues its id.

A worker takes an id, marks the row `running`, runs the analysis into a temporary directory beside its final
place, renames the directory in, then commits the result and `done` together. Any exception marks the row
`failed` with a one-line message (the user's file was bad, or the analysis broke) and removes the partial
directory. An analysis that has been started `MAX_ATTEMPTS` times (each restart after a crash re-queues it) is
failed instead of being retried forever.

With `processes=True` (what `neuralab serve` uses) each worker thread hands the analysis to a pool of worker
*processes* (spawned, niced): the analysis is CPU-bound Python and would otherwise hold the GIL the web
requests need, so uploads stay fast while analyses run. A crashed worker process fails that analysis only.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from neuralab.errors import NeuralabError
from neuralab.web.db import Analysis, utcnow

log = logging.getLogger("neuralab.web")

MAX_ATTEMPTS = 3
# analyze(upload_path, out_dir) -> the analysis as a dict (analysis.json's content), with "label" and "counts".
AnalyzeFn = Callable[[Path, Path], dict[str, Any]]


def analyze_in_worker(upload: Path, out: Path) -> dict[str, Any]:
    """The default analysis, importable by name in a worker process (the heavy imports happen there only)."""
    from neuralab.anomaly.analysis import analyze_for_service

    return analyze_for_service(upload, out)


def _worker_init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        os.nice(5)  # the web process answers first
    except OSError:
        pass
    # a server killed with SIGKILL cannot stop its pool: each worker leaves when its parent is gone
    parent = os.getppid()

    def watch_parent() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch_parent, name="neuralab-parent-watch", daemon=True).start()


class JobRunner:
    """A queue of analysis ids served by `workers` daemon threads (each using a worker process when
    `processes` is true; `analyze` must then be a module-level function)."""

    def __init__(self, factory: sessionmaker[Session], data_dir: Path, analyze: AnalyzeFn, workers: int = 1,
                 processes: bool = False) -> None:
        self.factory, self.data_dir, self.analyze = factory, Path(data_dir), analyze
        self.processes, self.workers = processes, max(1, workers)
        self.pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.threads = [threading.Thread(target=self._loop, name=f"neuralab-worker-{i}", daemon=True)
                        for i in range(max(1, workers))]
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.remove_partial_results()
            for t in self.threads:
                t.start()

    def stop(self, timeout: float = 10.0) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            if t.is_alive():
                t.join(timeout)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def _call(self, upload: Path, out: Path) -> dict[str, Any]:
        if not self.processes:
            return self.analyze(upload, out)
        with self._pool_lock:
            if self.pool is None:
                self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_worker_init)
            pool = self.pool
        try:
            return pool.submit(self.analyze, upload, out).result()
        except BrokenProcessPool:
            with self._pool_lock:
                if self.pool is pool:
                    self.pool = None  # the next analysis gets a fresh pool
            raise RuntimeError("the analysis worker process died (out of memory, or killed)") from None

    def remove_partial_results(self) -> list[Path]:
        """Delete the temporary result folders (`.ID.xxxx`) a killed worker left behind; called before any worker
        starts, so none of them is in use. Returns what was removed."""
        folder = self.data_dir / "analyses"
        stale = [p for p in folder.glob(".*") if p.is_dir()] if folder.is_dir() else []
        for p in stale:
            log.warning("removing the partial result %s of an interrupted analysis", p.name)
            shutil.rmtree(p, ignore_errors=True)
        return stale

    def submit(self, analysis_id: str) -> None:
        self.queue.put(analysis_id)

    def upload_path(self, row: Analysis) -> Path:
        return self.data_dir / "uploads" / row.stored_name

    def result_dir(self, analysis_id: str) -> Path:
        return self.data_dir / "analyses" / analysis_id

    # ------------------------------------------------------------------------------------------------ worker
    def _loop(self) -> None:
        while True:
            analysis_id = self.queue.get()
            try:
                if analysis_id is None:
                    return
                self.run_one(analysis_id)
            except Exception:  # noqa: BLE001  (a worker must survive anything one analysis does)
                log.exception("analysis %s: worker error", analysis_id)
            finally:
                self.queue.task_done()

    def run_one(self, analysis_id: str) -> None:
        with self.factory.begin() as s:
            row = s.get(Analysis, analysis_id)
            if row is None or row.status != "queued":
                return  # deleted meanwhile, or already taken
            row.attempts += 1
            if row.attempts > MAX_ATTEMPTS:
                row.status, row.error, row.finished_at = "failed", (
                    f"the analysis was interrupted {MAX_ATTEMPTS} times (server restarts); not retried"), utcnow()
                return
            row.status, row.started_at = "running", utcnow()
            upload = self.upload_path(row)
        final = self.result_dir(analysis_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{analysis_id}.", dir=final.parent))
        try:
            result = self._call(upload, tmp)
            json.dumps(result)  # must be storable before anything is committed
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        except Exception as exc:  # noqa: BLE001  (any failure becomes the row's error message)
            shutil.rmtree(tmp, ignore_errors=True)
            message = str(exc) if isinstance(exc, NeuralabError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, NeuralabError):
                log.exception("analysis %s failed", analysis_id)
            self._finish(analysis_id, status="failed", error=message.splitlines()[0][:2000] if message else "failed")
            return
        self._finish(analysis_id, status="done", result=result)

    def _finish(self, analysis_id: str, *, status: str, error: str | None = None,
                result: dict[str, Any] | None = None) -> None:
        with self.factory.begin() as s:
            row = s.get(Analysis, analysis_id)
            if row is None:  # deleted while it ran: drop the result too
                shutil.rmtree(self.result_dir(analysis_id), ignore_errors=True)
                return
            row.status, row.error, row.finished_at = status, error, utcnow()
            if result is not None:
                row.label = str(result.get("label", ""))[:256]
                row.counts_json = json.dumps(result.get("counts", {}))
                row.result_json = json.dumps(result)
