"""Frechet ChemNet Distance (Preuer et al., 2018) with the ChemNet weights shipped in ``fcd_torch``.

FCD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), where mu and S are the mean and covariance of
ChemNet's penultimate-layer activations over the canonical SMILES of each set. The weights are loaded from
the installed package with ``torch.load(weights_only=True)``; nothing is downloaded.

Tr (S_a S_b)^(1/2) is computed as the sum of square roots of the eigenvalues of the symmetric PSD matrix
S_a^(1/2) S_b S_a^(1/2), which has the same spectrum as S_a S_b. Two symmetric eigendecompositions are exact,
fast and never complex, unlike ``scipy.linalg.sqrtm`` on the rank-deficient covariances of small sets.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch
from fcd_torch.utils import SmilesDataset, load_imported_model
from torch.utils.data import DataLoader

WEIGHTS_FILE = "ChemNet_v0.13_pretrained.pt"


@functools.cache
def chemnet() -> torch.nn.Module:
    """ChemNet in eval mode, loaded once from fcd_torch's package directory."""
    package = Path(importlib.util.find_spec("fcd_torch").submodule_search_locations[0])
    model = load_imported_model(torch.load(package / WEIGHTS_FILE, weights_only=True))
    return model.eval()


def chemnet_activations(smiles: list[str], batch_size: int = 256) -> np.ndarray:
    """[len(smiles), 512] activations; SMILES must be valid (they are canonicalised by RDKit first)."""
    loader = DataLoader(SmilesDataset(smiles, canonize=True), batch_size=batch_size)
    with torch.no_grad():
        return torch.cat([chemnet()(batch.transpose(1, 2).float()) for batch in loader]).numpy()


def frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """Frechet distance between N(mean_a, cov_a) and N(mean_b, cov_b) (see the module docstring).

    Computed in float64 with torch (whose thread pool callers control with ``torch.set_num_threads``)."""
    mean_a, cov_a, mean_b, cov_b = (torch.as_tensor(x, dtype=torch.float64) for x in (mean_a, cov_a, mean_b, cov_b))
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = (vectors * values.clamp_min(0.0).sqrt()) @ vectors.T
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0.0).sqrt().sum()
    return float(((mean_a - mean_b) ** 2).sum() + cov_a.trace() + cov_b.trace() - 2.0 * cross)


def frechet_chemnet_distance(smiles_a: list[str], smiles_b: list[str]) -> float | None:
    """FCD between two SMILES sets; ``None`` when either set has fewer than 2 molecules."""
    if len(smiles_a) < 2 or len(smiles_b) < 2:
        return None
    stats = []
    for smiles in (smiles_a, smiles_b):
        activations = chemnet_activations(smiles).astype(np.float64)
        stats += [activations.mean(axis=0), np.cov(activations, rowvar=False)]
    return frechet_distance(*stats)
