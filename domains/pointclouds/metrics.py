"""Set-level generation metrics for point clouds, following PointFlow (Yang et al. 2019, Sec. 5.2), the protocol
PVD and LION report: given a distance ``D`` between clouds (Chamfer or EMD), a generated set ``S`` and a
reference set ``R``:

* MMD (minimum matching distance): ``1/|R| sum_{r in R} min_{s in S} D(s, r)``; lower is better.
* COV (coverage): the fraction of references that are the nearest reference of at least one sample,
  ``|{argmin_r D(s, r) : s in S}| / |R|``; higher is better (1 = every reference is matched).
* 1-NNA: accuracy of the leave-one-out 1-nearest-neighbour classifier on ``S u R`` labelled by origin,
  ``(sum_{s} [NN(s) in S] + sum_{r} [NN(r) in R]) / (|S| + |R|)`` where ``NN`` excludes the cloud itself; 0.5
  is ideal (the sets are indistinguishable), 1.0 means every cloud's neighbour comes from its own set. A tie
  goes to the cloud listed first (samples before references).

Fractions are reported in [0, 1] (papers print 100x). ``evaluate_file`` is the ``sciddm evaluate pointclouds``
entry point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domains.pointclouds.chamfer import pairwise_chamfer
from domains.pointclouds.emd import pairwise_emd
from domains.pointclouds.io import read_point_set
from domains.pointclouds.normalize import normalize
from sciddm.errors import ConfigError, choose


def minimum_matching_distance(sample_to_reference: np.ndarray) -> float:
    """MMD from the [S, R] distance matrix: mean over references of the distance to the closest sample."""
    return float(sample_to_reference.min(axis=0).mean())


def coverage(sample_to_reference: np.ndarray) -> float:
    """COV from the [S, R] distance matrix: fraction of references that are some sample's nearest reference."""
    return len(np.unique(sample_to_reference.argmin(axis=1))) / sample_to_reference.shape[1]


def one_nn_accuracy(sample_sample: np.ndarray, sample_reference: np.ndarray, reference_reference: np.ndarray) -> float:
    """Leave-one-out 1-NN accuracy on samples u references, from the three blocks of the distance matrix."""
    full = np.block([[sample_sample, sample_reference], [sample_reference.T, reference_reference]])
    np.fill_diagonal(full, np.inf)
    is_sample = np.arange(len(full)) < len(sample_sample)
    return float((is_sample[full.argmin(axis=1)] == is_sample).mean())


def set_metrics(samples: np.ndarray, references: np.ndarray, distance: str = "cd", **options) -> dict[str, float]:
    """MMD, COV and 1-NNA of ``samples`` [S, N, 3] against ``references`` [R, N, 3] under ``distance``.

    ``distance``: ``cd`` (Chamfer, :mod:`domains.pointclouds.chamfer`) or ``emd`` (``options`` such as
    ``method="sinkhorn"`` go to :func:`domains.pointclouds.emd.pairwise_emd`).
    """
    pairwise = choose(distance, {"cd": pairwise_chamfer, "emd": pairwise_emd}, "distance")
    sr = pairwise(samples, references, **options)
    ss = pairwise(samples, samples, **options)
    rr = pairwise(references, references, **options)
    return {
        f"mmd_{distance}": minimum_matching_distance(sr),
        f"cov_{distance}": coverage(sr),
        f"one_nna_{distance}": one_nn_accuracy(ss, sr, rr),
    }


def describe(clouds: np.ndarray) -> dict[str, float | int]:
    """Size and scale of a set: clouds, points per cloud, mean centroid norm, mean largest radius."""
    centroids = clouds.mean(axis=1)
    radii = np.linalg.norm(clouds - centroids[:, None], axis=2).max(axis=1)
    return {"n_clouds": len(clouds), "n_points": clouds.shape[1],
            "mean_centroid_norm": float(np.linalg.norm(centroids, axis=1).mean()),
            "mean_radius": float(radii.mean())}  # fmt: skip


SINKHORN_OPTIONS = ("epsilon", "decay", "final_iterations", "batch_size")


def evaluate_file(
    path: Path, reference: Path | None = None, normalization: str = "none", emd: str = "none", **options
) -> dict:
    """Evaluate the cloud set in ``path`` (see :func:`domains.pointclouds.io.read_point_set`).

    Without ``reference``: :func:`describe`. With it: also the Chamfer metrics and, when ``emd`` is ``exact``
    or ``sinkhorn``, the EMD metrics; both sets are first normalised with the per-shape ``normalization``
    (``none``, ``unit_sphere``, ``unit_box``). ``options`` (:data:`SINKHORN_OPTIONS`) go to the Sinkhorn solver.
    """
    unknown = sorted(set(options) - set(SINKHORN_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown pointclouds evaluation option(s) {', '.join(unknown)}; known: normalization, "
                          f"emd, {', '.join(SINKHORN_OPTIONS)}")  # fmt: skip
    samples = normalize(read_point_set(path), normalization)
    result: dict = {**describe(samples), "normalization": normalization}
    if reference is None:
        return result
    references = normalize(read_point_set(reference), normalization)
    result.update({f"reference_{key}": value for key, value in describe(references).items()})
    result.update(set_metrics(samples, references, "cd"))
    if emd != "none":
        if samples.shape[1] != references.shape[1]:
            raise ConfigError(f"EMD needs equal cloud sizes: {path} has {samples.shape[1]} points per cloud, "
                              f"{reference} has {references.shape[1]}")  # fmt: skip
        result.update(set_metrics(samples, references, "emd", method=emd, **options))
        result["emd_method"] = emd
    return result
