"""Metrics for sets of generated DNA or protein sequences, and the ``sciddm evaluate sequences`` entry point.

Definitions (``S`` is the sample set, ``R`` the reference set; letters are normalised as in
:meth:`Alphabet.normalise` first):

* **validity**: fraction of sequences of ``S`` that are non-empty and consist of residues only (gaps also
  allowed with ``allow_gaps``). All other metrics use the valid sequences only.
* **uniqueness**: number of distinct valid sequences / number of valid sequences (MOSES convention,
  Polykovskiy et al. 2020).
* **mean pairwise identity**: mean over unordered pairs ``i < j`` of ``id(a, b) = #{p : a_p = b_p} /
  max(|a|, |b|)``, positions compared without alignment (sequences left-aligned; a position past the end of
  the shorter sequence is a mismatch). With more than ``max_identity_sequences`` sequences a seeded random
  subset is used. **diversity** = 1 - mean pairwise identity.
* **k-mer spectrum**: counts of the ``K^k`` k-mers over all windows of length k that contain residues only
  (windows with gaps or unknown letters are skipped), normalised to frequencies ``p`` (samples) and ``q``
  (reference). **k-mer Pearson**: the Pearson correlation of ``p`` and ``q`` over all ``K^k`` k-mers (the
  "3-mer correlation" of DRAKES, Wang et al. 2024). **k-mer JS distance**: the Jensen-Shannon distance
  ``sqrt(JSD(p, q))`` with base-2 logarithms, so it lies in [0, 1] (Endres & Schindelin 2003).
* **GC content** (DNA): pooled fraction ``#(G, C) / #(A, C, G, T)`` over all valid sequences.
* **amino-acid composition distance** (proteins): total variation ``0.5 sum_a |p_a - q_a|`` between the
  pooled residue frequencies of ``S`` and ``R``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domains.sequences.alphabets import Alphabet, get_alphabet
from domains.sequences.fasta import read_fasta
from sciddm.errors import ConfigError

DNA_LETTERS = set("ACGTN-.")


def valid_sequences(sequences: list[str], alphabet: Alphabet, allow_gaps: bool = False) -> list[str]:
    """The non-empty normalised sequences made of residues (and gaps if ``allow_gaps``) only."""
    allowed = set(alphabet.residues + ("-" if allow_gaps else ""))
    normalised = (alphabet.normalise(s) for s in sequences)
    return [s for s in normalised if s and set(s) <= allowed]


def uniqueness(sequences: list[str]) -> float:
    return len(set(sequences)) / len(sequences) if sequences else 0.0


def mean_pairwise_identity(sequences: list[str], max_sequences: int = 1000, seed: int = 0) -> float:
    """Mean positional identity over all pairs (definition in the module docstring); nan for < 2 sequences."""
    if len(sequences) > max_sequences:
        keep = np.random.default_rng(seed).choice(len(sequences), size=max_sequences, replace=False)
        sequences = [sequences[i] for i in keep]
    if len(sequences) < 2:
        return float("nan")
    code_of = {letter: code for code, letter in enumerate(sorted(set("".join(sequences))), start=1)}
    length = max(len(s) for s in sequences)
    codes = np.zeros((len(sequences), length), dtype=np.int64)  # 0 = past the end, 1.. = letters
    for row, s in enumerate(sequences):
        codes[row, : len(s)] = [code_of[c] for c in s]
    one_hot = np.eye(len(code_of) + 1, dtype=np.float32)[codes][..., 1:]  # past-the-end rows are all zero
    flat = one_hot.reshape(len(sequences), -1)
    matches = flat @ flat.T
    lengths = np.array([len(s) for s in sequences])
    identity = matches / np.maximum(lengths[:, None], lengths[None, :])
    upper = np.triu_indices(len(sequences), k=1)
    return float(identity[upper].mean())


def kmer_counts(sequences: list[str], k: int, residues: str) -> np.ndarray:
    """Counts of all ``len(residues)**k`` k-mers, indexed lexicographically in the order of ``residues``."""
    size = len(residues)
    table = np.full(256, -1, dtype=np.int64)
    table[np.frombuffer(residues.encode("ascii"), dtype=np.uint8)] = np.arange(size)
    weights = size ** np.arange(k - 1, -1, -1)
    codes = table[np.frombuffer("\n".join(sequences).encode("ascii"), dtype=np.uint8)]  # "\n" ends a k-mer
    if len(codes) < k:
        return np.zeros(size**k, dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(codes, k)
    windows = windows[(windows >= 0).all(axis=1)]
    return np.bincount(windows @ weights, minlength=size**k)


def pearson(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.corrcoef(p, q)[0, 1])


def jensen_shannon_distance(p: np.ndarray, q: np.ndarray) -> float:
    """``sqrt(0.5 KL(p || m) + 0.5 KL(q || m))``, ``m = (p + q) / 2``, base-2 logs; inputs are normalised."""
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        support = a > 0
        return float(np.sum(a[support] * np.log2(a[support] / m[support])))

    return float(np.sqrt(max(0.5 * kl(p) + 0.5 * kl(q), 0.0)))


def gc_content(sequences: list[str]) -> float:
    """Pooled ``#(G, C) / #(A, C, G, T)``."""
    counts = kmer_counts(sequences, 1, "ACGT")
    return float(counts[1:3].sum() / counts.sum()) if counts.sum() else float("nan")


def composition_distance(sequences: list[str], reference: list[str], residues: str) -> float:
    """Total variation between pooled residue frequencies."""
    p, q = kmer_counts(sequences, 1, residues), kmer_counts(reference, 1, residues)
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())


