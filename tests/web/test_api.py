"""The service's API and pages with FastAPI's TestClient: every endpoint, every error status, the token,
upload limits and safety, and crash recovery of the queue (the analysis engine is injected: a small real
function that reads the CSV, so these tests exercise the service, not the detectors)."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
from fastapi.testclient import TestClient  # noqa: E402

from neuralab.errors import DataError  # noqa: E402
from neuralab.web.app import Settings, create_app  # noqa: E402
from neuralab.web.db import Analysis, init_db, make_engine, recover_interrupted  # noqa: E402

CSV = "time,Heart_Rate,Pulse_Rate\n0,70,71\n1,72,72\n2,150,73\n3,71,70\n"


def fake_analyze(upload: Path, out: Path) -> dict:
    """Reads the upload; 'anomalies' are heart rates over 120. Raises DataError on a file without Heart_Rate."""
    rows = list(csv.DictReader(io.StringIO(upload.read_text(encoding="utf-8"))))
    if not rows or "Heart_Rate" not in rows[0]:
        raise DataError(f"{upload.name}: no Heart_Rate column")
    events = [{"start": r["time"], "end": r["time"], "kind": "contextual", "source": "physiological",
               "channels": ["heart_rate"], "score": float(r["Heart_Rate"]) / 100,
               "evidence": [f"heart_rate {r['Heart_Rate']} bpm while pulse {r['Pulse_Rate']} bpm"],
               "explanation": {"summary": "HR differs from pulse", "causes": ["arrhythmia <b>test</b>"]}}
              for r in rows if float(r["Heart_Rate"]) > 120]
    result = {"schema_version": 1, "file": upload.name, "label": "contextual anomaly" if events else "normal",
              "counts": {"point": 0, "contextual": len(events), "collective": 0}, "events": events}
    (out / "analysis.json").write_text(json.dumps(result))
    (out / "report.html").write_text("<html>report</html>")
    (out / "chart.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    return result


def fake_ask(analysis: dict, question: str) -> str:
    return f"{analysis['label']}: {len(analysis['events'])} event(s); you asked {question!r}"


def make_client(tmp_path: Path, **kw) -> TestClient:
    settings = Settings(data_dir=tmp_path / "data", analyze=kw.pop("analyze", fake_analyze), ask=fake_ask,
                        token=kw.pop("token", None), **kw)
    return TestClient(create_app(settings))


def wait_done(client: TestClient, analysis_id: str, headers: dict | None = None, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/api/analyses/{analysis_id}", headers=headers or {})
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("done", "failed"):
            return r.json()
        time.sleep(0.05)
    raise AssertionError(f"analysis {analysis_id} did not finish in {timeout} s")


def upload(client: TestClient, name: str = "test-data.csv", content: bytes | str = CSV, headers=None):
    data = content.encode() if isinstance(content, str) else content
    return client.post("/api/analyses", files={"file": (name, data, "text/csv")}, headers=headers or {})


def test_upload_analyse_get_list_ask_delete(tmp_path):
    with make_client(tmp_path) as client:
        r = upload(client)
        assert r.status_code == 202
        body = r.json()
        assert set(body) == {"id", "status"} and body["status"] == "queued"
        done = wait_done(client, body["id"])
        assert done["status"] == "done"
        assert done["label"] == "contextual anomaly" and done["counts"]["contextual"] == 1
        assert done["analysis"]["events"][0]["channels"] == ["heart_rate"]
        listed = client.get("/api/analyses").json()["analyses"]
        assert [a["id"] for a in listed] == [body["id"]] and listed[0]["filename"] == "test-data.csv"
        q = client.post(f"/api/analyses/{body['id']}/questions", json={"question": "why?"})
        assert q.status_code == 200 and "1 event(s)" in q.json()["answer"]
        assert client.get(f"/api/analyses/{body['id']}").json()["questions"][0]["question"] == "why?"
        for name in ("analysis.json", "report.html", "chart.svg"):
            assert client.get(f"/analyses/{body['id']}/{name}").status_code == 200
        page = client.get(f"/analyses/{body['id']}").text
        assert "Contextual anomaly" in page and "chart.svg" in page
        assert "arrhythmia &lt;b&gt;test&lt;/b&gt;" in page  # analysis text is escaped too
        assert client.delete(f"/api/analyses/{body['id']}").status_code == 200
        assert client.get(f"/api/analyses/{body['id']}").status_code == 404
        assert not any((tmp_path / "data" / "uploads").iterdir())
        assert not (tmp_path / "data" / "analyses" / body["id"]).exists()


def test_a_bad_recording_fails_with_its_message(tmp_path):
    with make_client(tmp_path) as client:
        r = upload(client, content="a,b\n1,2\n")
        done = wait_done(client, r.json()["id"])
        assert done["status"] == "failed" and "no Heart_Rate column" in done["error"]
        assert "analysis" not in done
        assert client.post(f"/api/analyses/{r.json()['id']}/questions", json={"question": "x"}).status_code == 409
        assert "no Heart_Rate column" in client.get(f"/analyses/{r.json()['id']}").text


@pytest.mark.parametrize(("name", "content", "status", "words"), [
    ("x.exe", CSV, 415, "only .csv, .txt, .tsv"),
    ("x.csv", b"\x00\x01binary", 415, "binary"),
    ("x.csv", b"", 422, "empty"),
    ("x.csv", b"time,HR\n0,\xff\xfe70\n", 422, "not UTF-8"),
])
def test_refused_uploads(tmp_path, name, content, status, words):
    with make_client(tmp_path) as client:
        r = upload(client, name, content)
        assert r.status_code == status, r.text
        assert words in r.json()["detail"]
        assert client.get("/api/analyses").json()["analyses"] == []
        assert not any((tmp_path / "data" / "uploads").iterdir())  # nothing left behind


def test_upload_limit_413_from_content_length_and_from_the_stream(tmp_path):
    with make_client(tmp_path, max_upload_bytes=1000) as client:
        r = upload(client, content="x" * 5000)
        assert r.status_code == 413 and "limit" in r.json()["detail"]

        def chunks():  # no Content-Length: the limit is enforced while streaming
            yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n"
            for _ in range(100):
                yield b"y" * 100
            yield b"\r\n--b--\r\n"

        r = client.post("/api/analyses", content=chunks(),
                        headers={"content-type": "multipart/form-data; boundary=b"})
        assert r.status_code == 413
        assert client.get("/api/analyses").json()["analyses"] == []


def test_missing_file_field_and_unknown_ids(tmp_path):
    with make_client(tmp_path) as client:
        assert client.post("/api/analyses").status_code == 422
        assert client.get("/api/analyses/" + "0" * 32).status_code == 404
        assert client.get("/api/analyses/../../etc/passwd").status_code == 404
        assert client.delete("/api/analyses/nope").status_code == 404
        assert client.get("/analyses/" + "0" * 32 + "/secret.txt").status_code == 404
        r = upload(client)
        wait_done(client, r.json()["id"])
        bad = client.post(f"/api/analyses/{r.json()['id']}/questions", json={"question": "  "})
        assert bad.status_code == 422


def test_file_names_are_escaped_everywhere(tmp_path):
    name = "<script>alert(1)</script>.csv"
    with make_client(tmp_path) as client:
        r = upload(client, name)
        wait_done(client, r.json()["id"])
        for url in ("/history", f"/analyses/{r.json()['id']}"):
            html = client.get(url).text
            assert "<script>alert(1)</script>" not in html
            assert "&lt;script&gt;alert(1)&lt;/script&gt;.csv" in html
        stored = list((tmp_path / "data" / "uploads").iterdir())
        assert [p.name for p in stored] == [f"{r.json()['id']}.csv"]  # the server names files, not the user


def test_token_required_on_every_api_call_and_page(tmp_path):
    with make_client(tmp_path, token="s3cret") as client:
        assert upload(client).status_code == 401
        assert client.get("/api/analyses").status_code == 401
        assert client.get("/api/analyses", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = {"Authorization": "Bearer s3cret"}
        r = upload(client, headers=ok)
        assert r.status_code == 202
        assert wait_done(client, r.json()["id"], headers=ok)["status"] == "done"
        page = client.get("/history", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        login = client.post("/login", data={"token": "s3cret", "next": "/history"}, follow_redirects=False)
        assert login.status_code == 303
        assert client.get("/history").status_code == 200  # the cookie now authorises pages and API
        assert client.get("/api/health").json()["status"] == "ok"


def test_unexpected_errors_are_json_500_without_traceback(tmp_path):
    def broken_ask(analysis, question):
        raise RuntimeError("secret internals")

    settings = Settings(data_dir=tmp_path / "d", analyze=fake_analyze, ask=broken_ask, token=None)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = upload(client)
        wait_done(client, r.json()["id"])
        bad = client.post(f"/api/analyses/{r.json()['id']}/questions", json={"question": "q"})
        assert bad.status_code == 500
        assert "secret internals" not in bad.text and "Traceback" not in bad.text


def test_interrupted_analyses_are_requeued_on_start(tmp_path):
    data = tmp_path / "data"
    gate = threading.Event()

    def slow_analyze(upload, out):
        gate.wait(10)
        return fake_analyze(upload, out)

    with make_client(tmp_path, analyze=slow_analyze) as client:
        ids = [upload(client).json()["id"] for _ in range(3)]
        time.sleep(0.2)
    # The first client is closed while one analysis runs and two are queued: a crash, as the database sees it.
    factory = init_db(make_engine(f"sqlite:///{(data / 'neuralab.db').resolve()}"))
    gate.set()
    with factory() as s:
        statuses = {a.id: a.status for a in s.query(Analysis).all()}
    assert set(statuses) == set(ids)
    with make_client(tmp_path) as client:
        results = [wait_done(client, i) for i in ids]
        assert all(r["status"] == "done" for r in results)
    assert recover_interrupted(factory) == []  # nothing left queued or running
