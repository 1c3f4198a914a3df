"""Protein backbones as point clouds: the C-alpha trace of one chain of a PDB file (Biopython's parser).

The trace lists, in chain order, the ``CA`` atom of every standard residue (hetero residues such as water or
ligands are skipped) of the first model. Consecutive C-alpha atoms of a real chain are 3.8 A apart (trans
peptide bonds). Fixed-size clouds come from contiguous windows of ``length`` residues every ``stride``.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import warnings
from pathlib import Path

import numpy as np
from Bio.PDB import PDBParser

from domains.pointclouds.io import check_points
from sciddm.errors import ConfigError, DataError

SHIPPED_PROTEINS = Path(__file__).resolve().parents[2] / "data" / "pointclouds" / "proteins"


def read_ca_trace(path: str | Path, chain: str | None = None) -> np.ndarray:
    """C-alpha coordinates [L, 3] (A) of ``chain`` (default: the first) in the first model of a PDB file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8", "replace")
    if not text.strip():
        raise DataError(path, "file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = PDBParser(QUIET=True).get_structure(path.stem, io.StringIO(text))
    except (ValueError, IndexError) as error:
        raise DataError(path, f"not a readable PDB file ({error})") from None
    models = list(structure)
    if not models:
        raise DataError(path, "no atoms (no model) in the PDB file")
    chains = {c.id: c for c in models[0]}
    if chain is not None and chain not in chains:
        raise DataError(path, f"no chain {chain!r}; chains present: {', '.join(chains) or 'none'}")
    selected = chains[chain] if chain is not None else next(iter(chains.values()), None)
    coords = [] if selected is None else [r["CA"].coord for r in selected if r.id[0] == " " and "CA" in r]
    if not coords:
        where = None if selected is None else f"chain {selected.id}"
        raise DataError(path, "no C-alpha atoms of standard residues", record=where)
    return check_points(np.array(coords, dtype=np.float64), path)


def ca_windows(trace: np.ndarray, length: int, stride: int) -> np.ndarray:
    """Contiguous windows [W, length, 3] of a trace, starting every ``stride`` residues (none if too short)."""
    if length < 1 or stride < 1:
        raise ConfigError(f"window length and stride must be positive, got {length} and {stride}")
    starts = range(0, len(trace) - length + 1, stride)
    return np.stack([trace[s : s + length] for s in starts]) if len(starts) else np.zeros((0, length, 3))


def shipped_pdb_files() -> list[Path]:
    """The PDB files shipped in data/pointclouds/proteins (see its README)."""
    return sorted(SHIPPED_PROTEINS.glob("*.pdb.gz"))


def installed_pdb_files() -> list[Path]:
    """The single-chain structures of mdanalysistests (``MDAnalysisTests/data/dssp``), if installed; else []."""
    spec = importlib.util.find_spec("MDAnalysisTests")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(spec.submodule_search_locations[0]) / "data" / "dssp"
    return sorted(p for p in folder.glob("*.pdb.gz") if "_" not in p.name.split(".")[0])