def sequence_metrics(sequences: list[str], alphabet: Alphabet, allow_gaps: bool = False, **identity) -> dict:
    """The single-set metrics of the module docstring."""
    valid = valid_sequences(sequences, alphabet, allow_gaps)
    identity_value = mean_pairwise_identity(valid, **identity)
    metrics = {
        "num_sequences": len(sequences),
        "validity": len(valid) / len(sequences) if sequences else 0.0,
        "uniqueness": uniqueness(valid),
        "mean_length": float(np.mean([len(s) for s in valid])) if valid else float("nan"),
        "mean_pairwise_identity": identity_value,
        "diversity": 1.0 - identity_value,
    }
    if alphabet.name == "dna":
        metrics["gc_content"] = gc_content(valid)
    return metrics


def reference_metrics(
    sequences: list[str], reference: list[str], alphabet: Alphabet, allow_gaps: bool = False
):
    """The metrics of the module docstring that compare valid samples with a reference set."""
    valid = valid_sequences(sequences, alphabet, allow_gaps)
    metrics: dict[str, float | int] = {"reference_num_sequences": len(reference)}
    for k in (3, 4):
        p, q = kmer_counts(valid, k, alphabet.residues), kmer_counts(reference, k, alphabet.residues)
        if p.sum() == 0 or q.sum() == 0:
            continue  # no complete k-mer on one side: the spectrum comparison is undefined
        metrics[f"kmer{k}_pearson"] = pearson(p / p.sum(), q / q.sum())
        metrics[f"kmer{k}_js_distance"] = jensen_shannon_distance(p, q)
    if alphabet.name == "dna":
        metrics["reference_gc_content"] = gc_content(reference)
    else:
        metrics["aa_composition_tv"] = composition_distance(valid, reference, alphabet.residues)
    return metrics


def detect_kind(sequences: list[str]) -> str:
    """``"dna"`` when every letter is one of ``ACGTN-.`` (any case), else ``"protein"``."""
    return "dna" if all(set(s.upper()) <= DNA_LETTERS for s in sequences) else "protein"


def evaluate_file(path: Path, reference: Path | None = None, **options) -> dict:
    """Metrics of the FASTA file ``path`` (and against the FASTA file ``reference`` when given).

    Both files are read with the alphabet's residues plus its unknown letter and the gap: a letter outside these
    (e.g. a digit) is an error naming the file and record unless ``on_invalid`` is ``skip`` or ``replace`` (by
    the unknown letter), which is reported as a warning; unknown letters and gaps are readable but make a
    sequence invalid for the metrics. Options: ``alphabet`` (``auto``, ``dna`` or ``protein``), ``on_invalid``,
    ``allow_gaps`` (bool), ``max_identity_sequences`` (int, default 1000) and ``seed`` (int, default 0) for the
    identity subset, ``plot`` (a PNG path: the 3-mer spectra of valid samples against the reference, needs
    ``reference``), and ``checkpoint`` with ``config`` (a trained sequence diffusion model: adds the mean, standard
    deviation and count of the per-sequence NELBO in bits per token, see :mod:`domains.sequences.likelihood`,
    with ``nelbo_times`` Monte Carlo times, default 16). Unknown options raise.
    """
    known = {"alphabet", "on_invalid", "allow_gaps", "max_identity_sequences", "seed", "plot", "checkpoint", "config",
             "nelbo_times"}
    if set(options) - known:
        raise ConfigError(f"unknown option(s) {sorted(set(options) - known)}; known: {sorted(known)}")
    if ("checkpoint" in options) != ("config" in options):
        raise ConfigError("the NELBO needs both --checkpoint CKPT and --config CONFIG (the model's training config)")
    on_invalid = str(options.get("on_invalid", "error"))
    raw = [r.sequence for r in read_fasta(path)]
    raw_references = [] if reference is None else [r.sequence for r in read_fasta(reference)]
    kind = str(options.get("alphabet", "auto"))
    alphabet = get_alphabet(detect_kind(raw + raw_references) if kind == "auto" else kind)
    readable = get_alphabet(alphabet.name, unknown=True, gap=True)
    samples = [r.sequence for r in read_fasta(path, readable, on_invalid=on_invalid)]
    allow_gaps = str(options.get("allow_gaps", False)).lower() in ("1", "true", "yes")
    identity = {
        "max_sequences": int(options.get("max_identity_sequences", 1000)),
        "seed": int(options.get("seed", 0)),
    }
    metrics = {"alphabet": alphabet.name, **sequence_metrics(samples, alphabet, allow_gaps, **identity)}
    if reference is not None:
        references = [r.sequence for r in read_fasta(reference, readable, on_invalid=on_invalid)]
        metrics.update(reference_metrics(samples, references, alphabet, allow_gaps))
    if "plot" in options:
        if reference is None:
            raise ConfigError("the plot option compares with a reference: pass one")
        from domains.sequences.plots import plot_kmer_spectra  # matplotlib only when a picture is asked for

        plot_kmer_spectra(
            valid_sequences(samples, alphabet, allow_gaps), references, alphabet.residues, options["plot"]
        )
    if "checkpoint" in options:
        from domains.sequences.likelihood import nelbo_of_file

        scores = nelbo_of_file(path, options["config"], options["checkpoint"], int(options.get("nelbo_times", 16)),
                               int(options.get("seed", 0)), on_invalid)
        metrics.update(nelbo_bits_per_token=float(scores.mean()), nelbo_bits_per_token_std=float(scores.std()),
                       nelbo_num_sequences=len(scores))
    return metrics
