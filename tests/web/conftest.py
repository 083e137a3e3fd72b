"""Fixtures: `neuralab serve` as a real process on loopback (browser and restart tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, log_path: Path, port: int | None = None, *args: str,
                 timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """Start the service; returns the process and its base URL once /api/health answers (RuntimeError if not)."""
    port = port or free_port()
    env = {**os.environ, "NEURALAB_TOKEN": ""}
    with open(log_path, "a") as log:
        proc = subprocess.Popen([sys.executable, "-m", "neuralab", "serve", "--port", str(port), "--data-dir",
                                 str(data_dir), *args], stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=data_dir.parent)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the server did not start:\n" + log_path.read_text()) from None
            time.sleep(0.3)


import pytest  # noqa: E402


@pytest.fixture()
def serve():
    """`serve(data_dir, log_path, port=None, *args)` starts a server; every server started is stopped at the end."""
    procs: list[subprocess.Popen] = []

    def start(*args, **kwargs):
        proc, url = start_server(*args, **kwargs)
        procs.append(proc)
        return proc, url

    yield start
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
