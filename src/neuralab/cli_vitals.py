"""`neuralab vitals ...`: vital-sign (WBAN) recordings — simulate, train detectors, evaluate.

Mounted in `neuralab.cli` with `app.add_typer(vitals_app, name="vitals")`. Same contract as the main CLI: a user
error prints one line `error: ...` on stderr and exits 2.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from neuralab.cli_errors import user_errors

vitals_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                         help="Vital-sign (WBAN) recordings: simulate labelled data, train and evaluate detectors.")


_user_errors = user_errors


@vitals_app.command()
@_user_errors
def simulate(
    out: Annotated[Path, typer.Option(help="CSV file to write (atomically).")],
    hours: Annotated[float, typer.Option(help="Length of the recording in hours.")] = 24.0,
    rate: Annotated[float, typer.Option(help="Samples per second.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same file).")] = 7,
    anomalies: Annotated[bool, typer.Option("--anomalies/--no-anomalies",
                                            help="Inject labelled anomalies (off: normal training data).")] = True,
    events: Annotated[int | None, typer.Option(help="Number of anomaly events (default: one per hour).")] = None,
    kinds: Annotated[str | None, typer.Option(
        help="Comma-separated injectors (default all): spike, dropout, hr_rise_at_rest, hr_pulse_mismatch, "
             "night_tachycardia, irregular_rhythm, desaturation, flatline.")] = None,
    start: Annotated[str | None, typer.Option(help="Clock time of the first sample, ISO (default "
                                                   "2026-01-05T08:00:00).")] = None,
    style: Annotated[str, typer.Option(help="course (Body_Temperature in °F, Heart_Rate, ...) or canonical.")]
    = "course",
    channels: Annotated[str | None, typer.Option(
        help="Comma-separated channels to write (default all), e.g. Body_Temperature,Heart_Rate,Pulse_Rate,SpO2,ECG "
             "for the course's five.")] = None,
) -> None:
    """Write a labelled WBAN recording: correlated channels, day/night, activity, and injected anomalies."""
    from datetime import datetime

    from neuralab.data.vitals_sim import describe_events, write_vitals_csv
    from neuralab.data.vitals_sim import simulate as run_simulate
    from neuralab.errors import ConfigError

    if style not in ("course", "canonical"):
        raise ConfigError(f"--style must be 'course' or 'canonical', got {style!r}")
    when = None
    if start is not None:
        try:
            when = datetime.fromisoformat(start)
        except ValueError:
            raise ConfigError(f"--start {start!r} is not an ISO date-time like 2026-01-05T08:00:00") from None
    chosen = [k.strip() for k in kinds.split(",") if k.strip()] if kinds else None
    if events is not None and events < 0:
        raise ConfigError(f"--events must be >= 0, got {events}")
    keep = [c for c in channels.split(",") if c.strip()] if channels else None
    t0 = time.perf_counter()
    record = run_simulate(hours, rate, seed, anomalies=anomalies, n_events=events, kinds=chosen, start=when,
                          channels=keep)
    write_vitals_csv(record, out, style=style)
    counts = describe_events(record)
    labelled = float(record.truth.label.mean()) if record.truth is not None else 0.0
    typer.echo(f"wrote {out}: {len(record):,} rows x {len(record.channels)} channels, {hours:g} h at {rate:g} Hz, "
               f"seed {seed}")
    typer.echo(f"anomaly events: {sum(counts.values())} (point {counts['point']}, contextual "
               f"{counts['contextual']}, collective {counts['collective']}); {100 * labelled:.1f}% of samples "
               f"labelled; {time.perf_counter() - t0:.2f} s")


@vitals_app.command()
@_user_errors
def train(
    data: Annotated[list[Path], typer.Option(help="Normal recordings: CSV files, folders of them, PhysioNet 2012 "
                                                  "record folders or set-a.tar.gz (repeat --data).")],
    detector: Annotated[str, typer.Option(help="lstm-autoencoder | convlstm-detector | ar | iforest")],
    out: Annotated[Path, typer.Option(help="Model directory to write (config.json + model.safetensors).")],
    epochs: Annotated[int, typer.Option(help="Training epochs (neural detectors).")] = 10,
    device: Annotated[str, typer.Option(help="auto|cpu|cuda|mps")] = "cpu",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Detector parameter KEY=VALUE (e.g. window=12, "
                                                                 "k=3, scales=[3,6]); repeatable.")] = None,
    channels: Annotated[str | None, typer.Option(help="Comma-separated channels (default: those in most "
                                                      "records).")] = None,
    limit: Annotated[int | None, typer.Option(help="Read at most this many records.")] = None,
    skip_bad: Annotated[bool, typer.Option(help="Skip unreadable records instead of stopping.")] = False,
    precision: Annotated[str, typer.Option(help="auto | fp32 | bf16 (bfloat16 autocast while training the neural "
                                                "detectors; scoring stays float32) | fp16 (CUDA).")] = "auto",
) -> None:
    """Train an anomaly detector on normal vital-sign recordings (no labels used) and save it."""
    from neuralab.anomaly.run import parse_params
    from neuralab.anomaly.run import train as run_train

    chosen = [c.strip() for c in channels.split(",") if c.strip()] if channels else None
    det, s = run_train(data, detector, out, epochs=epochs, device=device, seed=seed, params=parse_params(set_),
                       channels=chosen, limit=limit, skip_bad=skip_bad, precision=precision)
    typer.echo(f"trained {detector} on {s['records']} record(s), {s['samples']:,} samples, channels "
               f"{', '.join(s['channels'])}; threshold {det.threshold.method} = {s['threshold']:.4g}; "
               f"{s['seconds']:.1f} s -> {out}")


@vitals_app.command()
@_user_errors
def evaluate(
    model: Annotated[Path, typer.Option(help="A detector directory written by `neuralab vitals train`.")],
    data: Annotated[list[Path], typer.Option(help="Labelled recordings (label, anomaly_kind columns).")],
    out: Annotated[Path | None, typer.Option(help="Folder for metrics.json.")] = None,
) -> None:
    """Evaluate a trained detector: point- and event-wise P/R/F1, ROC-AUC, PR-AUC, recall per kind, alarms/hour."""
    from neuralab.anomaly.run import evaluate as run_evaluate

    m = run_evaluate(model, data, out)

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    typer.echo(f"{m['detector']} on {m['counts']['records']} record(s), {m['counts']['true_events']} true events "
               f"({m['counts']['hours']:.1f} h), scored in {m['seconds']:.2f} s")
    typer.echo(f"point  P {f(m['point_precision'])}  R {f(m['point_recall'])}  F1 {f(m['point_f1'])}   "
               f"(point-adjusted F1 {f(m['point_adjusted_f1'])}, inflated)")
    typer.echo(f"event  P {f(m['event_precision'])}  R {f(m['event_recall'])}  F1 {f(m['event_f1'])}")
    typer.echo(f"ROC-AUC {f(m['roc_auc'])}  PR-AUC {f(m['pr_auc'])}  false alarms/h "
               f"{f(m['false_alarms_per_hour'])}")
    typer.echo("recall by kind: " + ", ".join(f"{k} {v:.2f}" for k, v in m["recall_by_kind"].items()))
    if out is not None:
        typer.echo(f"wrote {out / 'metrics.json'}")


@vitals_app.command()
@_user_errors
def analyze(
    file: Annotated[Path, typer.Argument(help="A vital-sign recording (CSV in any column style, .gz too).")],
    detector: Annotated[str | None, typer.Option(
        help="Detector trained on the fly on simulated normal data: ar (default), iforest, lstm-autoencoder, "
             "convlstm-detector.")] = None,
    model: Annotated[Path | None, typer.Option(help="A detector directory from `neuralab vitals train` "
                                                    "(trained on your own normal data).")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for analysis.json, report.html and chart.svg "
                                                  "(default runs/analysis/<file name>).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="What to print: text (a summary table), json "
                                                      "(analysis.json), html (the report's path).")] = "text",
    rate: Annotated[float | None, typer.Option(help="Samples per second for files without a time column.")] = None,
    max_rows: Annotated[int, typer.Option(help="Refuse files with more rows than this.")] = 5_000_000,
    seed: Annotated[int, typer.Option(help="Seed of the on-the-fly detector's training data.")] = 0,
) -> None:
    """Analyse a recording: events, their kind (point / contextual / collective), sensor fault or physiological,
    the channels behind them, the evidence in numbers and possible causes. Writes analysis.json and report.html."""
    import json

    from neuralab.anomaly.analysis import analyze as run_analyze
    from neuralab.anomaly.analysis import summary_text, write_outputs
    from neuralab.errors import ConfigError

    if fmt not in ("text", "json", "html"):
        raise ConfigError(f"--format {fmt!r}: expected text, json or html")
    t0 = time.perf_counter()
    res = run_analyze(file, detector=detector, model_dir=model, seed=seed, max_rows=max_rows, rate_hz=rate)
    out = out or Path("runs") / "analysis" / file.name.split(".")[0]
    written = write_outputs(res, out)
    seconds = time.perf_counter() - t0
    if fmt == "json":
        typer.echo(json.dumps(res.analysis, indent=2, default=str))
    elif fmt == "html":
        typer.echo(str(out / "report.html"))
    else:
        typer.echo(summary_text(res.analysis))
        typer.echo(f"\nwrote {', '.join(str(p) for p in written)} in {seconds:.1f} s")


@vitals_app.command()
@_user_errors
def ask(
    analysis_dir: Annotated[Path, typer.Argument(help="A folder written by `neuralab vitals analyze` "
                                                      "(or its analysis.json).")],
    question: Annotated[str, typer.Argument(help="e.g. \"Why is this a context anomaly and what could cause it?\"")],
) -> None:
    """Answer a question about an analysis from its facts (set NEURALAB_LLM_URL to have an OpenAI-compatible model
    phrase the answer from the same facts)."""
    import json

    from neuralab.anomaly.questions import answer_question
    from neuralab.errors import DataError

    path = analysis_dir / "analysis.json" if analysis_dir.is_dir() else analysis_dir
    if not path.is_file():
        raise DataError(f"{path}: no analysis.json; run `neuralab vitals analyze FILE --out {analysis_dir}` first")
    try:
        analysis = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a valid analysis.json ({exc})") from None
    if not isinstance(analysis, dict) or "events" not in analysis:
        raise DataError(f"{path}: not an analysis.json (no 'events')")
    typer.echo(answer_question(analysis, question))


from neuralab.cli_watch import register as _register_watch  # noqa: E402  (`neuralab vitals watch`)

_register_watch(vitals_app)
