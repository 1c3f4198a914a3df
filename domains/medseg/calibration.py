"""Does the uncertainty rank the errors? AUROC of uncertainty vs error and error rate per uncertainty bin.

* ``auroc(scores, positives)``: the probability that a random positive (an erroneous voxel) has a higher score
  (uncertainty) than a random negative, ties counting 1/2; computed with the Mann-Whitney U statistic on
  mid-ranks: ``(R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)`` (Hanley and McNeil, Radiology 1982).
  Undefined (``nan``) when there are no positives or no negatives.
* ``error_rate_by_bin``: voxels grouped into ``n_bins`` equal-width uncertainty bins over [0, 1] (the last bin
  closed); per bin the voxel count and the fraction of errors (``nan`` for an empty bin). A calibrated
  uncertainty has an error rate that rises with the bin.
"""

from __future__ import annotations

import numpy as np


def midranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values``, tied values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)
    return ((last - counts + 1 + last) / 2.0)[inverse]


def auroc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for detecting boolean ``positives`` (see the module docstring)."""
    scores, positives = np.ravel(scores), np.ravel(positives).astype(bool)
    n_pos = int(positives.sum())
    n_neg = positives.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = midranks(scores)[positives].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def error_rate_by_bin(uncertainty: np.ndarray, errors: np.ndarray, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Bin edges, voxel counts and error rates per equal-width uncertainty bin (see the module docstring)."""
    u, e = np.ravel(uncertainty), np.ravel(errors).astype(bool)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    wrong = np.bincount(which, weights=e.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(counts > 0, wrong / np.maximum(counts, 1), np.nan)
    return {"edges": edges, "counts": counts, "error_rate": rate}


def uncertainty_calibration(uncertainty: np.ndarray, prediction: np.ndarray, reference: np.ndarray,
                            n_bins: int = 10) -> dict:
    """AUROC of ``uncertainty`` for the errors ``prediction != reference``, the overall error rate and the bins
    (keys ``bin_edges``, ``bin_counts``, ``bin_error_rate``)."""
    errors = np.asarray(prediction) != np.asarray(reference)
    bins = error_rate_by_bin(uncertainty, errors, n_bins)
    return {"auroc": auroc(uncertainty, errors), "error_rate": float(errors.mean()),
            **{f"bin_{name}": value for name, value in bins.items()}}
