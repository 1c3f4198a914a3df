"""Segmentation metrics at a stated threshold, volume-level and slice-level, and ``evaluate_file``.

Definitions (per foreground class ``c``; ``P``, ``R`` the predicted and reference voxel sets of class ``c``):

* ``dice = 2|P & R| / (|P| + |R|)`` and ``iou = |P & R| / |P | R|`` (Jaccard). A probability map is first
  binarised as ``p >= threshold`` (default 0.5; a single stated threshold, never averaged over thresholds).
* ``hd95_mm`` and ``asd_mm``: percentile Hausdorff and average symmetric surface distance in millimetres using
  the voxel spacing (see :mod:`domains.medseg.surface`).
* **Volume-level** (``volume_*``): the metric of the whole 3D volume (all voxels pooled).
* **Slice-level** (``slice_*``): the metric of each 2D slice along ``axis`` (in-plane spacing), averaged over
  slices. Slices empty in both prediction and reference are *excluded* from the averages and counted in
  ``slice_n_both_empty``; slices where exactly one is empty count with Dice = IoU = 0 in the overlap averages,
  are excluded from the distance averages (distance undefined) and are counted in ``slice_n_missed`` (reference
  only) and ``slice_n_spurious`` (prediction only). This is why slice-level and volume-level Dice differ and
  must never be compared with each other.

Empty-mask conventions for one pair of masks: both empty gives Dice = IoU = 1 and distances 0 mm (perfect
agreement, as MONAI's ``DiceMetric(ignore_empty=False)``); exactly one empty gives Dice = IoU = 0 and
distances ``inf``, reported as ``None`` in ``evaluate_file`` output (JSON has no infinity).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domains.medseg.io import Volume, check_same_grid, is_nifti, read_nifti
from domains.medseg.surface import average_surface_distance, hausdorff_distance
from sciddm.errors import ConfigError, DataError


def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (1.0 when both are empty)."""
    intersection, total = np.logical_and(pred, ref).sum(), np.count_nonzero(pred) + np.count_nonzero(ref)
    return 1.0 if total == 0 else float(2.0 * intersection / total)


def iou(pred: np.ndarray, ref: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(pred, ref).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, ref).sum() / union)


def pair_metrics(pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...]) -> dict[str, float]:
    """Dice, IoU, HD95 (mm) and ASD (mm) of two boolean masks."""
    return {"dice": dice(pred, ref), "iou": iou(pred, ref), "hd95_mm": hausdorff_distance(pred, ref, spacing),
            "asd_mm": average_surface_distance(pred, ref, spacing)}


def slice_level(pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...], axis: int) -> dict[str, float]:
    """Slice-level averages and counts of two boolean 3D masks (see the module docstring)."""
    in_plane = tuple(s for a, s in enumerate(spacing) if a != axis)
    overlap, distance = [], []
    counts = {"n_both_empty": 0, "n_missed": 0, "n_spurious": 0}
    for k in range(pred.shape[axis]):
        p, r = np.take(pred, k, axis=axis), np.take(ref, k, axis=axis)
        has_p, has_r = bool(p.any()), bool(r.any())
        if not has_p and not has_r:
            counts["n_both_empty"] += 1
            continue
        if has_p and has_r:
            distance.append((hausdorff_distance(p, r, in_plane), average_surface_distance(p, r, in_plane)))
        else:
            counts["n_missed" if has_r else "n_spurious"] += 1
        overlap.append((dice(p, r), iou(p, r)))
    result: dict[str, float] = {name: float(value) for name, value in counts.items()}
    result["dice"], result["iou"] = np.mean(overlap, axis=0) if overlap else (float("nan"), float("nan"))
    result["hd95_mm"], result["asd_mm"] = np.mean(distance, axis=0) if distance else (float("nan"),) * 2
    result["n_scored"] = float(len(overlap))
    return {name: float(value) for name, value in result.items()}


