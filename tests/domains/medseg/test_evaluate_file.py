"""``evaluate_file`` on NIfTI files and folders, and its error messages."""

import json

import numpy as np
import pytest

from domains.medseg.io import write_nifti
from domains.medseg.metrics import evaluate_file
from sciddm.errors import ConfigError, DataError

from .helpers import box

SHAPE = (8, 8, 6)
SPACING_AFFINE = np.diag([1.0, 1.0, 2.0, 1.0])


def write(path, data, affine=SPACING_AFFINE):
    write_nifti(path, data, affine)
    return path


def test_probability_map_is_thresholded_at_the_stated_threshold(tmp_path):
    ref = box(SHAPE, (2, 2, 1), (6, 6, 5)).astype(np.uint8)
    prob = np.where(ref, 0.7, 0.0).astype(np.float32)
    prob[0, 0, 0] = 0.4  # a faint false positive: counted at threshold 0.3, not at 0.5
    gt, pred = write(tmp_path / "gt.nii.gz", ref), write(tmp_path / "p.nii.gz", prob)
    at_half = evaluate_file(pred, gt)
    assert at_half["volume_dice_c1"] == 1.0 and at_half["volume_hd95_mm_c1"] == 0.0
    assert at_half["threshold"] == 0.5 and at_half["n_cases"] == 1
    at_low = evaluate_file(pred, gt, threshold=0.3)
    assert at_low["volume_dice_c1"] == pytest.approx(2 * 64 / (65 + 64))
    json.dumps(at_low, allow_nan=False)  # strict JSON: undefined values are None


def test_distances_use_the_header_spacing(tmp_path):
    ref = np.zeros(SHAPE, np.uint8)
    ref[:, :, 1] = 1
    pred = np.roll(ref, 2, axis=2)  # two slices of 2 mm apart
    result = evaluate_file(write(tmp_path / "p.nii.gz", pred), write(tmp_path / "g.nii.gz", ref))
    assert result["volume_hd95_mm_c1"] == pytest.approx(4.0)
    assert result["slice_n_missed_c1"] == 1 and result["slice_n_spurious_c1"] == 1
    assert result["slice_hd95_mm_c1"] is None  # no slice holds both masks


def test_folder_averages_cases_and_counts_undefined_ones(tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    cube = box(SHAPE, (2, 2, 1), (6, 6, 5)).astype(np.uint8)
    write(tmp_path / "gt" / "a.nii.gz", cube)
    write(tmp_path / "pred" / "a.nii.gz", cube)
    write(tmp_path / "gt" / "b.nii.gz", cube)
    write(tmp_path / "pred" / "b.nii.gz", np.zeros(SHAPE, np.uint8))
    result = evaluate_file(tmp_path / "pred", tmp_path / "gt")
    assert result["n_cases"] == 2
    assert result["volume_dice_c1"] == pytest.approx(0.5)
    assert result["volume_hd95_mm_c1"] == 0.0 and result["n_undefined_volume_hd95_mm_c1"] == 1
    volumes = evaluate_file(tmp_path / "pred")
    assert volumes["n_voxels_c1"] == pytest.approx(64 / 2)  # case b has no class 1: counted as 0
    assert volumes["volume_ml_c1"] == pytest.approx(64 * 2.0 / 1000 / 2)


def test_bad_inputs_name_the_file(tmp_path):
    cube = box(SHAPE, (2, 2, 1), (6, 6, 5)).astype(np.uint8)
    gt = write(tmp_path / "gt.nii.gz", cube)
    wrong_shape = write(tmp_path / "small.nii.gz", cube[:, :, :4])
    with pytest.raises(DataError, match="small.nii.gz: mask shape"):
        evaluate_file(wrong_shape, gt)
    moved = SPACING_AFFINE.copy()
    moved[2, 3] = 7.0
    with pytest.raises(DataError, match="moved.nii.gz: mask affine differs"):
        evaluate_file(write(tmp_path / "moved.nii.gz", cube, moved), gt)
    with pytest.raises(DataError, match="neg.nii.gz: negative label -1"):
        evaluate_file(write(tmp_path / "neg.nii.gz", -cube.astype(np.int16)), gt)
    with pytest.raises(DataError, match="odd.nii.gz: non-integer values outside"):
        evaluate_file(write(tmp_path / "odd.nii.gz", cube * np.float32(1.5)), gt)
    with pytest.raises(DataError, match="4d.nii.gz: expected a 2D or 3D image, found 4D"):
        evaluate_file(write(tmp_path / "4d.nii.gz", np.stack([cube, cube], axis=-1)), gt)
    (tmp_path / "preds").mkdir()
    write(tmp_path / "preds" / "x.nii.gz", cube)
    (tmp_path / "refs").mkdir()
    with pytest.raises(DataError, match=r"refs/x.nii.gz: no such NIfTI file"):
        evaluate_file(tmp_path / "preds", tmp_path / "refs")
    with pytest.raises(DataError, match="empty: folder contains no .nii"):
        (tmp_path / "empty").mkdir()
        evaluate_file(tmp_path / "empty")
    with pytest.raises(ConfigError, match="unknown medseg evaluation options: colour"):
        evaluate_file(gt, colour="red")
