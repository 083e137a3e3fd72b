"""The `neuralab` command line: list, run, demo, summary.

A user error (bad option, missing file, bad data) prints one line `error: ...` on stderr and exits 2;
nothing else is printed, no traceback.
"""

from __future__ import annotations

import html
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from neuralab import __version__
from neuralab.cli_errors import user_errors
from neuralab.errors import NeuralabError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="neuralab: the neural networks of a deep-learning course, verified and put to work.")


_user_errors = user_errors


def _version(value: bool) -> None:
    if value:
        typer.echo(f"neuralab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    pass


@app.command("list")
@_user_errors
def list_cmd() -> None:
    """List the registered models and the course systems (tasks)."""
    from neuralab.models.registry import list_models
    from neuralab.tasks.base import list_tasks

    typer.echo("Tasks (neuralab run TASK):")
    tasks = list_tasks()
    width = max(len(n) for n in tasks)
    for name, entry in tasks.items():
        typer.echo(f"  {name:<{width}}  {entry.description}  [default data: {entry.default_data}]")
        for key, help_text in entry.options.items():
            typer.echo(f"  {'':<{width}}    --set {key}=...  {help_text}")
    typer.echo("\nModels (neuralab summary MODEL):")
    models = list_models()
    width = max(len(n) for n in models)
    for name, desc in models.items():
        typer.echo(f"  {name:<{width}}  {desc}")


PRECISION_HELP = ("auto (float32 on the CPU, mixed on CUDA) | fp32 | bf16 (bfloat16 autocast: ~1.6x faster CNN "
                  "training on CPUs with AVX512-BF16/AMX) | fp16 (CUDA).")


def _check_precision(precision: str) -> None:
    from neuralab.train.trainer import PRECISIONS

    if precision not in PRECISIONS:
        raise NeuralabError(f"--precision {precision!r} is not one of {', '.join(PRECISIONS)}")


@app.command()
@_user_errors
def run(
    task: Annotated[str, typer.Argument(help="Task name (see `neuralab list`).")],
    data: Annotated[Path | None, typer.Option(help="Your data file or folder instead of the embedded default.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (default: the task's own).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Smoke run: small sizes, few epochs.")] = False,
    device: Annotated[str, typer.Option(help="auto|cpu|cuda|mps")] = "auto",
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "auto",
    seed: Annotated[int, typer.Option(help="Random seed of the run.")] = 0,
    out: Annotated[Path, typer.Option(help="Runs root; the run goes to OUT/TASK/TIMESTAMP/.")] = Path("runs"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue the latest unfinished run of TASK.")] = False,
    arch: Annotated[str | None, typer.Option(help="Model architecture, for tasks that offer a choice.")] = None,
    augment: Annotated[str | None, typer.Option(
        help="Training-batch augmentation, e.g. rotate=15,flip=h,noise=0.05 (image tasks).")] = None,
    image_size: Annotated[int | None, typer.Option(help="Resize images to this side (image tasks).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="A task option KEY=VALUE (repeatable); "
                                                   "`neuralab list` shows each task's options.")] = None,
) -> None:
    """Run one course system and write its report to OUT/TASK/TIMESTAMP/."""
    from neuralab.tasks.base import TaskOptions, run_task, task_entry

    task_entry(task)  # unknown task: fail before anything else
    _check_precision(precision)
    if data is not None and not data.exists():
        raise NeuralabError(f"--data path {str(data)!r} does not exist")
    extra: dict[str, str] = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise NeuralabError(f"--set expects KEY=VALUE, got {item!r}")
        extra[key.strip().replace("-", "_")] = value.strip()
    for key, value in (("arch", arch), ("augment", augment), ("image_size", image_size)):
        if value is not None:
            extra[key] = str(value)
    t0 = time.perf_counter()
    result = run_task(task, TaskOptions(data=data, epochs=epochs, quick=quick, device=device, seed=seed,
                                        out=out, resume=resume, extra=extra, precision=precision))
    _print_result(result, time.perf_counter() - t0)


def _print_result(result: Any, seconds: float) -> None:
    from neuralab.report import Report  # noqa: F401  (report lines come from the run)

    lines = _summary_lines(result.run_dir)
    for line in lines:
        typer.echo(f"  {line}")
    typer.echo(f"{result.task}: done in {seconds:.1f} s -> {result.report_html}")


def _summary_lines(run_dir: Path) -> list[str]:
    path = Path(run_dir) / "summary.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []


@app.command()
@_user_errors
def demo(
    out: Annotated[Path, typer.Option(help="Where the demo's runs and index.html go.")] = Path("runs/demo"),
    device: Annotated[str, typer.Option(help="auto|cpu|cuda|mps")] = "auto",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Run every task in quick mode on embedded data and collect the reports in OUT/index.html."""
    from neuralab.tasks.base import TaskOptions, list_tasks, run_task
    from neuralab.utils import resolve_device

    resolve_device(device)
    tasks = list_tasks()
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    for i, (name, entry) in enumerate(tasks.items(), 1):
        run_dir = out / name
        if run_dir.exists():
            shutil.rmtree(run_dir)
        typer.echo(f"[{i}/{len(tasks) + 1}] {name}: {entry.description}")
        t0 = time.perf_counter()
        try:
            result = run_task(name, TaskOptions(quick=True, device=device, seed=seed, run_dir=run_dir))
            rows.append({"name": name, "title": entry.title, "status": "done",
                         "seconds": time.perf_counter() - t0, "lines": _summary_lines(run_dir)})
            for line in rows[-1]["lines"]:
                typer.echo(f"      {line}")
            typer.echo(f"      done in {rows[-1]['seconds']:.1f} s -> {result.report_html}")
        except (NeuralabError, ImportError) as exc:  # a failed task is reported; the demo goes on
            rows.append({"name": name, "title": entry.title, "status": "failed", "error": str(exc),
                         "seconds": time.perf_counter() - t0, "lines": []})
            typer.echo(f"      FAILED: {exc}", err=True)
    rows.append(_demo_vitals(out, len(tasks) + 1))
    index = _write_index(out, rows, time.perf_counter() - t_all)
    typer.echo(f"demo: {sum(r['status'] == 'done' for r in rows)}/{len(rows)} tasks done in "
               f"{time.perf_counter() - t_all:.1f} s -> {index}")
    if any(r["status"] != "done" for r in rows):
        raise typer.Exit(1)


def _demo_vitals(out: Path, i: int) -> dict[str, Any]:
    """The vital-sign application in the demo: `vitals analyze` on the simulated recording of
    examples/test-data.csv (2 h, the course's five channels, two contextual anomalies)."""
    from neuralab.anomaly.analysis import analyze_record, write_outputs
    from neuralab.data.vitals_sim import simulate

    title = "Vital-sign anomaly analysis (neuralab vitals analyze)"
    typer.echo(f"[{i}/{i}] vitals: {title} on 2 h of simulated WBAN data")
    t0 = time.perf_counter()
    run_dir = out / "vitals"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    try:
        rec = simulate(2.0, 1.0, 7, n_events=2, kinds=["hr_rise_at_rest", "night_tachycardia"],
                       channels=["temperature_c", "heart_rate", "pulse_rate", "spo2", "ecg"])
        res = analyze_record(rec, file="test-data.csv (simulated)")
        write_outputs(res, run_dir)
        a = res.analysis
        lines = [f"{a['headline']} ({a['label']})",
                 "events by kind: " + ", ".join(f"{k} {v}" for k, v in a["counts"].items())]
        for line in lines:
            typer.echo(f"      {line}")
        typer.echo(f"      done in {time.perf_counter() - t0:.1f} s -> {run_dir / 'report.html'}")
        return {"name": "vitals", "title": title, "status": "done", "seconds": time.perf_counter() - t0,
                "lines": lines}
    except NeuralabError as exc:
        typer.echo(f"      FAILED: {exc}", err=True)
        return {"name": "vitals", "title": title, "status": "failed", "error": str(exc),
                "seconds": time.perf_counter() - t0, "lines": []}


def _write_index(out: Path, rows: list[dict[str, Any]], seconds: float) -> Path:
    from neuralab.report import CSS
    from neuralab.utils import atomic_write_text

    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>neuralab demo</title><style>{CSS}"
             ".thumbs img{max-width:32%;margin:.2rem;border:1px solid #ddd}</style></head><body>",
             f"<h1>neuralab {e(__version__)}: demo</h1>",
             f"<p>Every course system in quick mode on embedded data, {len(rows)} tasks in {seconds:.1f} s. "
             "Each title links to the full report.</p>"]
    for r in rows:
        link = f"{r['name']}/report.html"
        parts.append(f"<h2><a href='{e(link)}'>{e(r['title'])}</a> <small>({e(r['name'])}, "
                     f"{r['status']}, {r['seconds']:.1f} s)</small></h2>")
        if r["status"] != "done":
            parts.append(f"<p><b>failed:</b> {e(r.get('error', ''))}</p>")
            continue
        if r["lines"]:
            parts.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in r["lines"]) + "</ul>")
        plots = sorted((out / r["name"] / "plots").glob("*.png")) + sorted((out / r["name"]).glob("chart.svg"))
        parts.append("<div class='thumbs'>" + "".join(
            f"<a href='{e(p.relative_to(out).as_posix())}'><img alt='{e(p.stem)}' "
            f"src='{e(p.relative_to(out).as_posix())}'></a>" for p in plots) + "</div>")
    parts.append("</body></html>")
    path = out / "index.html"
    atomic_write_text(path, "\n".join(parts))
    return path


@app.command()
@_user_errors
def summary(
    model: Annotated[str, typer.Argument(help="A registered model name, or a saved model directory.")],
    config: Annotated[str | None, typer.Option(help="Config overrides as JSON, e.g. '{\"hidden\": [64, 64]}'.")]
    = None,
    batch_size: Annotated[int, typer.Option(help="Batch size of the example input.")] = 1,
) -> None:
    """Print a layer table of MODEL: output shapes and parameter counts."""
    import torchinfo

    from neuralab.models.registry import example_input, get_model
    from neuralab.train.checkpoint import load_model

    overrides: dict[str, Any] = {}
    if config:
        try:
            overrides = json.loads(config)
        except json.JSONDecodeError as exc:
            raise NeuralabError(f"--config is not valid JSON ({exc.msg} at column {exc.colno}): {config}") from None
        if not isinstance(overrides, dict):
            raise NeuralabError(f"--config must be a JSON object, got {config}")
    if Path(model).is_dir():
        if overrides:
            raise NeuralabError("--config applies to a model name, not to a saved model directory")
        net = load_model(model)
    else:
        net = get_model(model, **overrides)
    x = example_input(net, batch_size)
    stats = torchinfo.summary(net, input_data=[x] if not isinstance(x, tuple) else list(x), verbose=0,
                              col_names=("output_size", "num_params"), depth=4, device="cpu")
    typer.echo(f"{net.model_name}: {net.config}")
    typer.echo(str(stats))


@app.command()
@_user_errors
def bench(
    model: Annotated[str, typer.Argument(help="A registered model name (see `neuralab list`).")],
    samples: Annotated[int, typer.Option(help="Synthetic training samples timed after the warm-up.")] = 4096,
    device: Annotated[str, typer.Option(help="auto|cpu|cuda|mps")] = "auto",
    channels_last: Annotated[bool | None, typer.Option("--channels-last/--no-channels-last",
                                                       help="Memory format for images (default: on).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Override the reference batch size.")] = None,
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line.")] = False,
) -> None:
    """Time training throughput (samples/s) of MODEL on the Keras reference's sizes."""
    from neuralab.bench import benchmark

    _check_precision(precision)
    r = benchmark(model, samples=samples, device=device, channels_last=channels_last, batch_size=batch_size,
                  precision=precision)
    if as_json:
        typer.echo(json.dumps(r.as_dict()))
    else:
        typer.echo(f"{r.model}: {r.samples_per_s:,.0f} samples/s ({r.samples} samples, batch {r.batch_size}, "
                   f"{r.seconds:.2f} s, {r.device}, {r.threads} threads, channels_last={r.channels_last}, "
                   f"precision={r.precision})")


@app.command()
@_user_errors
def predict(
    model_dir: Annotated[Path, typer.Argument(help="A model directory written by a task (config.json + weights).")],
    inputs: Annotated[list[str], typer.Argument(help="Image files, or texts, depending on the model.")],
    top: Annotated[int, typer.Option(help="How many class probabilities to print per input.")] = 3,
    device: Annotated[str, typer.Option(help="auto|cpu|cuda|mps")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line per input.")] = False,
) -> None:
    """Classify new inputs with a saved model: the label and the class probabilities."""
    from neuralab.predict import predict as run_predict

    if top < 1:
        raise NeuralabError(f"--top must be at least 1, got {top}")
    for p in run_predict(model_dir, inputs, device=device):
        if as_json:
            typer.echo(json.dumps(p.as_dict()))
        else:
            others = ", ".join(f"{label} {prob:.3f}" for label, prob in p.top(top))
            typer.echo(f"{p.input}: {p.label} ({p.probability:.3f})  [{others}]")


from neuralab.cli_vitals import vitals_app  # noqa: E402  (vitals command group)

app.add_typer(vitals_app, name="vitals")


@app.command()
@_user_errors
def generate(
    model_dir: Annotated[Path, typer.Argument(help="The model/ folder of a `neuralab run textgen` run.")],
    seed_text: Annotated[str, typer.Option(help="Text to start from (every character must be in the "
                                                "model's alphabet).")] = "\n",
    length: Annotated[int, typer.Option(help="Characters to generate.")] = 400,
    temperature: Annotated[float, typer.Option(help="Softmax temperature: low = safe and repetitive, 1 = the "
                                                    "model's own distribution, 0 = always the likeliest.")] = 0.8,
    seed: Annotated[int, typer.Option(help="Random seed of the sampling.")] = 0,
    device: Annotated[str, typer.Option(help="auto|cpu|cuda|mps")] = "cpu",
) -> None:
    """Write text with a saved character generator: the seed text, then LENGTH sampled characters."""
    from neuralab.tasks.textgen import generate_text, load_generator
    from neuralab.utils import resolve_device

    model, vocab = load_generator(model_dir, device=str(resolve_device(device)))
    typer.echo(seed_text + generate_text(model, vocab, seed_text, length, temperature, seed=seed))


@app.command()
@_user_errors
def forecast(
    file: Annotated[Path, typer.Argument(help="A CSV file with a header row.")],
    column: Annotated[str, typer.Option(help="The value column (header name or 1-based number).")],
    time_column: Annotated[str | None, typer.Option(help="An optional time column (numbers or dates).")] = None,
    horizon: Annotated[int, typer.Option(help="Steps to forecast.")] = 12,
    model: Annotated[str, typer.Option(help="ar|arima|lstm|gru|mlp|auto")] = "auto",
    window: Annotated[int, typer.Option(help="Past values per input of the neural models (AR: max order).")] = 10,
    out: Annotated[Path, typer.Option(help="Folder for forecast.csv and forecast.png.")] = Path("forecast"),
    device: Annotated[str, typer.Option(help="auto|cpu|cuda|mps")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the neural models.")] = 0,
    epochs: Annotated[int, typer.Option(help="Maximum training epochs of the neural models (early stopping).")] = 300,
) -> None:
    """Forecast the next HORIZON values of a CSV column with 80%/95% intervals (forecast.csv + forecast.png)."""
    from neuralab.forecast.service import describe, forecast_file
    from neuralab.utils import resolve_device

    result = forecast_file(file, column, horizon=horizon, model=model, time_column=time_column, out=out,
                           window=window, seed=seed, device=str(resolve_device(device)), epochs=epochs)
    for line in describe(result):
        typer.echo(line)

def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:  # `neuralab list | head`
        sys.exit(0)


if __name__ == "__main__":
    main()


@app.command()
@_user_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default; 0.0.0.0 exposes it).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    db: Annotated[str | None, typer.Option(help="SQLAlchemy database URL, e.g. postgresql://user@host/db "
                                                "(default: SQLite in the data directory).")] = None,
    data_dir: Annotated[Path, typer.Option(help="Uploads, results and the SQLite database.")] = Path("neuralab-data"),
    max_upload_mb: Annotated[float, typer.Option(help="Larger uploads are refused with 413.")] = 100.0,
    workers: Annotated[int, typer.Option(help="Analysis worker threads.")] = 1,
) -> None:
    """Run the vital-sign analysis web service: upload a recording, see the analysis, ask about it.

    Set NEURALAB_TOKEN to require `Authorization: Bearer TOKEN` on every call (pages ask for it once)."""
    try:
        import uvicorn

        from neuralab.web.app import Settings, create_app
    except ImportError as exc:
        raise NeuralabError(f"the web service needs the 'web' extra: pip install 'neuralab[web]' ({exc})") from None
    if not 0 < port < 65536:
        raise NeuralabError(f"--port must be 1-65535, got {port}")
    if max_upload_mb <= 0 or workers < 1:
        raise NeuralabError("--max-upload-mb must be > 0 and --workers >= 1")
    settings = Settings(data_dir=data_dir, db_url=db, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
                        workers=workers, processes=True)
    try:
        application = create_app(settings)
    except Exception as exc:  # a bad --db URL or an unwritable data dir: one clear line, not a traceback
        raise NeuralabError(f"cannot start the service: {exc}") from None
    typer.echo(f"neuralab service on http://{host}:{port}/ (data in {data_dir}; API docs at /docs)"
               + ("; token required" if settings.token else ""))
    uvicorn.run(application, host=host, port=port, log_level="warning")
