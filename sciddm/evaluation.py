"""Registry of per-domain evaluators behind ``sciddm evaluate DOMAIN FILE [--reference FILE]``.

A domain registers a function under the ``sciddm.evaluators`` entry-point group (see ``pyproject.toml``)::

    def evaluate_file(path: Path, reference: Path | None = None, **options) -> dict[str, float | int | str]

It reads the samples at ``path`` (raising :class:`sciddm.errors.DataError` naming the file and record on bad
input), computes its metrics and returns a flat JSON-serialisable dict. The core never imports a domain
directly; it only looks up the entry point by name, so domains depend on the core and never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from sciddm.errors import ConfigError

Evaluator = Callable[..., dict[str, Any]]
GROUP = "sciddm.evaluators"


def available_evaluators() -> list[str]:
    """Names of all registered domain evaluators."""
    return sorted(ep.name for ep in entry_points(group=GROUP))


def get_evaluator(domain: str) -> Evaluator:
    """Load the evaluator registered for ``domain``."""
    for ep in entry_points(group=GROUP):
        if ep.name == domain:
            return ep.load()
    raise ConfigError(f"no evaluator for domain {domain!r}; available: {', '.join(available_evaluators())}")


def evaluate(domain: str, path: str | Path, reference: str | Path | None = None, **options: Any) -> dict:
    """Run the ``domain`` evaluator on ``path`` (and optionally a ``reference`` file)."""
    return get_evaluator(domain)(Path(path), None if reference is None else Path(reference), **options)
