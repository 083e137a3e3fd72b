"""Background analysis workers: the upload call only stores the file and queues its id.

A worker takes an id, marks the row `running`, runs the analysis into a temporary directory beside its final
place, renames the directory in, then commits the result and `done` together. Any exception marks the row
`failed` with a one-line message (the user's file was bad, or the analysis broke) and removes the partial
directory. An analysis that has been started `MAX_ATTEMPTS` times (each restart after a crash re-queues it) is
failed instead of being retried forever.
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from neuralab.errors import NeuralabError
from neuralab.web.db import Analysis, utcnow

log = logging.getLogger("neuralab.web")

MAX_ATTEMPTS = 3
# analyze(upload_path, out_dir) -> the analysis as a dict (analysis.json's content), with "label" and "counts".
AnalyzeFn = Callable[[Path, Path], dict[str, Any]]


class JobRunner:
    """A queue of analysis ids served by `workers` daemon threads."""

    def __init__(self, factory: sessionmaker[Session], data_dir: Path, analyze: AnalyzeFn, workers: int = 1) -> None:
        self.factory, self.data_dir, self.analyze = factory, Path(data_dir), analyze
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
            result = self.analyze(upload, tmp)
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
