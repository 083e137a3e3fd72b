"""The one exception type users see.

A `NeuralabError` is a mistake in what the user asked for (a missing file, a bad option, data of the wrong
shape). Its message says what was received and what was expected; the CLI prints it on one line and exits
non-zero, the web service turns it into a 4xx. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class NeuralabError(Exception):
    """A user-facing error: bad input, bad option, missing file."""


class DataError(NeuralabError, ValueError):
    """Input data that cannot be read or does not have the expected form."""


class ConfigError(NeuralabError, ValueError):
    """An option or configuration value outside what is accepted."""