def segmentation_metrics(pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...],
                         classes: list[int] | None = None, axis: int = 2) -> dict[str, float]:
    """Volume-level and (for 3D label maps) slice-level metrics per class, keys ``{level}_{metric}_c{class}``.

    ``classes`` defaults to the non-zero labels present in either map (``[1]`` when both are all zero).
    Also ``volume_dice_mean``: the mean of the per-class volume-level Dice.
    """
    if classes is None:
        classes = sorted((set(np.unique(pred).tolist()) | set(np.unique(ref).tolist())) - {0}) or [1]
    out: dict[str, float] = {}
    for c in classes:
        p, r = pred == c, ref == c
        out.update({f"volume_{name}_c{c}": value for name, value in pair_metrics(p, r, spacing).items()})
        if pred.ndim == 3:
            out.update({f"slice_{name}_c{c}": value for name, value in slice_level(p, r, spacing, axis).items()})
    out["volume_dice_mean"] = float(np.mean([out[f"volume_dice_c{c}"] for c in classes]))
    return out


def to_labels(volume: Volume, path: Path, threshold: float) -> np.ndarray:
    """Integer labels of a label map, or ``p >= threshold`` of a probability map with values in [0, 1]."""
    data = np.asarray(volume.data, dtype=np.float64)
    if not np.all(np.isfinite(data)):
        raise DataError(path, "contains NaN or infinite values")
    if np.all(data == np.rint(data)):
        if data.min() < 0:
            raise DataError(path, f"negative label {int(data.min())}")
        return data.astype(np.int64)
    if data.min() < 0 or data.max() > 1:
        raise DataError(path, "non-integer values outside [0, 1]: neither a label map nor a probability map")
    return (data >= threshold).astype(np.int64)


def volume_statistics(labels: np.ndarray, spacing: tuple[float, ...]) -> dict[str, float]:
    """Voxel counts and volumes (mL, i.e. 1000 mm^3) per non-zero class, for a prediction without reference."""
    voxel_ml = float(np.prod(spacing[: labels.ndim])) / 1000.0
    out: dict[str, float] = {}
    for c in sorted(set(np.unique(labels).tolist()) - {0}):
        count = int(np.count_nonzero(labels == c))
        out[f"n_voxels_c{c}"], out[f"volume_ml_c{c}"] = float(count), count * voxel_ml
    return out


def evaluate_pair(path: Path, reference: Path | None, threshold: float, axis: int) -> dict[str, float]:
    """Metrics of one prediction file against one reference file (or volume statistics without reference)."""
    pred = read_nifti(path, ndim=(2, 3))
    pred_labels = to_labels(pred, path, threshold)
    if reference is None:
        return volume_statistics(pred_labels, pred.spacing)
    ref = read_nifti(reference, ndim=(2, 3))
    check_same_grid(ref, pred, reference, path)
    return segmentation_metrics(pred_labels, to_labels(ref, reference, threshold), ref.spacing, axis=axis)


def json_ready(metrics: dict[str, float]) -> dict[str, float | None]:
    """Replace ``inf`` and ``nan`` (undefined values, see the module docstring) by ``None``."""
    return {k: (float(v) if np.isfinite(v) else None) for k, v in metrics.items()}


def evaluate_file(path: Path, reference: Path | None = None, threshold: float = 0.5, axis: int = 2,
                  **options) -> dict:
    """``sciddm evaluate medseg PRED [--reference GT]`` for a NIfTI file or a folder of NIfTI files.

    For folders, predictions are paired with reference files of the same name; each metric is averaged over the
    cases where it is defined (``n_cases`` counts the cases, ``n_undefined_{metric}`` the cases left out).
    """
    path = Path(path)
    if options:
        raise ConfigError(f"unknown medseg evaluation options: {', '.join(sorted(options))}; "
                          "known: threshold, axis")
    if not path.is_dir():
        result = json_ready(evaluate_pair(path, reference, threshold, axis))
        return {**result, "n_cases": 1, "threshold": threshold}
    preds = sorted(p for p in path.iterdir() if is_nifti(p))
    if not preds:
        raise DataError(path, "folder contains no .nii or .nii.gz files")
    if reference is not None and not Path(reference).is_dir():
        raise DataError(reference, "a prediction folder needs a reference folder")
    per_case = [evaluate_pair(p, None if reference is None else Path(reference) / p.name, threshold, axis)
                for p in preds]
    result: dict = {"n_cases": len(per_case), "threshold": threshold}
    for key in sorted(set().union(*per_case)):
        absent = 0.0 if reference is None else np.nan  # a class missing from a case has volume 0
        values = np.array([case.get(key, absent) for case in per_case], dtype=np.float64)
        finite = values[np.isfinite(values)]
        result[key] = float(finite.mean()) if len(finite) else None
        if len(finite) < len(values):
            result[f"n_undefined_{key}"] = int(len(values) - len(finite))
    return result
