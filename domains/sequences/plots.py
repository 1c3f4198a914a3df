"""Pictures of sequence sets: the k-mer spectrum of samples against a reference."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from domains.sequences.metrics import kmer_counts, pearson  # noqa: E402
from sciddm.io import atomic_path  # noqa: E402


def plot_kmer_spectra(
    samples: list[str], reference: list[str], residues: str, path: str | Path, k: int = 3
) -> None:
    """Scatter of each k-mer's frequency in ``samples`` (y) against ``reference`` (x), written atomically as PNG."""
    p, q = kmer_counts(samples, k, residues), kmer_counts(reference, k, residues)
    p, q = p / max(p.sum(), 1), q / max(q.sum(), 1)
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.scatter(q, p, s=8, alpha=0.6)
    top = max(p.max(), q.max()) * 1.05
    axis.plot([0, top], [0, top], color="grey", linewidth=0.8)
    axis.set(xlabel=f"reference {k}-mer frequency", ylabel=f"sample {k}-mer frequency")
    axis.set_title(f"{k}-mer spectra, Pearson r = {pearson(p, q):.3f}")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120)
    plt.close(figure)
