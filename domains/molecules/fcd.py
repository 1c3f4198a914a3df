"""Frechet ChemNet Distance (Preuer et al., 2018) with the ChemNet weights shipped in ``fcd_torch``.

FCD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), where mu and S are the mean and covariance of
ChemNet's penultimate-layer activations over the canonical SMILES of each set. The weights are loaded from
the installed package with ``torch.load(weights_only=True)``; nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch
from fcd_torch.utils import SmilesDataset, calculate_frechet_distance, load_imported_model
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


def frechet_chemnet_distance(smiles_a: list[str], smiles_b: list[str]) -> float | None:
    """FCD between two SMILES sets; ``None`` when either set has fewer than 2 molecules."""
    if len(smiles_a) < 2 or len(smiles_b) < 2:
        return None
    stats = []
    for smiles in (smiles_a, smiles_b):
        activations = chemnet_activations(smiles)
        stats += [activations.mean(axis=0), np.cov(activations, rowvar=False)]
    return float(calculate_frechet_distance(*stats))
