"""Fixtures shared by the core tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sciddm.toy_run import train_toy


@pytest.fixture(scope="session")
def toy_checkpoint(tmp_path_factory) -> Path:
    """The toy config trained 4 steps through ``sciddm fit`` (read-only for the tests that use it)."""
    return train_toy(tmp_path_factory.mktemp("toy"))
