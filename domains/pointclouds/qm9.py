"""Molecules as point clouds: atom positions (A) of QM9 molecules from the CSV files shipped by ``qm9pack``.

Each CSV row holds ``Elements`` (a list of symbols) and ``XYZ_Ang`` (a list of [x, y, z] in Angstrom, from the
DFT-relaxed geometry). qm9pack is located on disk and never imported (it is installed without dependencies).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from domains.pointclouds.io import check_points
from sciddm.errors import ConfigError, DataError


def qm9_csv_files() -> list[Path]:
    """``qm9pack/data/qm9_part{1,2,3}.csv`` of the installed qm9pack; a ConfigError if it is missing."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("qm9pack is not installed (pip install 'sciddm[data]'); it ships the QM9 CSV files")
    return sorted((Path(spec.submodule_search_locations[0]) / "data").glob("qm9_part*.csv"))


def read_qm9_csv(path: str | Path, max_molecules: int | None = None) -> tuple[list[np.ndarray], list[list[str]]]:
    """Positions [n_atoms, 3] and element symbols of the first ``max_molecules`` molecules of one QM9 CSV."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        table = pd.read_csv(path, usecols=["Elements", "XYZ_Ang"], nrows=max_molecules)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(path, f"not a QM9 CSV with Elements and XYZ_Ang columns ({error})") from None
    positions, elements = [], []
    for row, (symbols, xyz) in enumerate(zip(table["Elements"], table["XYZ_Ang"], strict=True)):
        try:
            symbols = list(ast.literal_eval(symbols))
            points = np.array(ast.literal_eval(xyz), dtype=np.float64)
        except (TypeError, ValueError, SyntaxError):
            raise DataError(path, "unparsable Elements or XYZ_Ang", record=row) from None
        points = check_points(points, path, record=row)
        if len(symbols) != len(points):
            raise DataError(path, f"{len(symbols)} elements but {len(points)} positions", record=row)
        positions.append(points)
        elements.append(symbols)
    return positions, elements
