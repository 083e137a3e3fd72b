"""`neuralab vitals watch`: streaming anomaly alerts on vital signs arriving on stdin or in a growing file.

    register(app)   adds the `watch` command to a typer app (mounted as `neuralab vitals watch`)

Examples:
    neuralab vitals simulate --out rec.csv --hours 1 && cat rec.csv | neuralab vitals watch
    neuralab vitals watch wearable.csv --follow --model models/ar --format json | jq .

Alert lines go to stdout (text, or one JSON object per line with `--format json`); notes, malformed-line warnings
and the closing summary go to stderr. Same contract as the rest of the CLI: a user error prints one line
`error: ...` on stderr and exits 2; Ctrl-C prints the summary and exits 130.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neuralab.cli_errors import user_errors

_user_errors = user_errors


def register(app: typer.Typer) -> None:
    """Add the `watch` command to `app`."""

    @app.command()
    @_user_errors
    def watch(
        file: Annotated[str, typer.Argument(help="CSV file to read, or - for stdin.")] = "-",
        follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep reading the file as it grows, like "
                                                                    "tail -f (stop with Ctrl-C).")] = False,
        model: Annotated[Path | None, typer.Option(help="A detector directory written by `neuralab vitals train` "
                                                        "(default: train one on simulated normal data).")] = None,
        detector: Annotated[str, typer.Option(help="Detector to train on the fly when there is no --model: ar, "
                                                   "iforest, lstm-autoencoder, convlstm-detector.")] = "ar",
        rate: Annotated[float | None, typer.Option(help="Samples per second when the stream has no time column "
                                                        "(default 1).")] = None,
        format_: Annotated[str, typer.Option("--format", help="text, or json (one object per alert line).")]
        = "text",
        max_samples: Annotated[int | None, typer.Option(help="Stop after this many samples.")] = None,
        poll_interval: Annotated[float, typer.Option(help="Seconds between looks at a followed file past its "
                                                          "end.")] = 0.5,
    ) -> None:
        """Score vital signs as they arrive (CSV with a header) and print one line per alert."""
        from neuralab.anomaly.stream import watch as run_watch

        summary = run_watch(file, follow=follow, model=None if model is None else str(model),
                            detector_name=detector, rate_hz=rate, fmt=format_, max_samples=max_samples,
                            poll_interval=poll_interval)
        if summary.interrupted:
            raise typer.Exit(130)
