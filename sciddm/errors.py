"""User-facing errors.

Everything a user can get wrong (a bad file, an unknown name, an invalid option) raises a subclass of
:class:`SciDDMError`. The CLI prints ``error: <message>`` on one line and exits with status 2; library users
catch the exception. Programming errors keep raising the ordinary Python exceptions.
"""

from __future__ import annotations

from pathlib import Path


class SciDDMError(Exception):
    """A mistake in user input: the message alone must tell the user what to fix."""


class ConfigError(SciDDMError):
    """An unknown name, an out-of-range option or a value of the wrong type."""


class DataError(SciDDMError):
    """A file or record that cannot be read. The message names the file and, when known, the record."""

    def __init__(self, path: str | Path, problem: str, record: str | int | None = None):
        self.path = str(path)
        self.record = record
        self.problem = problem
        where = f"{self.path}" if record is None else f"{self.path}, record {record}"
        super().__init__(f"{where}: {problem}")


class TrainingError(SciDDMError):
    """Training cannot continue (e.g. the loss became NaN)."""


def choose(name: str, options: dict, what: str):
    """Look ``name`` up in ``options`` or raise a :class:`ConfigError` listing the valid names."""
    try:
        return options[name]
    except KeyError:
        valid = ", ".join(str(option) for option in sorted(options))
        raise ConfigError(f"unknown {what} {name!r}; choose one of: {valid}") from None
