"""Questions about an analysis are answered from its facts; the optional LLM backend is tested against a stub
OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from neuralab.anomaly.questions import answer_question, intents_of, rule_answer

ANALYSIS = {
    "schema_version": 1, "file": "test-data.csv", "label": "contextual anomaly present",
    "counts": {"point": 1, "contextual": 1, "collective": 0},
    "events": [
        {"start": "2026-01-05T09:10:00", "end": "2026-01-05T09:10:02", "duration_s": 3, "kind": "point",
         "kind_reason": "3 isolated readings", "source": "sensor_fault", "source_reason": "only SpO2 moved",
         "channels": ["spo2"], "contributions": {"spo2": 0.9, "heart_rate": 0.1}, "score": 2.0,
         "findings": [{"pattern": "signal_loss", "title": "Signal loss", "evidence": "SpO2: 3 readings of zero",
                       "causes": ["sensor detached"]}]},
        {"start": "2026-01-05T23:40:00", "end": "2026-01-06T00:05:00", "duration_s": 1500, "kind": "contextual",
         "kind_reason": "heart rate 112 bpm is high for sleep while breathing stayed at 13/min",
         "source": "physiological", "source_reason": "pulse moved with the ECG heart rate",
         "channels": ["heart_rate", "pulse_rate"], "contributions": {"heart_rate": 0.6, "pulse_rate": 0.4},
         "score": 5.5,
         "findings": [{"pattern": "nocturnal_tachycardia", "title": "Tachycardia at night / at rest",
                       "evidence": "heart rate (ECG) median 112 bpm vs this patient's usual 64 bpm",
                       "causes": ["arrhythmia", "fever or infection", "thyroid disorders (hyperthyroidism)"]}]},
    ],
}


def test_intents():
    assert intents_of("Which signal drove it?") == ["channels"]
    assert "when" in intents_of("When did it start?")
    assert "sensor" in intents_of("Is it a sensor problem?")
    assert intents_of("hello") == ["summary"]


def test_why_context_anomaly_and_disease_answers_from_the_facts():
    a = rule_answer(ANALYSIS, "Why do you think this dataset is leading to a context anomaly and what disease "
                              "might be causing it?")
    assert "contextual anomaly present" in a
    assert "heart rate 112 bpm is high for sleep" in a  # the kind's reason
    assert "thyroid disorders" in a and "arrhythmia" in a  # the causes of its finding
    assert "Event 2" in a and "Event 1" not in a  # only the contextual event
    assert "not a diagnosis" in a


def test_which_signal_when_and_sensor():
    assert "SpO2 (90% of the score)" in rule_answer(ANALYSIS, "Which signal caused the point anomaly?")
    when = rule_answer(ANALYSIS, "When was event 2?")
    assert "2026-01-05T23:40:00" in when and "1500 s" in when and "Event 1" not in when
    sensor = rule_answer(ANALYSIS, "Is this a sensor problem?")
    assert "source: sensor fault, because only SpO2 moved" in sensor
    assert "source: physiological, because pulse moved with the ECG heart rate" in sensor


def test_every_number_in_an_answer_comes_from_the_analysis():
    text = json.dumps(ANALYSIS)
    import re

    for q in ("why is it contextual?", "which signal?", "when?", "what could cause it?", "how many events?"):
        for number in re.findall(r"\d+(?:\.\d+)?", rule_answer(ANALYSIS, q)):
            assert number in text or number in ("1", "2", "3", "90", "60", "40", "10"), (q, number)


def test_no_events_and_unknown_event():
    empty = {"file": "x.csv", "label": "no anomaly", "counts": {}, "events": []}
    assert "no anomalous events" in rule_answer(empty, "why?")
    assert "no such event" in rule_answer(ANALYSIS, "what happened in event 9?")


class _Stub(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Stub.seen.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": "Phrased: night tachycardia."}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(out.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_llm():
    server = HTTPServer(("127.0.0.1", 0), _Stub)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_llm_backend_is_off_by_default(monkeypatch):
    monkeypatch.delenv("NEURALAB_LLM_URL", raising=False)
    assert answer_question(ANALYSIS, "why?") == rule_answer(ANALYSIS, "why?")


def test_llm_backend_phrases_from_the_facts(monkeypatch, stub_llm):
    _Stub.seen.clear()
    monkeypatch.setenv("NEURALAB_LLM_URL", stub_llm)
    monkeypatch.setenv("NEURALAB_LLM_KEY", "k")
    assert answer_question(ANALYSIS, "why?") == "Phrased: night tachycardia."
    req = _Stub.seen[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer k"
    user = req["body"]["messages"][1]["content"]
    assert "heart rate 112 bpm is high for sleep" in user and "Question: why?" in user


def test_llm_failure_falls_back_to_the_rule_answer(monkeypatch):
    monkeypatch.setenv("NEURALAB_LLM_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    a = answer_question(ANALYSIS, "why?")
    assert a.startswith(rule_answer(ANALYSIS, "why?")) and "endpoint failed" in a


def test_llm_backend_calls_only_this_machine_unless_allowed(monkeypatch, stub_llm):
    monkeypatch.delenv("NEURALAB_LLM_ALLOW_REMOTE", raising=False)
    for url, why in (("https://llm.example.org/v1", "host 'llm.example.org' is not this machine"),
                     ("file:///etc/passwd", "is not an http(s) URL")):
        monkeypatch.setenv("NEURALAB_LLM_URL", url)
        a = answer_question(ANALYSIS, "why?")
        assert a.startswith(rule_answer(ANALYSIS, "why?")) and why in a
    monkeypatch.setenv("NEURALAB_LLM_URL", stub_llm.replace("127.0.0.1", "localhost"))
    assert answer_question(ANALYSIS, "why?") == "Phrased: night tachycardia."
