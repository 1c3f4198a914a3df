"""Fusing an ensemble of K segmentation samples, and the per-voxel uncertainty of the ensemble.

Samples are class probabilities ``[K, C, *spatial]`` (one-hot for hard samples; for a continuous binary mask
``x`` in [-1, 1] use ``p = (x + 1) / 2`` for class 1). Every fusion returns ``(labels [*spatial],
probabilities [C, *spatial])``:

* ``mean``: average the K probability maps, label = argmax (for two classes: ``p_1 >= 1/2``, the fusion of
  MedSegDiff, Wu et al. 2023, which averages its 5 samples).
* ``majority``: each sample votes its argmax class; probabilities are the vote fractions; label = the most
  voted class, ties going to the lowest class index.
* ``staple``: Simultaneous Truth And Performance Level Estimation (Warfield, Zou and Wells, IEEE TMI 2004), the
  multi-class EM form: each sample ``j`` has a confusion matrix ``theta_j[s', s] = P(sample says s' | truth s)``;
  E-step ``W[i, s] ∝ f(s) prod_j theta_j[D_ij, s]`` with the fixed prior ``f`` = overall label frequencies of
  all samples; M-step ``theta_j[s', s] = sum_{i: D_ij = s'} W[i, s] / sum_i W[i, s]``; start
  ``theta_j = 0.99`` on the diagonal; stop when no entry of theta moves by more than ``tol``. All voxels are used.
  Probabilities are the posterior ``W``.

Uncertainty: the normalised predictive entropy ``H(p) = -sum_c p_c log p_c / log C`` of the fused probabilities,
in [0, 1] (0: all samples agree with certainty; 1: uniform).
"""

from __future__ import annotations

import numpy as np

from sciddm.errors import ConfigError

FUSIONS = ("mean", "majority", "staple")


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``[*shape]`` integer labels to ``[C, *shape]`` float one-hot."""
    return (np.arange(num_classes).reshape((-1,) + (1,) * labels.ndim) == labels[None]).astype(np.float64)


def vote_fractions(probabilities: np.ndarray) -> np.ndarray:
    """Fraction of samples whose argmax is each class: [C, *spatial]."""
    hard = probabilities.argmax(axis=1)
    return one_hot(hard, probabilities.shape[1]).mean(axis=1)


def staple(labels: np.ndarray, num_classes: int, tol: float = 1e-6, max_iter: int = 200):
    """Multi-class STAPLE of hard samples ``labels`` [K, *spatial].

    Returns the posterior ``W`` [C, *spatial] and the confusion matrices ``theta`` [K, C, C]
    (``theta[j, s', s]``, see the module docstring).
    """
    raters = labels.reshape(labels.shape[0], -1)
    prior = np.bincount(raters.ravel(), minlength=num_classes) / raters.size
    theta = np.full((len(raters), num_classes, num_classes), 0.01 / max(num_classes - 1, 1))
    theta[:, np.arange(num_classes), np.arange(num_classes)] = 0.99
    for _ in range(max_iter):
        log_w = np.log(np.maximum(prior, 1e-300))[None] + sum(
            np.log(np.maximum(theta[j][raters[j]], 1e-300)) for j in range(len(raters)))
        w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        new = np.stack([np.stack([np.bincount(raters[j], weights=w[:, s], minlength=num_classes)
                                  for s in range(num_classes)], axis=1) for j in range(len(raters))])
        new /= np.maximum(w.sum(axis=0), 1e-300)[None, None, :]
        converged = np.abs(new - theta).max() < tol
        theta = new
        if converged:
            break
    return w.T.reshape((num_classes,) + labels.shape[1:]), theta


def fuse(probabilities: np.ndarray, method: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Fuse ``[K, C, *spatial]`` sample probabilities; see the module docstring for each ``method``."""
    if method == "mean":
        fused = probabilities.mean(axis=0)
    elif method == "majority":
        fused = vote_fractions(probabilities)
    elif method == "staple":
        fused = staple(probabilities.argmax(axis=1), probabilities.shape[1])[0]
    else:
        raise ConfigError(f"unknown fusion {method!r}; choose one of: {', '.join(FUSIONS)}")
    return fused.argmax(axis=0), fused


def predictive_entropy(probabilities: np.ndarray) -> np.ndarray:
    """Normalised entropy in [0, 1] of ``[C, *spatial]`` class probabilities (0 log 0 = 0)."""
    p = np.clip(probabilities, 0.0, 1.0)
    terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=0) / np.log(probabilities.shape[0])
