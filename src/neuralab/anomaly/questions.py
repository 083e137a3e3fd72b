"""Answer questions about an analysis from its facts (`analysis.json`), never from invented numbers.

    answer_question(analysis, "Why is this a context anomaly and what disease might be causing it?") -> str

The question is matched to the intents below (several may apply); each intent's answer is assembled from the
analysis' own fields: the label and counts, each event's kind and the reason for it, its source (sensor fault or
physiological) and why, its channels and their contributions, its times, its evidence and the possible causes of
its findings. Answers about causes end with the disclaimer.

Optional LLM phrasing: with `NEURALAB_LLM_URL` set (the base URL of any OpenAI-compatible server, e.g.
`http://127.0.0.1:8080/v1`; `NEURALAB_LLM_MODEL` and `NEURALAB_LLM_KEY` optional), the facts and the rule-based
answer are sent to `POST {url}/chat/completions` with the instruction to rephrase using only those facts. Off by
default; any failure of the endpoint falls back to the rule-based answer, saying so. The facts describe a
patient's recording, so they stay on this machine unless the user says otherwise: only http(s) URLs on a loopback
host (localhost, 127.0.0.0/8, ::1) are called, and any other host needs `NEURALAB_LLM_ALLOW_REMOTE=1`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from neuralab.anomaly.knowledge import CHANNEL_NAMES, DISCLAIMER

INTENTS: dict[str, tuple[str, ...]] = {
    "kind": ("why", "context", "contextual", "point", "collective", "kind", "type", "classif", "label"),
    "channels": ("which signal", "which channel", "which sensor", "what signal", "which vital", "signal",
                 "channel", "drove", "attribut"),
    "when": ("when", "what time", "how long", "duration", "start", "time"),
    "causes": ("cause", "disease", "why", "what could", "what might", "reason", "diagnos", "condition",
               "explain", "mean"),
    "sensor": ("sensor", "fault", "device", "artefact", "artifact", "detach", "real", "problem", "probe"),
    "count": ("how many", "number of", "count"),
}


def intents_of(question: str) -> list[str]:
    q = question.lower()
    found = [name for name, words in INTENTS.items() if any(w in q for w in words)]
    return found or ["summary"]


def _channels(e: dict[str, Any]) -> str:
    names = [CHANNEL_NAMES.get(c, c) for c in e.get("channels") or []]
    contrib = e.get("contributions") or {}
    if contrib:
        names = [f"{CHANNEL_NAMES.get(c, c)} ({100 * float(v):.0f}% of the score)"
                 for c, v in sorted(contrib.items(), key=lambda kv: -float(kv[1]))[:3]]
    return ", ".join(names) or "no channel recorded"


def _event_title(i: int, e: dict[str, Any]) -> str:
    return f"Event {i} ({e.get('kind', '?')}, {e.get('start', '?')} to {e.get('end', '?')})"


def _select(analysis: dict[str, Any], question: str) -> list[tuple[int, dict[str, Any]]]:
    """The events a question is about: the kind it names, an event number it names, else all (strongest first)."""
    events = list(enumerate(analysis.get("events") or [], 1))
    q = question.lower()
    m = re.search(r"event\s*#?\s*(\d+)", q)
    if m:
        return [(i, e) for i, e in events if i == int(m.group(1))]
    for kind, words in (("contextual", ("context",)), ("point", ("point",)), ("collective", ("collective",))):
        if any(w in q for w in words):
            picked = [(i, e) for i, e in events if e.get("kind") == kind]
            if picked:
                return picked
    return sorted(events, key=lambda ie: -float(ie[1].get("score") or 0.0))


def rule_answer(analysis: dict[str, Any], question: str, max_events: int = 3) -> str:
    """The answer assembled from the analysis facts alone."""
    events = analysis.get("events") or []
    counts = analysis.get("counts") or {}
    label = analysis.get("headline") or analysis.get("label") or "no label"
    file = analysis.get("file", "the recording")
    if not events:
        return (f"The analysis of {file} found no anomalous events ({label}); there is nothing to explain. "
                f"Detector: {analysis.get('detector', 'unknown')}.")
    intents = intents_of(question)
    chosen = _select(analysis, question)
    if not chosen:
        return f"There is no such event: the analysis of {file} has {len(events)} event(s)."
    more = len(chosen) - max_events
    chosen = chosen[:max_events]
    parts: list[str] = []
    if "summary" in intents or "count" in intents or "kind" in intents:
        parts.append(f"{file}: {label}. Events by kind: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".")
    for i, e in chosen:
        lines: list[str] = []
        if "kind" in intents:
            lines.append(f"it is a {e.get('kind')} anomaly because {e.get('kind_reason') or 'of how it was scored'}")
        if "channels" in intents or "kind" in intents:
            lines.append(f"signals: {_channels(e)}")
        if "when" in intents:
            dur = e.get("duration_s")
            lines.append(f"from {e.get('start')} to {e.get('end')}" + (f" ({float(dur):.0f} s)" if dur else ""))
        if "sensor" in intents:
            src = (e.get("source") or "unknown").replace("_", " ")
            lines.append(f"source: {src}" + (f", because {e['source_reason']}" if e.get("source_reason") else ""))
        if "causes" in intents or "kind" in intents:
            for f in e.get("findings") or []:
                lines.append(f"{f.get('title')}: {f.get('evidence')}; possible causes: "
                             + ", ".join((f.get("causes") or [])[:6]))
            if not e.get("findings"):
                ev = e.get("evidence") or []
                lines.append("evidence: " + ("; ".join(map(str, ev)) if ev else "the detector's score only")
                             + "; no textbook pattern matches these values")
        if "summary" in intents or "count" in intents:
            lines.append(f"signals: {_channels(e)}; source: {(e.get('source') or 'unknown').replace('_', ' ')}")
        parts.append(f"{_event_title(i, e)}: " + "; ".join(lines) + ".")
    if more > 0:
        parts.append(f"({more} more event(s) of this selection are in the events table.)")
    if "causes" in intents or "kind" in intents:
        parts.append(analysis.get("disclaimer") or DISCLAIMER)
    return "\n".join(parts)


def answer_question(analysis: dict[str, Any], question: str) -> str:
    """Answer `question` about `analysis`: from the facts, phrased by an LLM only when one is configured."""
    answer = rule_answer(analysis, question)
    url = os.environ.get("NEURALAB_LLM_URL")
    if not url:
        return answer
    try:
        return llm_phrase(url, analysis, question, answer)
    except (OSError, urllib.error.URLError, ValueError, KeyError, IndexError, TypeError) as exc:
        return f"{answer}\n(The language-model endpoint failed: {exc}; this is the rule-based answer.)"


def check_llm_url(url: str) -> None:
    """Raise ValueError unless `url` is http(s) on a loopback host, or NEURALAB_LLM_ALLOW_REMOTE=1 allows any host."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"NEURALAB_LLM_URL={url!r} is not an http(s) URL with a host")
    host = parts.hostname
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() == "localhost"
    if not loopback and os.environ.get("NEURALAB_LLM_ALLOW_REMOTE") != "1":
        raise ValueError(f"NEURALAB_LLM_URL host {host!r} is not this machine; set NEURALAB_LLM_ALLOW_REMOTE=1 to "
                         "send the analysis facts to it")


def llm_phrase(url: str, analysis: dict[str, Any], question: str, facts_answer: str, timeout: float = 30) -> str:
    """Ask an OpenAI-compatible chat endpoint to phrase `facts_answer` for `question`, using only the facts."""
    check_llm_url(url)
    facts = {k: analysis.get(k) for k in ("file", "label", "headline", "counts", "events", "disclaimer")}
    body = {
        "model": os.environ.get("NEURALAB_LLM_MODEL", "default"),
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "You explain a vital-sign anomaly analysis to a clinician-researcher. "
             "Use only the facts given; never invent numbers; keep the disclaimer that this is not a diagnosis."},
            {"role": "user", "content": f"Facts (JSON): {json.dumps(facts)}\n\nRule-based answer:\n{facts_answer}"
             f"\n\nQuestion: {question}"},
        ],
    }
    req = urllib.request.Request(url.rstrip("/") + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    key = os.environ.get("NEURALAB_LLM_KEY")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310  (the user configures the URL)
        reply = json.loads(resp.read().decode("utf-8"))
    text = reply["choices"][0]["message"]["content"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty answer")
    return text.strip()
