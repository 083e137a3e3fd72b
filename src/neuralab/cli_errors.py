"""The CLI's error contract, shared by every command group: a user error prints one line `error: ...` on stderr
and exits 2 (no traceback); Ctrl-C prints `interrupted` and exits 130."""

from __future__ import annotations

import functools
from typing import Any

import typer

from neuralab.errors import NeuralabError


def user_errors(fn):
    """Decorate a typer command with the contract above."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NeuralabError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except ModuleNotFoundError as exc:  # an optional dependency that is not installed
            typer.echo(f"error: {exc.name or exc} is not installed ({exc}); reinstall neuralab with its extras, "
                       "e.g. pip install 'neuralab[web]'", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper
