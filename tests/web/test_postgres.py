"""The service on PostgreSQL (`neuralab serve --db postgresql://...`): the same store, a real server.

Runs when NEURALAB_TEST_POSTGRES holds a URL of a database it may fill (`.ci/run` starts the machine's local
PostgreSQL when there is one and sets it); skips otherwise."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

URL = os.environ.get("NEURALAB_TEST_POSTGRES")
if not URL:
    pytest.skip("NEURALAB_TEST_POSTGRES is not set (a PostgreSQL URL)", allow_module_level=True)
pytest.importorskip("psycopg")
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from neuralab.web.app import Settings, create_app  # noqa: E402
from neuralab.web.db import Analysis, init_db, make_engine, recover_interrupted  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def analyze_stub(upload: Path, out: Path) -> dict:
    lines = upload.read_text(encoding="utf-8").splitlines()
    result = {"schema_version": 1, "file": upload.name, "label": "no anomaly found",
              "counts": {"point": 0, "contextual": 0, "collective": 0}, "events": [], "rows": len(lines) - 1}
    (out / "analysis.json").write_text("{}")
    return result


@pytest.fixture()
def clean_db():
    engine = make_engine(URL)
    with engine.begin() as c:
        c.execute(text("DROP TABLE IF EXISTS questions, analyses, meta CASCADE"))
    yield URL
    engine.dispose()


def test_analyses_live_in_postgres_and_survive_a_restart(tmp_path, clean_db):
    settings = Settings(data_dir=tmp_path / "data", db_url=clean_db, analyze=analyze_stub, token=None)
    with TestClient(create_app(settings)) as client:
        ids = [client.post("/api/analyses", files={"file": (f"f{i}.csv", b"time,HR\n0,70\n1,71\n", "text/csv")})
               .json()["id"] for i in range(5)]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(client.get(f"/api/analyses/{i}").json()["status"] == "done" for i in ids):
                break
            time.sleep(0.1)
        assert {client.get(f"/api/analyses/{i}").json()["status"] for i in ids} == {"done"}
        assert client.get(f"/api/analyses/{ids[0]}").json()["analysis"]["rows"] == 2
    factory = init_db(make_engine(clean_db))
    with factory.begin() as s:
        rows = {a.id: a for a in s.scalars(select(Analysis))}
        assert set(ids) <= set(rows)
        # a crash mid-analysis leaves a row running: start-up puts it back in the queue
        stuck = Analysis(id=uuid.uuid4().hex, filename="stuck.csv", stored_name="x.csv", size_bytes=1,
                         status="running")
        s.add(stuck)
    assert stuck.id in recover_interrupted(factory)
    with factory() as s:
        assert s.get(Analysis, stuck.id).status == "queued"


def test_a_missing_driver_or_bad_url_is_one_clear_line():
    from neuralab.errors import ConfigError

    with pytest.raises(ConfigError, match="not a usable database URL|driver is missing"):
        make_engine("nosuchdb://x@y/z")
