"""Pictures of sequence sets: k-mer spectra and per-position letter frequencies of samples against a reference."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from domains.sequences.alphabets import Alphabet  # noqa: E402
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


def position_frequencies(sequences: list[str], letters: str) -> np.ndarray:
    """[len(letters), L] frequency of each letter at each position (over the sequences that reach it)."""
    length = max((len(s) for s in sequences), default=0)
    counts = np.zeros((len(letters), length))
    index = {letter: i for i, letter in enumerate(letters)}
    for sequence in sequences:
        for position, letter in enumerate(sequence):
            if letter in index:
                counts[index[letter], position] += 1
    return counts / np.maximum(counts.sum(axis=0, keepdims=True), 1)


def plot_samples(samples: list[str], reference: list[str], alphabet: Alphabet, path: str | Path, k: int = 3) -> None:
    """Per-position letter frequencies of the reference and of the samples, and their k-mer spectra, as one PNG."""
    letters = alphabet.letters
    frequencies = [position_frequencies(reference, letters), position_frequencies(samples, letters)]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4), gridspec_kw={"width_ratios": [2, 2, 1]})
    for axis, table, title in zip(axes[:2], frequencies, (f"reference (n={len(reference)})",
                                                          f"samples (n={len(samples)})"), strict=True):
        image = axis.imshow(table, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        axis.set_yticks(range(len(letters)), list(letters))
        axis.set(xlabel="position", title=f"letter frequency per position, {title}")
    figure.colorbar(image, ax=axes[1])
    p, q = kmer_counts(samples, k, alphabet.residues), kmer_counts(reference, k, alphabet.residues)
    p, q = p / max(p.sum(), 1), q / max(q.sum(), 1)
    axes[2].scatter(q, p, s=6, alpha=0.6)
    top = max(p.max(), q.max()) * 1.05
    axes[2].plot([0, top], [0, top], color="grey", linewidth=0.8)
    axes[2].set(xlabel=f"reference {k}-mer frequency", ylabel=f"sample {k}-mer frequency",
                title=f"{k}-mers, Pearson r = {pearson(p, q):.3f}")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)
