"""Run reports: every run writes `runs/<task>/<timestamp>/` with metrics.json, history CSVs, plots (PNG),
report.md and report.html (images embedded, so the one file can be mailed or opened offline).

A report is a list of blocks (headings, paragraphs, tables, figures, code); each renders to Markdown and
to HTML. `run.json` says `running` until `finish()` has written every file, then `done`: a run killed
half-way never looks complete.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

from neuralab.utils import atomic_write_json, atomic_write_text  # noqa: E402

RUN_FILE = "run.json"


def timestamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


@dataclass
class _Block:
    kind: str
    data: Any


@dataclass
class Report:
    """A report under construction in `run_dir`.

    Args:
        run_dir: the run's directory (created).
        title: the page title.
        task: the task name (recorded in run.json).
    """

    run_dir: Path
    title: str
    task: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    blocks: list[_Block] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    console: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "plots").mkdir(exist_ok=True)
        self._status("running")

    # ---------------------------------------------------------------------------------------- blocks
    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(_Block("heading", (level, text)))

    def text(self, text: str) -> None:
        """A paragraph (plain text; `code` spans in backticks are kept)."""
        self.blocks.append(_Block("text", text))

    def code(self, text: str) -> None:
        self.blocks.append(_Block("code", text))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> None:
        self.blocks.append(_Block("table", (list(headers), [[_fmt(c) for c in r] for r in rows], caption)))

    def figure(self, fig: Any, name: str, caption: str = "") -> Path:
        """Save a matplotlib figure as `plots/<name>.png`, add it to the report and close it."""
        path = self.run_dir / "plots" / f"{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        self.blocks.append(_Block("figure", (path, caption)))
        return path

    def say(self, line: str) -> None:
        """A one-line result the CLI prints after the run (also kept in the report's summary)."""
        self.console.append(line)

    def add_metrics(self, **values: Any) -> None:
        self.metrics.update(values)

    def history(self, history: Any, name: str = "history", keys: Sequence[str] | None = None,
                title: str = "Learning curves") -> None:
        """Write `<name>.csv` and a learning-curve plot of the loss columns (or `keys`)."""
        atomic_write_text(self.run_dir / f"{name}.csv", history.to_csv())
        cols = list(keys) if keys else [k for k in history.keys() if k.endswith("loss")]
        if not cols or not len(history):
            return
        fig, ax = plt.subplots(figsize=(6, 3.6))
        epochs = history["epoch"]
        for k in cols:
            ax.plot(epochs, history[k], label=k)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        if all(v is not None and v > 0 for k in cols for v in history[k]):
            ax.set_yscale("log")
        ax.set_title(title)
        ax.legend()
        self.figure(fig, f"{name}_curves", title)

    # ---------------------------------------------------------------------------------------- output
    def finish(self) -> Path:
        """Write metrics.json, report.md and report.html, then mark the run done. Returns report.html."""
        atomic_write_json(self.run_dir / "metrics.json", self.metrics)
        atomic_write_json(self.run_dir / "summary.json", self.console)
        atomic_write_text(self.run_dir / "report.md", self.to_markdown())
        out = self.run_dir / "report.html"
        atomic_write_text(out, self.to_html())
        self._status("done")
        return out

    def fail(self, error: str) -> None:
        self._status("failed", error=error)

    def _status(self, status: str, **extra: Any) -> None:
        path = self.run_dir / RUN_FILE
        prev: dict[str, Any] = {}
        if path.exists():
            try:
                prev = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                prev = {}
        now = _dt.datetime.now().isoformat(timespec="seconds")
        if status != "failed":
            prev.pop("error", None)  # a resumed run that once failed is no longer failing
        prev.pop("ended", None)
        rec = {**prev, "task": self.task, "title": self.title, "status": status, **self.info, **extra}
        rec.setdefault("started", now)
        if status != "running":
            rec["ended"] = now
        atomic_write_json(path, rec)

    def to_markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        if self.console:
            lines += ["## Summary", ""] + [f"- {line}" for line in self.console] + [""]
        for b in self.blocks:
            if b.kind == "heading":
                level, text = b.data
                lines += ["#" * level + " " + text, ""]
            elif b.kind == "text":
                lines += [b.data, ""]
            elif b.kind == "code":
                lines += ["```", b.data.rstrip("\n"), "```", ""]
            elif b.kind == "table":
                headers, rows, caption = b.data
                if caption:
                    lines += [f"*{caption}*", ""]
                lines.append("| " + " | ".join(_md_cell(h) for h in headers) + " |")
                lines.append("|" + "---|" * len(headers))
                lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
                lines.append("")
            elif b.kind == "figure":
                path, caption = b.data
                lines += [f"![{caption or path.stem}]({os.path.relpath(path, self.run_dir)})", ""]
                if caption:
                    lines += [f"*{caption}*", ""]
        return "\n".join(lines)

    def to_html(self) -> str:
        e = html.escape
        parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(self.title)}</title>",
                 f"<style>{CSS}</style></head><body><h1>{e(self.title)}</h1>"]
        if self.console:
            parts.append("<div class='summary'><h2>Summary</h2><ul>"
                         + "".join(f"<li>{e(line)}</li>" for line in self.console) + "</ul></div>")
        for b in self.blocks:
            if b.kind == "heading":
                level, text = b.data
                parts.append(f"<h{level}>{e(text)}</h{level}>")
            elif b.kind == "text":
                parts.append(f"<p>{_inline_code(e(b.data))}</p>")
            elif b.kind == "code":
                parts.append(f"<pre>{e(b.data)}</pre>")
            elif b.kind == "table":
                headers, rows, caption = b.data
                cap = f"<caption>{e(caption)}</caption>" if caption else ""
                head = "".join(f"<th>{e(h)}</th>" for h in headers)
                body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
                parts.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif b.kind == "figure":
                path, caption = b.data
                data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
                parts.append(f"<figure><img alt='{e(caption or path.stem)}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{e(caption)}</figcaption></figure>")
        parts.append("</body></html>")
        return "\n".join(parts)


CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th{background:#f3f3f3}caption{font-style:italic;margin-bottom:.3rem}img{max-width:100%}
figure{margin:1rem 0}figcaption{font-size:.9rem;color:#555}pre{background:#f6f6f6;padding:.6rem;overflow:auto}
code{background:#f3f3f3;padding:0 .2rem}"""


def _inline_code(text: str) -> str:
    out, inside = [], False
    for i, piece in enumerate(text.split("`")):
        if i:
            inside = not inside
        out.append(f"<code>{piece}</code>" if inside else piece)
    return "".join(out)


def _md_cell(text: str) -> str:
    # A "|" would end the cell and a newline the row: escape the one, flatten the other.
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        if value == 0 or 1e-4 <= abs(value) < 1e6:
            return f"{value:.4f}".rstrip("0").rstrip(".") if "." in f"{value:.4f}" else f"{value:.4f}"
        return f"{value:.3e}"
    return str(value)


def read_status(run_dir: str | Path) -> dict[str, Any]:
    """The run's run.json (empty dict if missing or unreadable)."""
    path = Path(run_dir) / RUN_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
