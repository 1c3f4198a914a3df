"""A JASPAR position-weight-matrix motif reward for DNA.

Matrices are read directly from the SQLite files that ``pyjaspar`` ships (``pyjaspar/data/JASPAR<year>.sqlite``,
opened read-only with :mod:`sqlite3`; the package itself is not imported). A matrix is found by its JASPAR id
(``MA0035`` = latest version, or ``MA0035.4``) or by TF name (case-insensitive): among the CORE matrices with
that name, the smallest base id (the TF's first profile) at its latest version.

Log-odds scores (position frequency matrix ``n[a, w]`` with ``N_w = sum_a n[a, w]`` sites, background ``b``,
pseudocount ``psi`` distributed by the background; ``psi = 0.8`` following Nishida, Frith & Nakai 2009)::

    S[a, w] = log2( (n[a, w] + psi b_a) / (N_w + psi) / b_a )

The motif score of a sequence is the best window on either strand::

    score(x) = max_i max( sum_w S[x_{i+w}, w],  sum_w S[comp(x_{i+w}), W-1-w] )

For probability inputs [B, L, 4] the window sum is the expected log-odds ``sum_w sum_a x[i+w, a] S[a, w]``
(equal to the above on one-hot inputs), which is differentiable for guidance.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from domains.sequences.data import package_file
from sciddm.errors import ConfigError, DataError

DNA_ORDER = "ACGT"  # the row order of the matrices and of the DNA alphabet; complement(i) = 3 - i


@dataclass(frozen=True)
class MotifMatrix:
    """A JASPAR position frequency matrix ``counts`` [4, W] (rows A, C, G, T)."""

    matrix_id: str
    name: str
    counts: np.ndarray


def jaspar_file(release: int | str = 2024) -> Path:
    path = package_file("pyjaspar", f"data/JASPAR{release}.sqlite")
    if not path.exists():
        raise ConfigError(f"no JASPAR release {release} in pyjaspar (looked for {path})")
    return path


def load_jaspar_matrix(query: str, release: int | str = 2024, path: str | Path | None = None) -> MotifMatrix:
    """The matrix with JASPAR id ``query`` (``MA0035`` or ``MA0035.4``) or TF name ``query``."""
    path = Path(path) if path else jaspar_file(release)
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = _find_matrix(db, query)
            if row is None:
                raise ConfigError(f"no JASPAR matrix with id or name {query!r} in {path}")
            internal_id, base_id, version, name = row
            cells = db.execute(
                "SELECT row, col, val FROM MATRIX_DATA WHERE ID = ?", (internal_id,)
            ).fetchall()
    except sqlite3.DatabaseError as error:
        raise DataError(path, f"not a readable JASPAR SQLite database ({error})") from None
    width = max(col for _, col, _ in cells)
    counts = np.zeros((4, width))
    for letter, col, value in cells:
        counts[DNA_ORDER.index(letter.upper()), col - 1] = value
    return MotifMatrix(f"{base_id}.{version}", name, counts)


def _find_matrix(db: sqlite3.Connection, query: str) -> tuple | None:
    match = re.fullmatch(r"(M[A-Z]\d+)(?:\.(\d+))?", query.upper())
    if match:
        base, version = match.groups()
        where, args = (
            ("BASE_ID = ?", [base]) if version is None else ("BASE_ID = ? AND VERSION = ?", [base, version])
        )
    else:
        where, args = "NAME = ? AND COLLECTION = 'CORE'", [query]
    sql = f"SELECT ID, BASE_ID, VERSION, NAME FROM MATRIX WHERE {where} ORDER BY BASE_ID ASC, VERSION DESC LIMIT 1"
    return db.execute(sql, args).fetchone()


def log_odds(
    counts: np.ndarray, background: tuple[float, ...] = (0.25,) * 4, pseudocount: float = 0.8
) -> np.ndarray:
    """The log2-odds matrix ``S`` [4, W] of the module docstring."""
    b = np.asarray(background, dtype=float)[:, None]
    probabilities = (counts + pseudocount * b) / (counts.sum(axis=0, keepdims=True) + pseudocount)
    return np.log2(probabilities / b)


class MotifReward(nn.Module):
    """Best both-strand log-odds window score of DNA inputs: [B, L, >=4] probabilities or [B, L] tokens -> [B]."""

    def __init__(self, scores: np.ndarray | Tensor):
        super().__init__()
        forward_strand = torch.as_tensor(np.asarray(scores), dtype=torch.float32)
        reverse_strand = forward_strand.flip(0).flip(1)  # complement rows (ACGT -> TGCA), reverse columns
        self.register_buffer("kernels", torch.stack([forward_strand, reverse_strand]))  # [2, 4, W]

    @classmethod
    def from_jaspar(cls, query: str, release: int | str = 2024, pseudocount: float = 0.8) -> MotifReward:
        return cls(log_odds(load_jaspar_matrix(query, release).counts, pseudocount=pseudocount))

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.long:
            x = F.one_hot(x, 4).float()
        if x.shape[1] < self.kernels.shape[-1]:
            raise ConfigError(
                f"sequences of length {x.shape[1]} are shorter than the motif ({self.kernels.shape[-1]})"
            )
        windows = F.conv1d(x[..., :4].transpose(1, 2), self.kernels)  # [B, 2, L - W + 1]
        return windows.flatten(1).amax(dim=1)
